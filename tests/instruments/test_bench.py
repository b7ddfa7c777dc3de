"""Bench: opening behind the safety layer, watchdog, safe state on trip/exception/signal/exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from instruments import open_bench
from instruments.emulator import Emulator
from instruments.errors import BenchTripped, ProfileError, ProfileMismatch
from instruments.safety import Watchdog

from .conftest import toml_bench


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def start_export(bench, emu: Emulator) -> None:
    bench["grid1"].enable()
    bench["pv1"].enable()
    emu.advance(2.0)
    bench["pv1"].set_active_power(2.0)
    emu.advance(2.0)
    assert emu.devices["pv1"].p > 0


def is_safe(emu: Emulator) -> bool:
    """Every device in its safe state: output off and set points zero (`assert_safe`'s terms)."""
    pv, load, grid = emu.devices["pv1"], emu.devices["load1"], emu.devices["grid1"]
    return not (pv.enabled or pv.p_set or load.enabled or load.p_set or grid.enabled)


def assert_safe(emu: Emulator) -> None:
    pv, load, grid = emu.devices["pv1"], emu.devices["load1"], emu.devices["grid1"]
    assert not pv.enabled and pv.p_set == 0.0
    assert not load.enabled and load.p_set == 0.0
    assert not grid.enabled


# -- watchdog -----------------------------------------------------------------------------


def test_watchdog_counts_consecutive_misses_and_trips_once() -> None:
    trips: list[str] = []
    clock = FakeClock()
    dog = Watchdog(trips.append, deadline_s=0.1, max_misses=3, clock=clock)
    dog._thread = threading.current_thread()  # no background thread: drive check() by hand
    assert not dog.check()  # not armed before the first kick
    dog.kick()
    for _ in range(10):  # on time: never trips
        clock.t += 0.09
        dog.kick()
        assert not dog.check()
    clock.t += 0.25  # two deadlines missed, then a late kick
    dog.kick()
    assert dog.misses == 2 and dog.total_misses == 2
    clock.t += 0.05
    dog.kick()  # in time: the count clears
    assert dog.misses == 0
    clock.t += 0.15
    dog.kick()  # one late step
    clock.t += 0.21  # two more deadlines pass without a kick: three in a row
    assert dog.check()
    assert len(trips) == 1 and "3 consecutive deadlines" in trips[0]
    assert not dog.check()


def test_watchdog_thread_trips_the_bench_when_the_loop_stalls(emu: Emulator) -> None:
    config = emu.bench_config()
    config["bench"] = {"watchdog_deadline_s": 0.05, "watchdog_max_misses": 2}
    with open_bench(config, clock=emu.now, handle_signals=False) as bench:
        start_export(bench, emu)
        for _ in range(3):
            bench.watchdog.kick()
            time.sleep(0.01)
        deadline = time.monotonic() + 2.0  # the loop "hangs"; the watchdog's thread latches
        # the bench, then makes each device safe: output off, then set point zero (a wait that
        # ended at the last output off could check a set point still being written)
        while time.monotonic() < deadline and (bench.tripped is None or not is_safe(emu)):
            time.sleep(0.01)
        assert bench.tripped is not None and bench.tripped.startswith("watchdog")
        assert_safe(emu)
        with pytest.raises(BenchTripped):
            bench["pv1"].set_active_power(1.0)
        bench.reset()
        bench["pv1"].enable()
    assert_safe(emu)  # and closing leaves it safe again


# -- bench --------------------------------------------------------------------------------


def test_open_checks_identity_and_starts_safe(emu: Emulator) -> None:
    emu.devices["load1"].p_set = 2.0
    config = emu.bench_config()
    with open_bench(config, clock=emu.now, handle_signals=False) as bench:
        assert_safe(emu)
        assert {d.role for d in bench.by_role("meter")} == {"meter"}
    config["device"][1]["profile"] = "testbed-pv-inverter"
    config["device"][1]["resource"] = emu.resources["load1"]
    with pytest.raises(ProfileMismatch, match="identifies as 'TESTBED,LOAD-3K"):
        open_bench(config, handle_signals=False)


def test_escaping_exception_puts_the_bench_safe(emu: Emulator) -> None:
    config = emu.bench_config()
    with pytest.raises(ZeroDivisionError), open_bench(config, clock=emu.now) as bench:
        start_export(bench, emu)
        1 / 0  # noqa: B018
    assert_safe(emu)
    assert bench.tripped.startswith("exception: ZeroDivisionError")


@pytest.mark.parametrize(
    ("sig", "raised"), [(signal.SIGTERM, SystemExit), (signal.SIGINT, KeyboardInterrupt)]
)
def test_signal_puts_the_bench_safe(emu: Emulator, sig: int, raised: type) -> None:
    with pytest.raises(raised), open_bench(emu.bench_config(), clock=emu.now) as bench:
        start_export(bench, emu)
        os.kill(os.getpid(), sig)
        time.sleep(1.0)  # the handler runs before this returns
    assert_safe(emu)
    assert signal.getsignal(signal.SIGTERM) is not bench._on_signal  # handlers restored


def test_command_log_file_has_monotonic_stamps(emu: Emulator, tmp_path) -> None:
    path = tmp_path / "run" / "instrument-commands.jsonl"
    with open_bench(emu.bench_config(), log=path, clock=emu.now, handle_signals=False) as bench:
        start_export(bench, emu)
        bench["meter1"].read()
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    stamps = [e["t"] for e in entries]
    assert stamps == sorted(stamps)
    kinds = {e["kind"] for e in entries}
    assert kinds == {"write", "query", "reply", "event"}
    assert any(e["text"] == "MEAS:ENER:EXP?" for e in entries)


def test_bench_file_errors_are_one_line(emu: Emulator, tmp_path) -> None:
    config = emu.bench_config()
    config["device"][1]["role"] = "meter"
    with pytest.raises(
        ProfileError, match="is a meter but profile 'testbed-pv-inverter' is a inverter"
    ):
        open_bench(config, handle_signals=False)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[device]]\nname = 'x'\n")
    with pytest.raises(ProfileError, match="missing \\['profile', 'resource', 'role'\\]"):
        open_bench(bad, handle_signals=False)


AT_EXIT_SCRIPT = """
import os, signal, sys, time
from instruments import open_bench
bench = open_bench(sys.argv[1])
bench["grid1"].enable()
bench["pv1"].enable()
time.sleep(0.3)
bench["pv1"].set_active_power(0.5)
print("exporting", flush=True)
sys.stdin.readline()  # the test has seen the export
if sys.argv[2] == "exit":
    sys.exit(0)  # no close(): atexit must make it safe
time.sleep(30)
"""


@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_process_end_puts_the_bench_safe(tmp_path, how: str) -> None:
    with Emulator() as emu:  # wall clock: the subprocess ramps in real time
        bench_file = tmp_path / "bench.toml"
        bench_file.write_text(toml_bench(emu.bench_config()))
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(AT_EXIT_SCRIPT), str(bench_file), how],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout.readline().strip() == "exporting"
            assert emu.devices["pv1"].p_set > 0
            if how == "sigterm":
                proc.send_signal(signal.SIGTERM)
            else:
                proc.stdin.write("\n")
                proc.stdin.flush()
            code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert code == (0 if how == "exit" else 128 + signal.SIGTERM)
        assert_safe(emu)
