"""`testbed bench year` on a few intervals: every figure there, the parts' shares adding up."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_a_few_intervals_give_every_figure_and_the_floor_ratio():
    done = subprocess.run([sys.executable, "-m", "testbed", "bench", "year", "--days", "0.05",
                           "--json"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    r = result["results"]
    assert result["benchmark"] == "year" and r["intervals"] == 4
    assert r["ledger_valid"] == 1 and r["money_conservation_error"] == 0
    assert r["avoidable_violations"] == 0 and r["unavoidable_violations"] >= 0
    assert r["seconds_per_year"] > r["startup_s"] > 0 and r["ledger_bytes_per_day"] > 0
    # the loop scaled to a year, start-up and finish (one summary, one report) counted once
    scale = 366 / r["days"]
    assert r["loop_s"] > 0 and r["finish_s"] > 0 and r["replay_cpu_s_per_year"] > 0
    assert r["loop_cpu_s_per_year"] > 0
    assert r["seconds_per_year"] == pytest.approx(
        r["startup_s"] + r["loop_s"] * scale + r["finish_s"])
    assert "share_report" not in r  # the report is the finish's
    shares = [v for k, v in r.items() if k.startswith("share_")]
    assert shares and abs(sum(shares) - 1) < 1e-6
    assert result["ratios"]["loop_vs_signature_floor"] > 0


def test_days_belong_to_the_benches_that_simulate_days():
    done = subprocess.run([sys.executable, "-m", "testbed", "bench", "kernels", "--days", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "--days: only for testbed bench year and town" in done.stderr


def test_a_year_starts_on_1_january_and_a_few_days_in_summer():
    from datetime import UTC, datetime

    from testbed.benchmarks.year import DAYS_PER_YEAR, scenario_for

    whole = scenario_for(DAYS_PER_YEAR)
    assert whole.time.start == datetime(2016, 1, 1, tzinfo=UTC)
    assert whole.intervals == DAYS_PER_YEAR * 96
    assert scenario_for(3).time.start == datetime(2016, 7, 21, tzinfo=UTC)
    late = scenario_for(200)  # from the default start it would run into 2017
    assert late.start_s + late.intervals * 900 == datetime(2017, 1, 1, tzinfo=UTC).timestamp()


def test_a_private_records_sealing_is_charged_to_sealing_not_to_the_ledger():
    """The sampler walks out from the innermost frame: here, the entropy a sealer draws for a
    new channel, called from `Sealer._open`."""
    from testbed.benchmarks.year import _part
    from testbed.ledger.keys import ViewKey
    from testbed.ledger.sealing import Sealer

    parts = []

    def entropy(label: bytes) -> bytes:
        parts.append(_part(sys._getframe()))
        return bytes(32)

    Sealer(entropy).seal(b"reading", [ViewKey.generate().public], b"info", b"channel", 0)
    assert parts and set(parts) == {"sealing (private records)"}
