"""`testbed bench privacy --quick`: both markets run, verify and conserve money; the ratio."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_an_hour_of_each_market_gives_every_figure_and_the_ratio():
    done = subprocess.run([sys.executable, "-m", "testbed", "bench", "privacy", "--quick",
                           "--json"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    r = result["results"]
    assert result["benchmark"] == "privacy" and r["hours"] == 1 and r["repeats"] == 1
    assert r["public_s"] > 0 and r["private_s"] > 0
    assert r["private_ledger_bytes"] > r["public_ledger_bytes"] > 0  # commitments, sealing
    for privacy in ("private", "public"):  # packed blocks: the file is the smaller
        assert 0 < r[f"{privacy}_ledger_file_bytes"] < r[f"{privacy}_ledger_bytes"]
    assert r["private_blocks"] == r["public_blocks"]  # reveals ride in the clearing
    assert result["ratios"]["private_vs_public"] > 0
