"""`testbed bench year` on a few intervals: every figure there, the parts' shares adding up."""

import json
import subprocess
import sys


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
    shares = [v for k, v in r.items() if k.startswith("share_")]
    assert shares and abs(sum(shares) - 1) < 1e-6
    assert result["ratios"]["loop_vs_signature_floor"] > 0


def test_days_belong_to_the_year_bench_only():
    done = subprocess.run([sys.executable, "-m", "testbed", "bench", "kernels", "--days", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "--days: only for testbed bench year" in done.stderr
