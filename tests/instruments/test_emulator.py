"""The emulator end to end through real PyVISA (pyvisa-py) over loopback sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import pyvisa

from instruments.commandlog import CommandLog
from instruments.drivers import Inverter, Meter
from instruments.emulator import Emulator
from instruments.errors import InstrumentError, ProfileError
from instruments.profiles import load_profile
from instruments.scpi import ScpiDriver


def session(rm: pyvisa.ResourceManager, resource: str) -> pyvisa.resources.MessageBasedResource:
    return rm.open_resource(resource, read_termination="\n", write_termination="\n", timeout=1000)


def role_driver(emu: Emulator, name: str, cls: type) -> object:
    spec = next(d for d in emu.config.devices if d.name == name)
    return cls(ScpiDriver(name, emu.resources[name], spec.profile, CommandLog()))


def test_common_commands_and_error_queue(emu: Emulator, rm: pyvisa.ResourceManager) -> None:
    inst = session(rm, emu.resources["pv1"])
    assert inst.query("*IDN?") == "TESTBED,PVINV-5K,EMU0001,1.0"
    assert inst.query("*OPC?") == "1"
    inst.write("SOUR:POW:ACT 9999")  # out of range
    inst.write("FOO:BAR")  # undefined header
    inst.write("SOUR:POW:ACT lots")  # not a number
    assert inst.query("SYST:ERR?") == '-222,"Data out of range"'
    assert inst.query("SYST:ERR?") == '-113,"Undefined header"'
    assert inst.query("SYST:ERR?") == '-104,"Data type error"'
    assert inst.query("SYST:ERR?") == '0,"No error"'
    inst.write("FOO")
    inst.write("*CLS")
    assert inst.query("SYST:ERR?").startswith("0,")
    inst.write("OUTP ON;SOUR:POW:ACT 1000")
    assert inst.query("OUTP?;:SOUR:POW:ACT?") == "1"  # setpoint readback is not a profile query
    assert inst.query("SYST:ERR?").startswith("-113")
    inst.write("*RST")
    assert inst.query("OUTP?") == "0"
    inst.close()


def test_inverter_ramps_to_setpoint_capped_by_pv(emu: Emulator) -> None:
    pv = role_driver(emu, "pv1", Inverter)
    pv.enable()
    pv.set_active_power(4.0)
    emu.advance(1.0)  # ramp 2 kW/s
    assert pv.read_active_power() == pytest.approx(2.0)
    emu.advance(10.0)
    assert pv.read_active_power() == pytest.approx(4.0)
    pv.set_active_power(0.5)
    emu.advance(0.5)
    assert pv.read_active_power() == pytest.approx(3.0)
    emu.set_time(9 * 3600.0)  # 21:00: no sun
    assert pv.read_active_power() == pytest.approx(0.0)
    assert pv.read().v > 0


def test_meter_sees_the_point_and_integrates_energy(emu: Emulator) -> None:
    pv = role_driver(emu, "pv1", Inverter)
    meter = role_driver(emu, "meter1", Meter)
    meter.reset_integration()
    pv.enable()
    pv.set_active_power(2.8)
    emu.advance(10.0)
    reading = meter.read()
    assert reading.p_kw == pytest.approx(0.8 - 2.8, rel=0.01)  # load 0.8 kW, import positive
    assert reading.v > 230.0  # exporting raises the voltage
    assert reading.i_a == pytest.approx(2000 / reading.v, rel=0.01)
    emu.advance(3600.0)
    after = meter.read()
    assert after.export_kwh == pytest.approx(2.0, rel=0.01)
    assert after.import_kwh == pytest.approx(0.0, abs=1e-3)


def test_meter_noise_is_seeded() -> None:
    readings = []
    for _ in range(2):
        with Emulator(clock="manual") as emu:
            meter = role_driver(emu, "meter1", Meter)
            readings.append([meter.read().v for _ in range(3)])
    assert readings[0] == readings[1]
    assert len(set(readings[0])) == 3


def test_grid_off_stops_the_inverter(emu: Emulator) -> None:
    pv = role_driver(emu, "pv1", Inverter)
    grid = ScpiDriver("grid1", emu.resources["grid1"], load_profile("testbed-grid-simulator"))
    pv.enable()
    pv.set_active_power(2.0)
    emu.advance(5.0)
    grid.act("disable")
    emu.advance(5.0)
    assert pv.read_active_power() == 0.0
    assert grid.read("read_voltage") == 0.0


def test_real_family_profiles_are_served_as_written() -> None:
    config = {
        "emulator": {"clock": "manual"},
        "device": [
            {"name": "chroma", "profile": "chroma-61800"},
            {"name": "wt", "profile": "yokogawa-wt300e"},
            {"name": "pv", "profile": "testbed-pv-inverter"},
        ],
    }
    with Emulator(config) as emu:
        grid = ScpiDriver("chroma", emu.resources["chroma"], load_profile("chroma-61800"))
        meter = ScpiDriver("wt", emu.resources["wt"], load_profile("yokogawa-wt300e"))
        grid.set("set_voltage", 240.0)
        assert grid.read("read_voltage") == pytest.approx(240.0)
        assert grid.read("read_state") is True
        assert meter.read("read_voltage") == pytest.approx(240.0, rel=0.01)
        assert "CHROMA" in grid.idn().upper()
        pv = ScpiDriver("pv", emu.resources["pv"], load_profile("testbed-pv-inverter"))
        pv.act("enable")
        pv.set("set_active_power", 2.0)
        emu.advance(3600.0)
        assert meter.read("read_energy_export") == pytest.approx(2.0, rel=0.01)  # WP- sign
        assert emu.devices["wt"].e_export == pytest.approx(2.0, rel=0.01)


def test_control_endpoint_drives_time_and_faults(emu: Emulator, rm: pyvisa.ResourceManager) -> None:
    ctl = session(rm, emu.control_resource)
    assert ctl.query("SIM:CLOCK?") == "MAN"
    ctl.write("SIM:ADV 2.5")
    ctl.write("SIM:TIME 10")
    assert float(ctl.query("SIM:TIME?")) == pytest.approx(10.0)
    ctl.write("SIM:TIME 1")  # backwards: refused
    ctl.write("SIM:FAULT pv1,error")
    assert ctl.query("SYST:ERR?") == '-200,"Execution error"'
    assert ctl.query("SYST:ERR?").startswith("0,")
    pv = session(rm, emu.resources["pv1"])
    pv.write("OUTP ON")
    assert pv.query("SYST:ERR?").startswith("-200")
    assert pv.query("OUTP?") == "0"


def test_bad_config_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(ProfileError, match="unknown keys \\['colour'\\]"):
        Emulator({"device": [{"name": "x", "profile": "testbed-load", "colour": "red"}]})
    with pytest.raises(InstrumentError, match="simbench:<column>"):
        Emulator({"device": [{"name": "x", "profile": "testbed-pv-inverter", "pv": "moon"}]})
    with pytest.raises(ProfileError, match="not found"):
        Emulator(tmp_path / "missing.toml")


def test_simbench_pv_profile_drives_available_power() -> None:
    config = {
        "emulator": {"clock": "manual", "start": "2016-06-21T12:00:00"},
        "device": [{"name": "pv", "profile": "testbed-pv-inverter", "pv": "simbench:PV5"}],
    }
    with Emulator(config) as emu:
        pv = emu.devices["pv"]
        assert 0.0 < pv.available_kw(0.0) <= 5.0
        assert pv.available_kw(12 * 3600.0) == 0.0  # midnight


def test_cli_emulate_prints_resources_and_ends_on_sigterm(rm: pyvisa.ResourceManager) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from testbed.cli import main; main()",
            "emulate",
            "--port-base",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().split() for _ in range(6)]
        names = [name for name, _ in lines]
        assert names == ["grid1", "pv1", "load1", "meter1", "pv2", "control"]
        inst = session(rm, dict(lines)["meter1"])
        assert inst.query("*IDN?").startswith("TESTBED,METER-1P")
        inst.close()
        assert dict(lines)["pv2"].startswith("modbus-tcp://127.0.0.1:")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_wall_clock_advances_physics_in_real_time(tmp_path) -> None:
    config = tmp_path / "emu.toml"
    config.write_text(
        "[emulator]\nclock = 'wall'\nstart = 2016-06-21T12:00:00\n"
        "[[device]]\nname = 'pv'\nprofile = 'testbed-pv-inverter'\nramp_kw_per_s = 50.0\n"
    )
    with Emulator(config) as emu:
        pv = role_driver(emu, "pv", Inverter)
        pv.enable()
        pv.set_active_power(1.0)
        deadline = time.monotonic() + 5  # at 50 kW/s the wall clock reaches it in 20 ms
        while pv.read_active_power() != pytest.approx(1.0):
            assert time.monotonic() < deadline, "the wall clock did not move the ramp"
            time.sleep(0.02)
        emu.clock.set_mode("manual")
        t = emu.now()
        time.sleep(0.05)
        assert emu.now() == t
