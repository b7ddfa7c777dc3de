"""SunSpec over Modbus TCP, end to end on loopback: the emulated inverter and meter as a
third-party client (pysunspec2) sees them, and the driver behind the safety layer, through
the traps real devices set (base address, scale factors, function codes, write-only points,
exceptions, dropped links)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP
from sunspec2.modbus.modbus import ModbusClientException

from instruments import load_bench, open_bench
from instruments.commandlog import CommandLog
from instruments.emulator import Emulator
from instruments.errors import InstrumentError, ProfileError, ProfileMismatch
from instruments.profiles import load_profile
from instruments.sunspec.driver import ModbusExceptionReply, SunSpecDriver, parse_resource

from .conftest import FAST_TIMEOUT_MS

PV = "pv2"


def config(**inverter: Any) -> dict[str, Any]:
    """A grid simulator, a SunSpec inverter (options as given) and a SunSpec meter."""
    return {
        "emulator": {"clock": "manual"},
        "device": [
            {"name": "grid1", "profile": "testbed-grid-simulator"},
            {"name": PV, "profile": "testbed-sunspec-inverter", "ramp_kw_per_s": 100.0,
             "pv_peak_kw": 5.0, **inverter},
            {"name": "m2", "profile": "testbed-sunspec-meter"},
        ],
    }


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config()) as emulator:
        yield emulator


def driver(emu: Emulator, name: str = PV, **kw: Any) -> SunSpecDriver:
    kind = "meter" if name == "m2" else "inverter"
    profile = load_profile(kw.pop("profile", f"testbed-sunspec-{kind}"))
    return SunSpecDriver(name, emu.resources[name], profile, CommandLog(), **kw)


def events(d: SunSpecDriver) -> list[str]:
    assert d.log.entries is not None
    return [str(e["text"]) for e in d.log.entries if e["kind"] == "event"]


def pysunspec_client(emu: Emulator, name: str = PV) -> SunSpecModbusClientDeviceTCP:
    host, port, unit = parse_resource(emu.resources[name])
    device = SunSpecModbusClientDeviceTCP(slave_id=unit, ipaddr=host, ipport=port, timeout=2)
    device.scan()
    return device


# -- a third-party client sees a valid SunSpec device ---------------------------------------


@pytest.mark.parametrize("base", [40000, 0, 50000])
def test_pysunspec2_scans_reads_and_writes_the_emulated_inverter(base: int) -> None:
    with Emulator(config(base_address=base)) as emu:
        device = pysunspec_client(emu)
        try:
            assert device.base_addr == base
            assert [m.model_id for m in device.model_list] == [
                1, 101, 120, 121, 123, 701, 702, 703, 704, 705, 706]
            assert all(not m.error_info for m in device.model_list)
            common = device.common[0]
            assert common.Mn.value == "TESTBED"
            assert common.Md.value == "SUNSPEC-PV-INVERTER"
            assert device.DERCapacity[0].WMaxRtg.cvalue == 5000
            # pysunspec2 writes one register with function code 06.
            ctl = device.DERCtlAC[0]
            ctl.WMaxLimPctEna.value = 1
            ctl.WMaxLimPct.cvalue = 40.0
            ctl.write()
            assert emu.devices[PV].p_set == pytest.approx(2.0)
            ctl.read()
            assert ctl.WMaxLimPct.cvalue == pytest.approx(40.0)
            device.DEREnterService[0].ES.value = 1
            device.DEREnterService[0].write()
            emu.devices["grid1"].enable()
            emu.advance(5.0)
            measure = device.DERMeasureAC[0]
            measure.read()
            assert measure.W.cvalue == pytest.approx(2000, abs=1)
            assert measure.ConnSt.value == 1
        finally:
            device.close()
            device.client.close()


def test_pysunspec2_reads_the_emulated_meter(emu: Emulator) -> None:
    device = pysunspec_client(emu, "m2")
    try:
        assert [m.model_id for m in device.model_list] == [1, 201]
        assert device.ac_meter_an_or_ab[0].PhVphA.cvalue == pytest.approx(230, rel=0.01)
    finally:
        device.client.close()


# -- the driver ---------------------------------------------------------------------------


def test_bench_drives_a_sunspec_inverter_beside_scpi_devices(emu: Emulator) -> None:
    bench_config = emu.bench_config()
    bench_config["device"][1]["calibration_date"] = date(2025, 3, 1)
    with open_bench(bench_config, clock=emu.now, handle_signals=False) as bench:
        inverter = emu.devices[PV]
        assert not inverter.enabled and inverter.p_set == 0.0  # opened into its safe state
        bench["grid1"].enable()
        bench[PV].enable()
        emu.advance(60.0)
        bench[PV].set_active_power(3.0)
        emu.advance(5.0)
        reading = bench[PV].read()
        assert reading.enabled and reading.p_kw == pytest.approx(3.0, abs=0.01)
        assert reading.v == pytest.approx(230 + 0.4 * 3, abs=0.2)
        meter = bench["m2"].read()
        assert meter.p_kw == pytest.approx(-3.0, rel=0.02)  # exporting: negative import
        bench[PV].set_active_power(9.0)  # beyond the limit: clamped to 5 kW by the safety layer
        assert inverter.p_set == pytest.approx(5.0)
        identity = bench.identities()[PV]
        assert (identity.manufacturer, identity.model, identity.firmware) == (
            "TESTBED", "SUNSPEC-PV-INVERTER", "1.0")
        assert identity.calibration_date.isoformat() == "2025-03-01"
        record = identity.as_record()
        assert record["calibration_date"] == "2025-03-01" and record["serial"] == "EMU-pv2"
        assert json.loads(json.dumps(record)) == record
        assert bench.identities()["grid1"].model == "GRIDSIM-10K"
    assert not inverter.enabled and inverter.p_set == 0.0  # closed into its safe state


@pytest.mark.parametrize(
    ("models", "bound"),
    [
        ([1, 101, 120, 121, 123], 123),  # a legacy inverter: immediate controls
        ([1, 701, 702, 703, 704], 704),  # an IEEE 1547-2018 inverter only
    ],
)
def test_operations_bind_to_the_models_the_device_has(models: list[int], bound: int) -> None:
    with Emulator(config(sunspec_models=models)) as emu:
        d = driver(emu)
        try:
            assert d.model_ids() == models
            assert d.bindings["set_active_power"].model.layout.model_id == bound
            d.act("enable")
            d.set("set_active_power", 1.25)
            assert emu.devices[PV].enabled
            assert emu.devices[PV].p_set == pytest.approx(1.25)
        finally:
            d.close()


def test_a_device_without_a_needed_model_is_refused_in_one_line() -> None:
    with Emulator(config(sunspec_models=[1, 101])) as emu, pytest.raises(
        ProfileError, match="lacks enable .*set_active_power"
    ):
        driver(emu)


def test_function_code_16_refused_falls_back_to_06() -> None:
    with Emulator(config(write_functions=[6])) as emu6:
        d = driver(emu6)
        try:
            d.set("set_active_power", 2.5)
            assert emu6.devices[PV].p_set == pytest.approx(2.5)
            assert "FC16 refused (ILLEGAL FUNCTION): using FC06" in events(d)
            d.set("set_active_power", 2.0)
            assert events(d).count("FC16 refused (ILLEGAL FUNCTION): using FC06") == 1
        finally:
            d.close()
        fixed = load_profile("testbed-sunspec-inverter")
        strict = replace(fixed, sunspec=replace(fixed.sunspec, write_function=16))
        d16 = SunSpecDriver(PV, emu6.resources[PV], strict, CommandLog())
        try:
            with pytest.raises(ModbusExceptionReply, match="ILLEGAL FUNCTION"):
                d16.set("set_active_power", 1.0)
        finally:
            d16.close()


def test_write_only_registers_are_written_without_read_back() -> None:
    with Emulator(config(write_only=["WMaxLimPct"])) as emu:
        d = driver(emu)
        try:
            d.set("set_active_power", 2.0)
            d.set("set_active_power", 1.0)
            assert emu.devices[PV].p_set == pytest.approx(1.0)
            assert events(d).count("WMaxLimPct is write-only: no read-back") == 1
        finally:
            d.close()


def test_a_scale_factor_changed_mid_run_keeps_readings_and_setpoints_right(emu: Emulator) -> None:
    d = driver(emu)
    grid = emu.devices["grid1"]
    try:
        grid.enable()
        d.act("enable")
        d.set("set_active_power", 2.345)
        emu.advance(5.0)
        before = d.read("read_active_power")
        emu.inject(PV, "rescale")  # W_SF 0 -> 1, WMaxLimPct_SF -1 -> 0
        assert d.read("read_active_power") == pytest.approx(before, abs=0.01)
        d.set("set_active_power", 3.0)
        assert emu.devices[PV].p_set == pytest.approx(3.0)
        assert any("the device now uses 10^0" in e for e in events(d))
        assert d.wire_value("set_active_power", 1.234) == pytest.approx(1.25)  # 1 % of 5 kW
        emu.inject(PV, "rescale")  # and back: the read-back finds the finer scale again
        d.set("set_active_power", 1.23)
        assert emu.devices[PV].p_set == pytest.approx(1.23)
    finally:
        d.close()


def test_a_refused_write_changes_no_register(emu: Emulator) -> None:
    """Exception 3 (ILLEGAL DATA VALUE), as a real device answers it: the old value reads
    back and still applies, whether one point or several were written."""
    device = pysunspec_client(emu)
    inverter = emu.devices[PV]
    before = (inverter.rating_kw, inverter.p_set)
    try:
        settings, controls, ctl = device.settings[0], device.controls[0], device.DERCtlAC[0]
        for model, point, value, old in ((settings, "WMax", 9000, 5000),  # above its rating
                                         (controls, "WMaxLimPct", 150.0, 100.0),
                                         (ctl, "WMaxLimPct", 150.0, 100.0)):
            getattr(model, point).cvalue = value
            with pytest.raises(ModbusClientException, match="exception: 3"):
                model.write()
            model.read()
            assert getattr(model, point).cvalue == pytest.approx(old), point
        assert (inverter.rating_kw, inverter.p_set) == before  # nor any of the physics
        controls.WMaxLim_Ena.value = 1  # enabled: the old percentage is the one that applies
        controls.write()
        controls.read()
        assert controls.WMaxLim_Ena.value == 1 and inverter.p_set == pytest.approx(5.0)
        # enable and percentage in one write (function code 16), the percentage out of range
        with pytest.raises(ModbusClientException, match="exception: 3"):
            device.write(ctl.model_addr + 14, struct.pack(">HH", 1, 1500))  # 150.0 %
        ctl.read()
        assert (ctl.WMaxLimPctEna.value, ctl.WMaxLimPct.cvalue) == (0, pytest.approx(100.0))
    finally:
        device.close()
        device.client.close()


def test_modbus_exceptions_name_the_code(emu: Emulator) -> None:
    d = driver(emu)
    try:
        emu.inject(PV, "error", code=6)
        with pytest.raises(ModbusExceptionReply, match="exception 6 \\(SERVER DEVICE BUSY\\)"):
            d.read("read_voltage")
        assert d.read("read_voltage") == pytest.approx(230.0)  # the next one is answered
    finally:
        d.close()


@pytest.mark.parametrize("kind", ["drop", "late", "garbage"])
def test_a_broken_exchange_reconnects_and_retries_once(emu: Emulator, kind: str) -> None:
    d = driver(emu, timeout_ms=FAST_TIMEOUT_MS)
    try:
        emu.inject(PV, kind, delay_s=1.0)
        assert d.read("read_voltage") == pytest.approx(230.0)
        assert d.reconnects == 1
    finally:
        d.close()


def test_a_device_that_stays_silent_times_out_in_one_line(emu: Emulator) -> None:
    d = driver(emu, timeout_ms=FAST_TIMEOUT_MS)
    try:
        emu.inject(PV, "late", count=50, delay_s=2.0)
        with pytest.raises(InstrumentError, match="no answer to read_voltage within 200 ms"):
            d.read("read_voltage")
    finally:
        d.close()


def test_volt_watt_and_volt_var_act_on_the_bus_voltage(emu: Emulator) -> None:
    d = driver(emu)
    grid = emu.devices["grid1"]
    inverter = emu.devices[PV]
    try:
        grid.enable()
        d.act("enable")
        d.set("set_active_power", 5.0)
        emu.advance(5.0)
        assert inverter.p == pytest.approx(5.0)
        d.write_points(706, {"Ena": 1})  # default curve: 100 % up to 106 %, 0 % at 110 %
        d.write_points(705, {"Ena": 1})  # default curve: -44 % at 108 %
        grid.set_voltage(1.08 * 230)
        emu.advance(5.0)
        v_pct = inverter.voltage_pct()
        assert 106 < v_pct < 110
        assert inverter.p == pytest.approx(5.0 * (110 - v_pct) / 4, rel=0.05)
        assert inverter.q < 0  # absorbing vars against the high voltage
        curve = d.read_points(705, ["Crv1.Pt4.V", "Crv1.Pt4.Var"])
        assert curve == {"Crv1.Pt4.V": 108.0, "Crv1.Pt4.Var": -44.0}
        d.write_points(706, {"Ena": 0})
        emu.advance(5.0)
        assert inverter.p == pytest.approx(5.0)
    finally:
        d.close()


def test_sunspec_meter_reads_and_keeps_an_energy_baseline(emu: Emulator) -> None:
    pv, meter = driver(emu), driver(emu, "m2")
    try:
        emu.devices["grid1"].enable()
        pv.act("enable")
        pv.set("set_active_power", 3.6)
        emu.advance(3600.0)
        assert meter.read("read_energy_export") == pytest.approx(3.6, rel=0.01)
        meter.act("reset_integration")
        assert meter.read("read_energy_export") == pytest.approx(0.0, abs=0.002)
        emu.advance(1800.0)
        assert meter.read("read_energy_export") == pytest.approx(1.8, rel=0.01)
    finally:
        pv.close()
        meter.close()


def test_a_sunspec_profile_on_an_scpi_port_is_a_wrong_profile(emu: Emulator) -> None:
    host, port = "127.0.0.1", emu.ports["grid1"]
    profile = load_profile("sunspec-inverter")
    with pytest.raises(ProfileMismatch, match="no SunSpec answer .* is it a Modbus TCP device"):
        SunSpecDriver("x", f"modbus-tcp://{host}:{port}/1", profile, CommandLog(),
                      FAST_TIMEOUT_MS)


@pytest.mark.parametrize(
    ("resource", "profile", "message"),
    [
        ("modbus-tcp://127.0.0.1:502/1", "testbed-pv-inverter", "is Modbus TCP but profile"),
        ("TCPIP0::127.0.0.1::5025::SOCKET", "sunspec-inverter", "needs a modbus-tcp://"),
        ("modbus-tcp://127.0.0.1:70000/1", "sunspec-inverter", "port must be a number in 1..65535"),
        ("modbus-tcp://127.0.0.1:502/x", "sunspec-inverter", "unit id must be a number"),
    ],
)
def test_bench_refuses_a_resource_that_does_not_fit_its_profile(
    resource: str, profile: str, message: str
) -> None:
    bench = {"device": [{"name": "pv", "role": "inverter", "resource": resource,
                         "profile": profile,
                         "limits": {"max_export_kw": 1, "max_import_kw": 0,
                                    "ramp_kw_per_s": 1}}]}
    with pytest.raises(ProfileError, match=message):
        load_bench(bench)
