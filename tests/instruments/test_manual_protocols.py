"""The real instruments' profiles, checked against their programming manuals, not against our
emulator: each test is the exchange the manual prescribes, as (command, reply) pairs written out
here by hand (PyMeasure's ``expected_protocol`` style), played by a loopback peer that fails on
the first command the manual would not expect. Which commands a source confirms, and which it
does not, is recorded in each profile's header."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from instruments.commandlog import CommandLog
from instruments.errors import InstrumentReplyError
from instruments.profiles import load_profile, profile_names
from instruments.scpi import ScpiDriver

Pairs = Sequence[tuple[str, str | None]]
NO_ERROR = '0,"No error"'


class ExpectedProtocol:
    """A loopback peer that answers the expected pairs in order and records any deviation."""

    def __init__(self, pairs: Pairs) -> None:
        self.pairs = list(pairs)
        self.problems: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(5)
        self.resource = f"TCPIP0::127.0.0.1::{self._listener.getsockname()[1]}::SOCKET"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError as exc:
            self.problems.append(f"no connection: {exc}")
            return
        conn.settimeout(5)
        buffer = b""
        with conn:
            while self.pairs:
                while b"\n" not in buffer:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.problems.append(f"closed; still expected {self.pairs}")
                        return
                    buffer += data
                line, buffer = buffer.split(b"\n", 1)
                command, reply = self.pairs.pop(0)
                if line.decode() != command:
                    self.problems.append(f"sent {line.decode()!r}, manual expects {command!r}")
                    return
                if reply is not None:
                    conn.sendall(reply.encode() + b"\n")

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=5)


@contextmanager
def expected_protocol(profile: str, pairs: Pairs) -> Iterator[ScpiDriver]:
    peer = ExpectedProtocol(pairs)
    driver = ScpiDriver(profile, peer.resource, load_profile(profile), CommandLog())
    try:
        yield driver
    finally:
        driver.close()
        peer.close()
    assert not peer.problems, peer.problems
    assert not peer.pairs, f"the manual's exchange did not finish: {peer.pairs}"


def checked(command: str, error_query: str) -> list[tuple[str, str | None]]:
    """A command followed by the error-queue read that reports success."""
    return [(command, None), (error_query, NO_ERROR)]


# -- Yokogawa WT300E (IM WT310E-17EN) ---------------------------------------------------------

WT_ERR = ":STAT:ERR?"
WT_SETUP = [
    *checked(":COMM:HEAD OFF", WT_ERR),
    *checked(":NUM:FORM ASC", WT_ERR),
    *checked(":NUM:NORM:NUM 8", WT_ERR),
    *checked(":NUM:NORM:ITEM1 U,1", WT_ERR),
    *checked(":NUM:NORM:ITEM2 I,1", WT_ERR),
    *checked(":NUM:NORM:ITEM3 P,1", WT_ERR),
    *checked(":NUM:NORM:ITEM4 Q,1", WT_ERR),
    *checked(":NUM:NORM:ITEM5 FU,1", WT_ERR),
    *checked(":NUM:NORM:ITEM6 WHP,1", WT_ERR),
    *checked(":NUM:NORM:ITEM7 WHM,1", WT_ERR),
    *checked(":INTEG:MODE NORM", WT_ERR),
]


def test_wt300e_reads_its_numeric_items_as_the_manual_lays_them_out() -> None:
    pairs = [
        *WT_SETUP,
        ("*IDN?", "YOKOGAWA,WT310E,C2XA12345V,F1.03"),
        (":NUM:NORM:VAL? 1", "229.87E+00"),
        (":NUM:NORM:VAL? 2", "4.3210E+00"),
        (":NUM:NORM:VAL? 3", "-0.9876E+03"),
        (":NUM:NORM:VAL? 5", "50.002E+00"),
        (":NUM:NORM:VAL? 6", "12.3456E+03"),
        (":NUM:NORM:VAL? 7", "-1.23456E+03"),
    ]
    with expected_protocol("yokogawa-wt300e", pairs) as wt:
        assert wt.identity().serial == "C2XA12345V"
        assert wt.read("read_voltage") == pytest.approx(229.87)
        assert wt.read("read_current") == pytest.approx(4.321)
        assert wt.read("read_active_power") == pytest.approx(-0.9876)  # kW
        assert wt.read("read_frequency") == pytest.approx(50.002)
        assert wt.read("read_energy_import") == pytest.approx(12.3456)  # kWh
        assert wt.read("read_energy_export") == pytest.approx(1.23456)  # WP- is negative


def test_wt300e_integration_commands_and_no_data() -> None:
    pairs = [
        *WT_SETUP,
        *checked(":INTEG:RES", WT_ERR),
        *checked(":INTEG:STAR", WT_ERR),
        *checked(":INTEG:STOP", WT_ERR),
        (":NUM:NORM:VAL? 4", "9.91E+37"),  # the manual's "no data" value
    ]
    with expected_protocol("yokogawa-wt300e", pairs) as wt:
        wt.act("reset_integration")
        wt.act("start_integration")
        wt.act("stop_integration")
        with pytest.raises(InstrumentReplyError, match="no valid data"):
            wt.read("read_reactive_power")


# -- Chroma 61800 (Chroma AC source SCPI tree, 61500/61600 manuals) ---------------------------

CH_ERR = "SYST:ERR?"
CH_SETUP = checked("INST:COUP ALL", CH_ERR)


def test_chroma_61800_sets_and_measures_as_the_manual_says() -> None:
    pairs = [
        *CH_SETUP,
        ("*IDN?", "Chroma ATE,61815,618150000123,1.00,1.01,1.02"),
        *checked("SOUR:VOLT:AC 230.00", CH_ERR),
        *checked("SOUR:FREQ 50.000", CH_ERR),
        *checked("OUTP ON", CH_ERR),
        ("MEAS:VOLT:ACDC?", "230.04"),
        ("MEAS:FREQ?", "49.99"),
        ("MEAS:POW:AC?", "-1523.7"),
        ("OUTP?", "ON"),
        *checked("OUTP OFF", CH_ERR),
    ]
    with expected_protocol("chroma-61800", pairs) as chroma:
        identity = chroma.identity()
        assert chroma.profile.idn_matches(identity.line())
        assert identity.firmware == "1.00,1.01,1.02"
        chroma.set("set_voltage", 230.0)
        chroma.set("set_frequency", 50.0)
        chroma.act("enable")
        assert chroma.read("read_voltage") == pytest.approx(230.04)
        assert chroma.read("read_frequency") == pytest.approx(49.99)
        assert chroma.read("read_active_power") == pytest.approx(-1.5237)
        assert chroma.read("read_state") is True
        chroma.act("disable")


def test_a_deviation_from_the_manual_fails_the_protocol_test() -> None:
    """The harness itself: a command the manual does not expect is caught."""
    peer = ExpectedProtocol([*CH_SETUP, ("MEAS:VOLT:AC?", "230.0")])
    driver = ScpiDriver("x", peer.resource, load_profile("chroma-61800"), CommandLog(),
                        timeout_ms=200)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the peer hangs up: any link error
            driver.read("read_voltage")
    finally:
        driver.close()
        peer.close()
    assert peer.problems == ["sent 'MEAS:VOLT:ACDC?', manual expects 'MEAS:VOLT:AC?'"]


def test_each_real_profile_names_its_manual_and_revision() -> None:
    real = [load_profile(n) for n in profile_names() if not n.startswith(("testbed-", "sunspec-"))]
    assert {p.name for p in real} == {"chroma-61800", "yokogawa-wt300e"}
    for profile in real:
        assert not profile.tested_on_hardware
        assert re.search(r"Manual", profile.source), profile.name
        assert re.search(r"(Version|Edition|edition|section) \S+", profile.source), profile.name
