"""Faults during real runs on a network of 4 validators and 3 NATS servers (`nemesis`): a
simulated half day with a validator killed, another paused and a server killed at random
moments; more validators down than the network tolerates, coming back in time or not; and a
paced run on the emulated bench, on a cold machine (an empty Numba cache), losing a validator.

Each run is the command a user types, in its own process; the network is started by the test
(so that it outlives the run and every node can be checked against the run's head after it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

from testbed.ledger.keys import DEV_PASSPHRASE, ViewKey
from testbed.market.verify import verify_ledger
from testbed.network import local, processes
from testbed.run.compose import market_params
from testbed.scenario import load_scenario

from .nemesis import Nemesis, schedule, seed

pytestmark = pytest.mark.slow  # 20 s or more: the quick lane skips it

VALIDATORS = [f"validator-{i}" for i in range(4)]
SERVERS = ["s0", "s1", "s2"]
RUN_TIMEOUT_S = 600
COLD_COMPILE_S = 480  # compiling every kernel once takes 1.5 min of a quiet core


@pytest.fixture
def network(tmp_path):
    """A network for the default scenario's market, started; stopped after the test."""
    folder = tmp_path / "net"
    local.create(folder, 4, 3, params=market_params(load_scenario(None)))
    try:
        local.up(folder)
        yield folder
    finally:
        local.down(folder)


def start(command: str, *args: str, cwd: Path, env: dict[str, str] | None = None
          ) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "testbed", command, *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def committing(out: Path, run: subprocess.Popen, rows: int = 3, timeout_s: float = 300
               ) -> None:
    """Until the run has committed ``rows`` blocks (its first interval's orders and clearing
    after the homes joined, by default): blocks.csv has that many rows."""
    deadline = time.monotonic() + timeout_s
    blocks = out / "blocks.csv"
    while not (blocks.exists() and len(blocks.read_text().splitlines()) > rows):
        assert run.poll() is None, run.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "the run did not start committing"
        time.sleep(0.1)


def finished(run: subprocess.Popen) -> tuple[int, str]:
    _, stderr = run.communicate(timeout=RUN_TIMEOUT_S)
    return run.returncode, stderr


def every_node_on(folder: Path, head_hash: str, timeout_s: float = 60) -> None:
    """Every node answers with ``head_hash`` as its head, and its store verifies to it."""
    deadline = time.monotonic() + timeout_s
    while {r["head"] for r in local.status(folder)} != {head_hash}:
        assert time.monotonic() < deadline, local.render_status(local.status(folder))
        time.sleep(0.2)
    view = ViewKey.load(folder / "keys" / local.VALIDATORS_VIEW, DEV_PASSPHRASE)
    for node in local.load(folder).nodes:
        report = verify_ledger(Path(node.store), [view]).expecting_head(head_hash)
        assert report.ok and not report.unchecked, f"{node.name}: {report.line()}"


def kill(folder: Path, *names: str) -> None:
    network = local.load(folder)
    for entry in (*network.nodes, *network.servers):
        if entry.name in names:
            assert processes.alive(entry.pid, entry.config), f"{entry.name} is not running"
            os.kill(entry.pid, signal.SIGKILL)


def scenario_with(tmp_path: Path, **ledger: float) -> Path:
    """The default scenario with ``ledger`` keys changed, as a file."""
    text = resources.files("testbed.scenario").joinpath("default.toml").read_text()
    for key, value in ledger.items():
        assert f"\n{key} = " in text, key
        text = "\n".join(f"{key} = {value}" if line.startswith(f"{key} =") else line
                         for line in text.splitlines())
    path = tmp_path / "scenario.toml"
    path.write_text(text + "\n")
    return path


