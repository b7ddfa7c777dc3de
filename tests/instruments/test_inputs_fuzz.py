"""Generated bad inputs for the instrument boundary: whatever a bench file, a profile or an
emulator config holds, loading it either succeeds or raises one ProfileError, never anything
else (a traceback at the CLI)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instruments import load_bench
from instruments.emulator.config import DEVICE_OPTIONS, GLOBALS, parse_config
from instruments.errors import ProfileError
from instruments.profiles import parse_profile, profile_names

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
device_keys = sorted({k for opts in DEVICE_OPTIONS.values() for k in opts} | {
    "rating_kw", "base_address", "unit_id", "sunspec_models", "write_only", "write_functions"})
profiles = st.sampled_from(profile_names())


def overrides(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from([*keys, "bogus"]), values, max_size=4)


@SETTINGS
@given(settings_=overrides(sorted(GLOBALS)), profile=profiles,
       device=overrides(device_keys), name=st.text(max_size=8))
def test_emulator_configs_load_or_fail_in_one_error(
    settings_: dict, profile: str, device: dict, name: str
) -> None:
    data = {"emulator": settings_, "device": [{"name": name, "profile": profile, **device}]}
    try:
        parse_config(data, "fuzz")
    except ProfileError as exc:
        assert "\n" not in str(exc)


bench_device_keys = ["name", "role", "resource", "profile", "timeout_ms", "limits",
                     "calibration_date"]


@SETTINGS
@given(bench=overrides(["watchdog_deadline_s", "watchdog_max_misses", "visa_library"]),
       device=overrides(bench_device_keys), profile=profiles,
       role=st.sampled_from(["inverter", "meter", "grid_simulator", "load", "toaster"]),
       resource=st.sampled_from(["TCPIP0::127.0.0.1::5025::SOCKET",
                                 "modbus-tcp://127.0.0.1:502/1", "modbus-tcp://x:99999/1", ""]))
def test_bench_files_load_or_fail_in_one_error(
    bench: dict, device: dict, profile: str, role: str, resource: str
) -> None:
    entry = {"name": "d", "role": role, "resource": resource, "profile": profile, **device}
    try:
        load_bench({"bench": bench, "device": [entry]})
    except ProfileError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(instrument=overrides(["model", "role", "transport", "idn", "tested_on_hardware",
                             "timeout_ms", "source"]),
       op=overrides(["command", "unit", "min", "max", "on", "off", "scale"]),
       tables=overrides(["scpi", "sunspec", "ops"]))
def test_profiles_load_or_fail_in_one_error(instrument: dict, op: dict, tables: dict) -> None:
    data = {
        "instrument": {"model": "x", "role": "load", "idn": "A,B",
                       "tested_on_hardware": False, **instrument},
        "ops": {"enable": {"command": "INP ON"}, "disable": {"command": "INP OFF"},
                "set_power": {"command": "POW {value:.1f}", "unit": "W", **op},
                "read_active_power": {"command": "MEAS:POW?", "unit": "W"}},
        **tables,
    }
    try:
        parse_profile("fuzz", data)
    except ProfileError as exc:
        assert "\n" not in str(exc)
