"""`testbed simulate --network DIR` as a user runs it: the run creates a 4-validator network in
DIR, trades on it, verifies its replica and stops the network it started."""

import json
import subprocess
import sys

import pytest

from testbed.ledger.keys import DEV_PASSPHRASE, ViewKey
from testbed.market.verify import verify_ledger
from testbed.network import local, processes


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "testbed", *args], capture_output=True,
                          text=True, timeout=600, check=False, cwd=cwd)


@pytest.mark.slow
def test_a_simulation_on_its_own_network(tmp_path):
    net, out = tmp_path / "net", tmp_path / "run"
    try:
        # relative paths, as make run gives them
        done = cli("simulate", "--days", str(3 / 96), "--network", "net", "--out", "run",
                   cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["validators"] == 4 and summary["ledger_valid"] is True
        assert summary["money_conservation_error"] == 0 and summary["intervals"] == 3
        assert 0 < summary["commit_latency_p50_ms"] <= summary["commit_latency_p99_ms"]
        network = local.load(net)
        assert not any(processes.alive(e.pid, e.config)
                       for e in (*network.nodes, *network.servers))  # stopped: it started it
        auditor = ViewKey.load(out / "auditor.view", DEV_PASSPHRASE)  # the run's auditor
        replica = verify_ledger(out / "ledger.sqlite", [auditor])
        validators = ViewKey.load(net / "keys" / "validators.view", DEV_PASSPHRASE)
        node = verify_ledger(net / "nodes" / "validator-2.sqlite", [validators])
        assert replica.ok and node.ok and node.state_root == replica.state_root
        assert not replica.unchecked and not node.unchecked  # the contract re-executed
        logged = {log: log.stat().st_size for log in (net / "logs").iterdir()}
        again = cli("simulate", "--days", str(1 / 96), "--network", str(net), "--out",
                    str(tmp_path / "again"), cwd=tmp_path)
        assert again.returncode == 2 and "not new" in again.stderr  # homes already joined
        # said from the stopped network's stores, before starting any of its processes
        assert {log: log.stat().st_size for log in (net / "logs").iterdir()} == logged
    finally:
        if (net / local.MANIFEST).exists():
            local.down(net)
