"""Profiles: every shipped one loads; malformed ones fail with one clear line."""

from __future__ import annotations

import pytest

from instruments.errors import ProfileError
from instruments.profiles import load_profile, parse_profile, profile_names


def minimal_load(**op_overrides: object) -> dict:
    ops = {
        "enable": {"command": "INP ON"},
        "disable": {"command": "INP OFF"},
        "set_power": {"command": "POW {value:.1f}", "unit": "W", "min": 0, "max": 100},
        "read_active_power": {"command": "MEAS:POW?", "unit": "W"},
    }
    ops.update(op_overrides)
    return {
        "instrument": {"model": "x", "role": "load", "idn": "ACME,L1", "tested_on_hardware": False},
        "ops": ops,
    }


def test_shipped_profiles_load_and_real_ones_are_marked_untested() -> None:
    names = profile_names()
    assert {
        "testbed-pv-inverter",
        "testbed-meter",
        "testbed-load",
        "testbed-grid-simulator",
    } <= set(names)
    real = [load_profile(n) for n in names if not n.startswith("testbed-")]
    assert {p.role for p in real} >= {"grid_simulator", "meter"}
    assert all(not p.tested_on_hardware for p in real)


def test_units_convert_to_api_units() -> None:
    op = load_profile("testbed-pv-inverter").op("set_active_power")
    assert op.factor == pytest.approx(1e-3)
    assert op.scpi.format(2500.0) == "SOUR:POW:ACT 2500.0"
    assert op.scpi.quantize(1234.56) == pytest.approx(1234.6)


def test_idn_matches_manufacturer_and_model_only() -> None:
    profile = load_profile("testbed-meter")
    assert profile.idn_matches("testbed,meter-1p,SN999,2.0")
    assert not profile.idn_matches("TESTBED,METER-3P,EMU0002,1.0")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (minimal_load(read_active_power={"unit": "W"}), "command string"),
        (minimal_load(set_power={"command": "POW 5"}), "{value}"),
        (minimal_load(set_power={"command": "POW {value:d}", "unit": "W"}), "decimal number"),
        (
            minimal_load(read_active_power={"command": "MEAS:POW?", "unit": "V"}),
            "not a unit of power",
        ),
        (minimal_load(enable={"command": "INP?"}), "queries"),
        (minimal_load(bogus={"command": "X"}), "unknown load operations"),
        (
            minimal_load(set_power={"command": "P {value}", "unit": "W", "min": 5, "max": 1}),
            "above max",
        ),
    ],
)
def test_malformed_profiles_are_refused(data: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile("bad", data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["ops"]["set_power"].update(comand="X"), "unknown keys \\['comand'\\]"),
        (lambda d: d["instrument"].update(timeout=5), "unknown \\[instrument\\] keys"),
        (lambda d: d.update(scpi={"init": "INST:COUP ALL"}), "init must be a list"),
        (lambda d: d.update(extra={}), "unknown tables \\['extra'\\]"),
        (lambda d: d["instrument"].update(idn=7), "must be text"),
        (lambda d: d["ops"]["set_power"].update(max=float("inf")), "max must be a finite"),
        (lambda d: d["instrument"].update(timeout_ms=0), "timeout_ms must be an integer"),
    ],
)
def test_every_profile_key_is_read_or_refused(change, message: str) -> None:
    data = minimal_load()
    change(data)
    with pytest.raises(ProfileError, match=message):
        parse_profile("bad", data)


def test_missing_operation_and_role_are_named() -> None:
    data = minimal_load()
    del data["ops"]["disable"]
    with pytest.raises(ProfileError, match="missing load operations \\['disable'\\]"):
        parse_profile("bad", data)
    data = minimal_load()
    data["instrument"]["role"] = "toaster"
    with pytest.raises(ProfileError, match="role must be one of"):
        parse_profile("bad", data)


def test_unknown_profile_lists_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="testbed-meter"):
        load_profile("no-such-model")
