"""A home with its own agent process (`testbed agent run`) trades through a simulated hour on a
local 4-validator network, as a user does it: the home makes its keys under its own passphrase,
the operator admits its request, the run knows only its public keys. Its sealed orders are
cleared and settled, and no file of the run holds any private key of the home."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from testbed.ledger.keys import KeyPair, ViewKey
from testbed.network import local

pytestmark = pytest.mark.slow

HOME_SECRET = "the home's own passphrase"
SCENARIO = """
name = "external-agent-hour"

[grid]
feeder = "1-LV-semiurb4--0-sw"
phases = "balanced"

[time]
start = "2016-07-21T10:00:00Z"
duration_hours = 1.0

[market]
privacy = "private"

[households]
seed = 2016

[[households.home]]
name = "home-07"
pv_kwp = 9.0
agent = "external"
keys = "home-07"

[ledger]
network = "net"
"""


def cli(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "testbed", *args], capture_output=True,
                          text=True, timeout=600, check=False, cwd=cwd, env=env)


def test_an_external_agent_trades_on_the_network_without_the_run_seeing_its_key(tmp_path):
    operator = {k: v for k, v in os.environ.items() if k != "TESTBED_PASSPHRASE"}
    home = {**operator, "TESTBED_PASSPHRASE": HOME_SECRET}
    (tmp_path / "s.toml").write_text(SCENARIO)
    assert cli("agent", "keys", "home-07", cwd=tmp_path, env=home).returncode == 0
    (tmp_path / "agent.py").write_text(
        cli("agent", "example", cwd=tmp_path, env=home).stdout)
    agent = None
    try:
        for args in (("network", "up", "net", "--scenario", "s.toml"),
                     ("network", "admit", "net", "--request", "home-07/tls.csr")):
            done = cli(*args, cwd=tmp_path, env=operator)
            assert done.returncode == 0, done.stderr[-2000:]
        agent = subprocess.Popen(
            [sys.executable, "-m", "testbed", "agent", "run", "agent.py", "--network", "net",
             "--home", "home-07"], cwd=tmp_path, env=home, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        run = cli("simulate", "s.toml", "--out", "run", cwd=tmp_path, env=operator)
        assert run.returncode == 0, run.stderr[-3000:]
        agent.send_signal(signal.SIGTERM)
        said, told = agent.communicate(timeout=30)
        assert agent.returncode == 0, told[-2000:]
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(10)
        if (tmp_path / "net" / local.MANIFEST).exists():
            local.down(tmp_path / "net")
    out = tmp_path / "run"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ledger_valid"] is True and summary["money_conservation_error"] == 0
    # the agent's own account of it: sealed orders sent, revealed, traded, stopped cleanly
    assert said.startswith("home-07: ") and "ended: SIGTERM" in said, said
    assert "0 orders" not in said and " 0 trades" not in said, said
    # cleared and settled: its trades with what its meter delivered
    with (out / "trades.csv").open() as f:
        mine = [r for r in csv.DictReader(f) if "home-07" in (r["seller"], r["buyer"])]
    assert mine and all(r["delivered_kwh"] != "" for r in mine)
    # the first intervals it had no reading to go on: no order, recorded with the reason
    alarms = (out / "alarms.csv").read_text()
    assert "no order of the external agent committed" in alarms
    # none of the home's private keys in any file the run wrote, in any form
    folder = tmp_path / "home-07"
    account = KeyPair.load(folder / "account.key", HOME_SECRET).secret_seed()
    view = ViewKey.load(folder / "view.key", HOME_SECRET).private.private_bytes_raw()
    secrets = [account, view, account.hex().encode(), view.hex().encode(),
               *((folder / name).read_bytes().strip() for name in
                 ("account.key", "view.key", "tls.key"))]
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written
    for path in written:
        data = path.read_bytes()
        assert not any(s in data for s in secrets), f"{path} holds a key of the home"
