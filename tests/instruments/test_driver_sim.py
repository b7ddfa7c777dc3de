"""Quick driver unit tests against the pyvisa-sim doubles (no sockets, no physics)."""

from __future__ import annotations

import pytest
import pyvisa

from instruments.commandlog import CommandLog
from instruments.drivers import Inverter, Meter
from instruments.errors import InstrumentReplyError, RangeError, ScpiError
from instruments.profiles import load_profile
from instruments.scpi import ScpiDriver

PV, METER = "TCPIP0::sim::5025::SOCKET", "TCPIP0::sim::5026::SOCKET"


def driver(rm: pyvisa.ResourceManager, resource: str, profile: str) -> ScpiDriver:
    return ScpiDriver(profile, resource, load_profile(profile), CommandLog(), rm)


def test_reads_are_parsed_into_api_units(sim_rm: pyvisa.ResourceManager) -> None:
    meter = Meter(driver(sim_rm, METER, "testbed-meter"))
    reading = meter.read()
    assert reading.p_kw == pytest.approx(-1.0)
    assert reading.import_kwh == pytest.approx(1.25)
    assert reading.export_kwh == pytest.approx(2.5)
    assert reading.v == pytest.approx(230.1)


def test_setpoints_reach_the_device_in_its_unit(sim_rm: pyvisa.ResourceManager) -> None:
    inv = Inverter(driver(sim_rm, PV, "testbed-pv-inverter"))
    inv.enable()
    inv.set_active_power(2.5)
    assert inv.read_active_power() == pytest.approx(2.5)
    assert inv.read().enabled is True
    assert "SOUR:POW:ACT 2500.0" in [e["text"] for e in inv.driver.log.entries]


def test_out_of_range_is_refused_before_sending(sim_rm: pyvisa.ResourceManager) -> None:
    d = driver(sim_rm, PV, "testbed-pv-inverter")
    before = len(d.log.entries)
    with pytest.raises(RangeError, match="set_active_power 6 is outside the device range"):
        d.set("set_active_power", 6.0)
    assert len(d.log.entries) == before


def test_scpi_error_names_the_command(sim_rm: pyvisa.ResourceManager) -> None:
    d = driver(sim_rm, PV, "testbed-pv-inverter")
    with pytest.raises(ScpiError, match=r"'SOUR:POW:BOGUS 1'.*-113"):
        d._command("SOUR:POW:BOGUS 1")


def test_garbage_and_scpi_nan_replies_are_refused(sim_rm: pyvisa.ResourceManager) -> None:
    d = driver(sim_rm, METER, "testbed-meter")
    op = d.profile.op("read_voltage")
    with pytest.raises(InstrumentReplyError, match="garbage reply 'abc' to 'MEAS:VOLT\\?'"):
        d.parse(op, "abc")
    with pytest.raises(InstrumentReplyError, match="no valid data"):
        d.parse(op, "9.91E+37")
    assert d.parse(op, "+2.30E+02") == pytest.approx(230.0)
