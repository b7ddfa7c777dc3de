"""The emulated bench in a process of its own: the same devices over the same loopback sockets,
its clock and faults moved over the control endpoint, and no child left behind however its
parent ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import pyvisa

from instruments.emulator.process import EmulatorProcess
from instruments.errors import InstrumentError

EXIT_BOUND_S = 10.0  # from the parent's end to the child's, on a busy machine


def session(rm: pyvisa.ResourceManager, resource: str) -> pyvisa.resources.MessageBasedResource:
    return rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=2000)


def gone(pid: int, bound_s: float) -> bool:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_its_devices_answer_and_its_clock_moves_their_physics(rm: pyvisa.ResourceManager
                                                               ) -> None:
    with EmulatorProcess(clock="manual") as emu:
        meter = session(rm, emu.resources["meter1"])
        assert meter.query("*IDN?").startswith("TESTBED,")
        load = session(rm, emu.resources["load1"])
        load.write("SOUR:POW 2.0")
        load.write("OUTP ON")
        before = float(meter.query("MEAS:ENER:IMP?"))
        emu.set_time(emu.now() + 3600.0)  # an hour at 2 kW, returned once the physics is there
        assert float(meter.query("MEAS:ENER:IMP?")) - before == pytest.approx(2.0, rel=0.2)
        assert emu.now() == pytest.approx(3600.0)
        emu.inject("meter1", "garbage")
        with pytest.raises(UnicodeDecodeError):
            meter.query("MEAS:VOLT?")
        child = emu._child
    assert child is not None and child.returncode == 0


def test_a_refused_control_command_is_an_error_naming_it() -> None:
    with EmulatorProcess(clock="manual") as emu:
        with pytest.raises(InstrumentError, match=r"refused 'SIM:FAULT nope,drop"):
            emu.inject("nope", "drop")
        with pytest.raises(InstrumentError, match="refused 'SIM:TIME nan'"):
            emu.set_time(float("nan"))


def test_a_child_that_cannot_start_says_why() -> None:
    emu = EmulatorProcess({"device": [{"name": "pv", "profile": "testbed-pv-inverter",
                                       "pv": "simbench:NOPE"}]}).start()
    with pytest.raises(InstrumentError, match="ended at start: .*no RES profile 'NOPE'"):
        emu.resources  # noqa: B018 (the first use waits for the child)
    emu.stop()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_no_child_outlives_its_parent(how: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ("import time\n"
         "from instruments.emulator.process import EmulatorProcess\n"
         "emu = EmulatorProcess().start(); emu.resources\n"
         "print(emu._child.pid, flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        parent.send_signal(how)
        parent.wait(EXIT_BOUND_S)
        assert gone(child, EXIT_BOUND_S), f"emulator {child} outlived its parent"
    finally:
        parent.kill()
        parent.wait()


def test_a_terminal_interrupt_leaves_the_child_to_its_parent() -> None:
    """Ctrl-C reaches the terminal's foreground process group: the run, interrupted, must
    still reach its devices to put them in their safe state, so the child is not in it."""
    parent = subprocess.Popen(
        [sys.executable, "-c", ("import time\n"
         "from instruments.emulator.process import EmulatorProcess\n"
         "with EmulatorProcess(clock='manual') as emu:\n"
         "    emu.resources\n"
         "    try:\n"
         "        print('ready', flush=True); time.sleep(600)\n"
         "    except KeyboardInterrupt:\n"
         "        emu.set_time(60.0); print('served after the interrupt', flush=True)\n")],
        stdout=subprocess.PIPE, text=True, start_new_session=True)  # a terminal's group
    try:
        assert parent.stdout.readline() == "ready\n"
        os.killpg(parent.pid, signal.SIGINT)  # as the terminal does on Ctrl-C
        out, _ = parent.communicate(timeout=EXIT_BOUND_S)
        assert out == "served after the interrupt\n" and parent.returncode == 0
    finally:
        parent.kill()
        parent.wait()


def test_a_manual_clock_is_read_without_a_round_trip() -> None:
    """The safe state reads the ramps' clock, and a signal handler runs the safe state in the
    middle of whatever the loop was doing, an exchange on the control link included (a run
    once hung there, the handler waiting for the link its own thread held). So a manual
    clock's time is known here: even a child that answers nothing does not delay it."""
    with EmulatorProcess(clock="manual") as emu:
        emu.set_time(120.0)
        os.kill(emu._child.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert emu.now() == 120.0
            assert time.monotonic() - started < 0.1
        finally:
            os.kill(emu._child.pid, signal.SIGCONT)
        emu.advance(30.0)
        assert emu.now() == 150.0


def test_an_exchange_cut_short_leaves_no_answer_behind() -> None:
    """An interrupt during an exchange drops the link, so the next exchange never reads the
    answer meant for the one before."""
    with EmulatorProcess(clock="wall") as emu:
        os.kill(emu._child.pid, signal.SIGSTOP)  # the answer to come is late
        signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        try:
            with pytest.raises(KeyboardInterrupt):
                emu.inject("meter1", "drop")  # its answer "0,..." would be read as a time
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            os.kill(emu._child.pid, signal.SIGCONT)
        assert emu.now() >= 0.0  # a time, not the fault's "0,No error"
