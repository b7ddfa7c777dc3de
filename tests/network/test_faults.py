"""Faults on a real network (server and node processes on loopback): a validator killed, a
NATS server killed, a node paused, a lying validator, a transaction sent to two nodes. After
each the chain has gone on, every node ends on the same head and every store verifies."""

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from testbed.ledger.keys import DEV_PASSPHRASE, KeyPair
from testbed.network import local, processes
from testbed.network.config import load_config

LIAR = Path(__file__).with_name("liar.py")


def test_the_market_commits_on_every_node(healthy):
    healthy.trade(3)
    rows = healthy.converged()
    assert {r["lag"] for r in rows} == {0}
    healthy.stores_verify()  # each re-executes the private market to the same state root


def test_a_killed_validator_catches_up(healthy):
    healthy.trade(1)
    os.kill(healthy.pid("validator-2"), signal.SIGKILL)
    healthy.trade(4)  # three of four are a quorum: the chain goes on
    healthy.converged([n for n in healthy.nodes if n != "validator-2"])
    local.up(healthy.folder)  # restarts what is down
    healthy.converged()
    healthy.stores_verify()


def test_a_killed_nats_server_loses_nothing(healthy):
    healthy.trade(1)
    before = healthy.head
    os.kill(healthy.pid("s1"), signal.SIGKILL)
    healthy.trade(4)  # two of three servers keep the stream
    assert healthy.head.height > before.height
    healthy.converged()
    local.up(healthy.folder)
    healthy.trade(1)
    healthy.converged()
    healthy.stores_verify()


def test_a_paused_node_catches_up_without_a_fork(healthy):
    """Its turns come while it is paused: the others pass each on after a silent round and
    fill those heights themselves. (A validator may vote in the next round before its own
    clock has passed the turn on, so not every one of them need log it.)"""
    healthy.trade(1)
    pid = healthy.pid("validator-1")
    others = [healthy.folder / "logs" / f"validator-{i}.log" for i in (0, 2, 3)]
    logs = {log: log.stat().st_size for log in others}  # what they logged before the pause
    os.kill(pid, signal.SIGSTOP)
    try:
        start = healthy.head.height
        healthy.trade(5, via="validator-0")
        assert healthy.head.height >= start + 5
        assert any(b"(turn passed on)" in log.read_bytes()[size:] for log, size in logs.items())
    finally:
        os.kill(pid, signal.SIGCONT)
    healthy.converged()
    paused = validator_key(healthy, "validator-1")
    # a height's first proposer: the genesis validators in byte order, in turn (consensus)
    validators = sorted(healthy.network.genesis.transactions[0].body.validators)
    turns = {h.height: h.proposer for h in (c.block.header
                                            for c in healthy.stored("validator-0", start))
             if h.height <= start + 5 and validators[h.height % len(validators)] == paused}
    assert turns and paused not in turns.values()  # its turns, filled by the others
    healthy.stores_verify()


def validator_key(market, name: str) -> bytes:
    node = next(n for n in market.network.nodes if n.name == name)
    return KeyPair.load(load_config(Path(node.config)).key, DEV_PASSPHRASE).public


def test_the_same_transaction_to_two_nodes_commits_once(healthy):
    healthy.trade(2, via=("validator-0", "validator-3"))  # each tick to both, back to back
    healthy.converged()
    assert healthy.duplicated_txids("validator-1") == 0


@pytest.mark.slow
def test_a_lying_validator_commits_nothing(healthy):
    liar = next(n for n in healthy.network.nodes if n.name == "validator-3")
    processes.stop([(liar.pid, liar.config)])
    pid = processes.spawn([sys.executable, str(LIAR), liar.config],
                          healthy.folder / "logs" / "liar.log")
    try:
        deadline = time.monotonic() + 60
        while "at height" not in (healthy.folder / "logs" / "liar.log").read_text():
            assert time.monotonic() < deadline and processes.alive(pid), "the liar did not start"
            time.sleep(0.2)
        healthy.trade(12)  # the liar's turn comes every fourth height at least
        honest = ["validator-0", "validator-1", "validator-2"]
        healthy.converged(honest)
    finally:
        processes.stop([(pid, str(LIAR))])
    lies = (healthy.folder / "logs" / "liar.log").read_text()
    assert all(f"liar: proposed {lie}" in lies for lie in ("wrong state root",
               "forged transaction", "double spend")), lies[-2000:]
    honest_logs = "".join((healthy.folder / "logs" / f"{n}.log").read_text() for n in honest)
    assert "no vote for block" in honest_logs  # its invalid blocks were refused
    assert "certificate vote" in honest_logs  # and its forged stream entries skipped
    local.up(healthy.folder)  # the honest validator-3 again, on the store the liar left
    healthy.converged()
    healthy.stores_verify()  # every block committed is valid and certified, on every node


@pytest.mark.parametrize("command", [["status"], ["status", "--json"]])
def test_network_status_from_the_command_line(healthy, command):
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-m", "testbed", "network", *command,
                           str(healthy.folder)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    if "--json" in command:
        rows = json.loads(done.stdout)
        assert [r["node"] for r in rows] == healthy.nodes and all(r["pid"] for r in rows)
    else:
        assert "validator-3" in done.stdout and "lag" in done.stdout
