"""Every driver failure path against faults injected into the socket emulator."""

from __future__ import annotations

import os
import select
import signal
import socket
import threading

import pytest

from instruments.commandlog import CommandLog
from instruments.emulator import Emulator
from instruments.errors import (
    InstrumentConnectionError,
    InstrumentReplyError,
    InstrumentTimeout,
    ScpiError,
)
from instruments.profiles import load_profile
from instruments.scpi import ScpiDriver, _socket_of

from .conftest import FAST_TIMEOUT_MS


def pv_driver(emu: Emulator) -> ScpiDriver:
    return ScpiDriver(
        "pv1",
        emu.resources["pv1"],
        load_profile("testbed-pv-inverter"),
        CommandLog(),
        timeout_ms=FAST_TIMEOUT_MS,
    )


def events(driver: ScpiDriver) -> list[str]:
    return [e["text"] for e in driver.log.entries if e["kind"] == "event"]


def test_dropped_connection_is_reconnected(emu: Emulator) -> None:
    d = pv_driver(emu)
    d.act("enable")
    emu.inject("pv1", "drop")
    assert d.read("read_state") is True  # the dropped query is retried on a fresh link
    assert d.reconnects == 1
    assert any("reconnecting" in e for e in events(d))


def test_link_closed_between_exchanges_is_noticed_before_sending(emu: Emulator) -> None:
    d = pv_driver(emu)
    emu.inject("pv1", "drop")
    d._session().write("*OPC")  # the server drops the link on this message
    select.select([_socket_of(d._session())], [], [], 1.0)  # wait until the close arrives
    d.act("enable")
    assert d.read("read_state") is True
    assert "link closed by peer; reconnecting" in events(d)


def test_late_answer_is_discarded_and_the_query_retried(emu: Emulator) -> None:
    d = pv_driver(emu)
    d.act("enable")
    d.set("set_active_power", 1.0)
    emu.advance(10.0)
    emu.inject("pv1", "late", delay_s=FAST_TIMEOUT_MS / 1000 * 1.5)
    assert d.read("read_active_power") == pytest.approx(1.0)
    assert any(e.startswith("timeout on 'MEAS:POW:ACT?'") for e in events(d))
    # the late answer arrives on the old link only; the next exchanges stay in step
    assert d.read("read_state") is True
    assert d.read("read_voltage") > 200


def test_persistent_silence_raises_a_timeout_naming_the_command(emu: Emulator) -> None:
    d = pv_driver(emu)
    emu.inject("pv1", "late", count=10, delay_s=2.0)
    with pytest.raises(InstrumentTimeout, match="no answer to 'MEAS:FREQ\\?' within 200 ms"):
        d.read("read_frequency")


def test_garbage_answer_raises_naming_the_command(emu: Emulator) -> None:
    d = pv_driver(emu)
    emu.inject("pv1", "garbage")
    with pytest.raises(InstrumentReplyError, match="garbage .* to 'MEAS:VOLT\\?'"):
        d.read("read_voltage")
    assert d.read("read_voltage") > 200  # the link is still usable


def test_queued_scpi_error_raises_naming_the_command(emu: Emulator) -> None:
    d = pv_driver(emu)
    emu.inject("pv1", "error")
    with pytest.raises(ScpiError, match="'SOUR:POW:ACT 2000.0' failed: -200,\"Execution error"):
        d.set("set_active_power", 2.0)
    d.set("set_active_power", 2.0)  # the queue was drained


def test_refusal_by_the_device_itself_names_the_command(emu: Emulator) -> None:
    d = pv_driver(emu)
    with pytest.raises(ScpiError, match="'SOUR:POW:ACT 9000.0' failed: -222"):
        d._command(d.profile.op("set_active_power").scpi.format(9000.0))


def test_unknown_query_times_out_then_reports_the_queued_error(emu: Emulator) -> None:
    d = pv_driver(emu)
    with pytest.raises(ScpiError, match="'MEAS:BOGUS\\?' failed: -113"):
        d._exchange("MEAS:BOGUS?", lambda: d._query("MEAS:BOGUS?"))


def test_nobody_listening_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: refused
        with pytest.raises(InstrumentConnectionError, match="cannot connect"):
            ScpiDriver("x", f"TCPIP0::127.0.0.1::{port}::SOCKET", load_profile("testbed-load"))


def test_emulator_gone_mid_run_raises_instead_of_hanging() -> None:
    emu = Emulator(clock="manual").start()
    d = pv_driver(emu)
    d.act("enable")
    emu.stop()
    with pytest.raises((InstrumentTimeout, InstrumentConnectionError)):
        d.read("read_state")


def test_nodelay_is_set_on_the_driver_socket(emu: Emulator) -> None:
    d = pv_driver(emu)
    sock = _socket_of(d._session())
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_interrupted_exchange_does_not_leak_its_answer(emu: Emulator) -> None:
    """Ctrl-C while waiting for an answer: the late answer must not feed the next query."""
    d = ScpiDriver("pv1", emu.resources["pv1"], load_profile("testbed-pv-inverter"), CommandLog())
    emu.inject("pv1", "late", delay_s=0.3)
    timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            d.read("read_voltage")  # its answer arrives at 0.3 s, after the interrupt
    finally:
        timer.cancel()
    # asked before the late answer arrives: a reused link would read that answer instead
    assert d.read("read_state") is False
