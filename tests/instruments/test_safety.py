"""Safety layer: no sequence of requested setpoints ever puts a command outside the limits."""

from __future__ import annotations

import math

import pytest
import pyvisa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instruments.commandlog import CommandLog
from instruments.emulator import Emulator
from instruments.errors import BenchTripped, ProfileError, RangeError
from instruments.profiles import load_profile
from instruments.safety import DeviceLimits, SafeDriver
from instruments.scpi import ScpiDriver

#: Floating-point slack of comparing (last - sent) with ramp * dt, in kW: far below any
#: device resolution (the profiles send 0.1 W steps).
FLOAT_SLACK_KW = 1e-9

SIM = {
    "testbed-pv-inverter": "TCPIP0::sim::5025::SOCKET",
    "testbed-grid-simulator": "TCPIP0::sim::5027::SOCKET",
    "testbed-load": "TCPIP0::sim::5028::SOCKET",
}


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def safe_driver(rm: pyvisa.ResourceManager, profile: str, limits: DeviceLimits, clock) -> SafeDriver:
    driver = ScpiDriver(profile, SIM[profile], load_profile(profile), CommandLog(), rm)
    return SafeDriver(driver, limits, clock)


def sent_values(driver: SafeDriver, prefix: str) -> list[float]:
    """The numbers of the commands that went on the wire, in API units."""
    op = next(o for o in driver.profile.ops.values() if o.scpi.template.startswith(prefix))
    return [
        float(e["text"].split()[-1]) * op.factor
        for e in driver.driver.log.entries
        if e["kind"] == "write" and e["text"].startswith(prefix + " ")
    ]


requests = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e4, max_value=1e4)
steps = st.lists(st.tuples(st.floats(0.0, 5.0), requests), min_size=1, max_size=25)
power_limits = st.builds(
    DeviceLimits,
    max_export_kw=st.floats(0.0, 8.0),
    max_import_kw=st.floats(0.0, 8.0),
    ramp_kw_per_s=st.floats(0.0, 10.0),
)


def assert_within_limits_and_ramp(
    values: list[float], times: list[float], t0: float, lo: float, hi: float, ramp: float
) -> None:
    last, t_last = 0.0, t0
    for value, t in zip(values, times, strict=True):
        assert lo <= value <= hi
        assert abs(value - last) <= ramp * (t - t_last) + FLOAT_SLACK_KW
        last, t_last = value, t


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limits=power_limits, sequence=steps)
def test_inverter_commands_stay_within_limits_and_ramp(
    sim_rm: pyvisa.ResourceManager, limits: DeviceLimits, sequence: list[tuple[float, float]]
) -> None:
    clock = FakeClock()
    t0 = clock.t
    driver = safe_driver(sim_rm, "testbed-pv-inverter", limits, clock)
    times = []
    for dt, kw in sequence:
        clock.t += dt
        driver.set("set_active_power", kw)
        times.append(clock.t)
    # the PV inverter's own range is 0..5 kW: the tighter of device and limits holds
    lo, hi = 0.0, min(limits.max_export_kw, 5.0)
    values = sent_values(driver, "SOUR:POW:ACT")
    assert_within_limits_and_ramp(values, times, t0, lo, hi, limits.ramp_kw_per_s)
    driver.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    max_import=st.floats(0.0, 5.0),
    ramp=st.floats(0.0, 20.0),
    sequence=steps,
)
def test_load_commands_stay_within_limits_and_ramp(
    sim_rm: pyvisa.ResourceManager, max_import: float, ramp: float, sequence: list
) -> None:
    clock = FakeClock()
    t0 = clock.t
    limits = DeviceLimits(max_import_kw=max_import, ramp_kw_per_s=ramp)
    driver = safe_driver(sim_rm, "testbed-load", limits, clock)
    times = []
    for dt, kw in sequence:
        clock.t += dt
        driver.set("set_power", kw)
        times.append(clock.t)
    values = sent_values(driver, "SOUR:POW")
    assert_within_limits_and_ramp(values, times, t0, 0.0, min(max_import, 3.0), ramp)
    driver.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    band=st.tuples(st.floats(150.0, 240.0), st.floats(0.1, 60.0)),
    volts=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=20),
)
def test_grid_voltage_commands_stay_in_band(
    sim_rm: pyvisa.ResourceManager, band: tuple[float, float], volts: list[float]
) -> None:
    v_min, width = band
    limits = DeviceLimits(v_min=v_min, v_max=v_min + width)
    driver = safe_driver(sim_rm, "testbed-grid-simulator", limits, FakeClock())
    for v in volts:
        driver.set("set_voltage", v)
    values = sent_values(driver, "SOUR:VOLT")
    assert len(values) == len(volts)
    assert all(limits.v_min <= v <= limits.v_max for v in values)
    driver.close()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limits=power_limits, sequence=st.lists(st.tuples(st.floats(0.0, 3.0), requests), max_size=12)
)
def test_end_to_end_the_emulated_inverter_never_exceeds_limits(
    limits: DeviceLimits, sequence: list[tuple[float, float]]
) -> None:
    """Over real sockets, with the emulator's clock as the safety layer's clock."""
    with Emulator(clock="manual") as emu:
        profile = load_profile("testbed-pv-inverter")
        driver = ScpiDriver("pv1", emu.resources["pv1"], profile, CommandLog())
        safe = SafeDriver(driver, limits, emu.now)
        safe.act("enable")
        t0, times = emu.now(), []
        for dt, kw in sequence:
            emu.advance(dt)
            safe.set("set_active_power", kw)
            times.append(emu.now())
            assert emu.devices["pv1"].p <= min(limits.max_export_kw, 5.0) + FLOAT_SLACK_KW
        values = sent_values(safe, "SOUR:POW:ACT")
        hi = min(limits.max_export_kw, 5.0)
        assert_within_limits_and_ramp(values, times, t0, 0.0, hi, limits.ramp_kw_per_s)
        driver.close()