def test_a_half_day_survives_a_nemesis(network, tmp_path):
    """48 intervals, while a validator is killed and restarted, another paused for 10 s and
    a server killed and restarted, at random moments: the run finishes, its ledger verifies
    with the money conserved, and every node ends on its head."""
    chosen = seed()
    faults = schedule(random.Random(chosen), VALIDATORS, SERVERS, window_s=20)
    print(f"nemesis seed {chosen} (replay: TESTBED_NEMESIS_SEED={chosen}):",
          "; ".join(map(str, faults)))
    out = tmp_path / "run"
    run = start("simulate", "--days", "0.5", "--network", str(network), "--out", str(out),
                cwd=tmp_path)
    try:
        committing(out, run)
        nemesis = Nemesis(network, faults)
        nemesis.start()
        code, stderr = finished(run)
        nemesis.done(timeout_s=120)
    finally:
        run.kill()
    assert code == 0, f"seed {chosen}, {nemesis.log}: {stderr[-2000:]}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intervals"] == 48 and summary["ledger_valid"] is True
    assert summary["money_conservation_error"] == 0
    every_node_on(network, summary["head_hash"])


def test_two_validators_down_stall_the_run_until_back_and_stop_it_at_the_deadline(
        network, tmp_path):
    """Two of four down: no quorum, no block. Back within the commit deadline, the run goes
    on; down past it, the run stops with one line naming them (exit 69, not a user error),
    its records and summary written, its ledger valid up to the network's last block."""
    out = tmp_path / "run"
    # 30 s: two validators restarted after 16 rounds without a quorum took more than the 10 s
    # a 15 s deadline left them to meet again and commit, in a fresh clone's make test
    scenario = scenario_with(tmp_path, commit_deadline_s=30.0)
    run = start("simulate", str(scenario), "--days", "0.25", "--network", str(network),
                "--out", str(out), cwd=tmp_path)
    try:
        committing(out, run)
        kill(network, "validator-1", "validator-2")
        time.sleep(5)  # an outage shorter than the deadline
        local.up(network)
        committing(out, run, rows=20)  # going on: 16 blocks more than before
        kill(network, "validator-1", "validator-2")  # and now for good
        code, stderr = finished(run)
    finally:
        run.kill()
    assert code == 69, stderr[-2000:]
    line = stderr.strip().splitlines()[-1]
    assert "validator-1, validator-2 did not answer" in line and "quorum needs 3" in line
    assert "Traceback" not in stderr and "partial run in" in line
    summary = json.loads((out / "summary.json").read_text())
    assert "did not commit" in summary["stopped"] and summary["ledger_valid"] is True
    assert summary["blocks"] > 20
    verified = subprocess.run([sys.executable, "-m", "testbed", "verify",
                               str(out / "ledger.sqlite"), "--head", summary["head_hash"]],
                              capture_output=True, text=True, check=False, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_paced_run_on_a_cold_machine_keeps_its_pace_while_a_validator_is_down(tmp_path):
    """`testbed run` on the emulated bench with an empty Numba cache (every kernel compiled
    by the run before its clock starts, once, and loaded by the nodes), a validator killed a
    second into the paced part: the run finishes with its bench never tripped."""
    out, net = tmp_path / "run", tmp_path / "net"
    cold = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    run = start("run", "--days", str(8 / 96), "--rtf", "600", "--control-step", "0.1",
                "--network", str(net), "--out", str(out), cwd=tmp_path, env=cold)
    try:
        committing(out, run, timeout_s=COLD_COMPILE_S)
        time.sleep(1.0)
        assert run.poll() is None, run.communicate()[1][-2000:]
        kill(net, "validator-3")
        code, stderr = finished(run)
    finally:
        run.kill()
        if (net / local.MANIFEST).exists():
            local.down(net)
    assert code == 0, stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] is None and summary["ledger_valid"] is True
    assert summary["control_steps"] >= 8 * 15 + 1  # every step of the schedule was taken
    assert any((tmp_path / "numba-cache").rglob("*.nbi")), "the kernels were not cached"
    print("paced with a validator down: step jitter p99", summary["step_jitter_p99_ms"],
          "ms, deadline misses", summary["deadline_misses"])