def test_clamps_are_logged_and_power_factor_kept_above_minimum(sim_rm) -> None:
    clock = FakeClock()
    limits = DeviceLimits(max_export_kw=2.0, ramp_kw_per_s=100.0, max_kvar=0.5, pf_min=0.9)
    d = safe_driver(sim_rm, "testbed-pv-inverter", limits, clock)
    clock.t += 1.0
    d.set("set_active_power", 4.0)
    d.set("set_reactive_power", -3.0)
    d.set("set_power_factor", -0.5)
    writes = [e["text"] for e in d.driver.log.entries if e["kind"] == "write"]
    assert writes[-3:] == ["SOUR:POW:ACT 2000.0", "SOUR:POW:REAC -500.0", "SOUR:PF -0.900"]
    events = [e for e in d.driver.log.entries if "clamped" in e["text"]]
    assert events[0]["text"] == "set_active_power 4 clamped to 2"
    assert (events[0]["setpoint"], events[0]["requested"], events[0]["sent"]) == (
        "set_active_power", 4.0, 2.0)  # the values, for the bench's clamp events


def test_rounding_to_the_wire_is_not_a_clamp_and_a_listener_sees_every_entry(sim_rm) -> None:
    clock = FakeClock()
    d = safe_driver(sim_rm, "testbed-pv-inverter", DeviceLimits(max_export_kw=2.0,
                                                                 ramp_kw_per_s=10), clock)
    seen = []
    d.driver.log.listener = seen.append
    clock.t += 1.0
    d.set("set_active_power", 1.23456789)  # sent at the profile's resolution, within limits
    assert not [e for e in seen if "clamped" in e["text"]]
    assert [e["text"] for e in seen if e["kind"] == "write"] == ["SOUR:POW:ACT 1234.6"]


def test_tripped_driver_refuses_setpoints_but_allows_disable(sim_rm) -> None:
    d = safe_driver(sim_rm, "testbed-load", DeviceLimits(max_import_kw=1, ramp_kw_per_s=1), FakeClock())
    d.tripped = "test"
    with pytest.raises(BenchTripped, match="set_power refused, bench tripped \\(test\\)"):
        d.set("set_power", 0.5)
    with pytest.raises(BenchTripped):
        d.act("enable")
    d.act("disable")


def test_not_a_number_is_refused(sim_rm) -> None:
    d = safe_driver(sim_rm, "testbed-load", DeviceLimits(max_import_kw=1, ramp_kw_per_s=1), FakeClock())
    with pytest.raises(RangeError, match="not a number"):
        d.set("set_power", math.nan)


@pytest.mark.parametrize(
    ("data", "role", "message"),
    [
        ({"max_export_kw": 1.0}, "inverter", "needs limits"),
        ({"max_import_kw": -1.0, "ramp_kw_per_s": 1.0}, "load", ">= 0"),
        ({"v_min": 250.0, "v_max": 200.0}, "grid_simulator", "must not exceed"),
        ({"v_min": 200.0, "v_max": 250.0, "volts": 1}, "grid_simulator", "unknown limits"),
        ({"max_import_kw": "1", "ramp_kw_per_s": 1.0}, "load", "must be a number"),
    ],
)
def test_bad_limits_are_one_clear_error(data: dict, role: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        DeviceLimits.from_dict(data, role, "bench")
