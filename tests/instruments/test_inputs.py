"""Every user-facing instrument input is checked at the boundary: the emulator's port base and
config, bench files and profiles. A bad one is one line naming it, exit 2, no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from instruments import load_bench, load_profile
from instruments.emulator import Emulator
from instruments.emulator.config import parse_config
from instruments.errors import InstrumentError, ProfileError

from .conftest import toml_bench

CLI = [sys.executable, "-c", "from testbed.cli import main; main()"]
BINARY = bytes(range(256)) * 4


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], check=False, capture_output=True, text=True, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("port_base", ["70000", "-1", "65534"])
def test_emulate_refuses_a_port_base_without_room(port_base: str) -> None:
    assert_one_line_error(run_cli("emulate", "--port-base", port_base), "--port-base")


def test_port_base_is_checked_before_anything_listens() -> None:
    with pytest.raises(InstrumentError, match="1..65530"):
        Emulator(port_base=65531)
    Emulator(port_base=65530)  # six endpoints fit exactly (nothing started)


def test_emulate_refuses_a_binary_config(tmp_path: Path) -> None:
    config = tmp_path / "bench.toml"
    config.write_bytes(BINARY)
    assert_one_line_error(run_cli("emulate", "--config", str(config)), str(config), "not a text")


def test_check_refuses_a_binary_bench_file(tmp_path: Path) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_bytes(BINARY)
    assert_one_line_error(run_cli("instruments", "check", str(bench)), str(bench))


def test_a_binary_profile_is_one_error(tmp_path: Path) -> None:
    profile = tmp_path / "acme.toml"
    profile.write_bytes(BINARY)
    with pytest.raises(ProfileError, match="acme.toml: not a text file"):
        load_profile(profile)


def test_check_with_the_wrong_profile_names_the_device(tmp_path: Path) -> None:
    """A Yokogawa profile on the emulated meter: its set-up commands go unanswered."""
    with Emulator(clock="manual") as emu:
        config = emu.bench_config()
        config["device"] = [d for d in config["device"] if d["name"] == "meter1"]
        config["device"][0]["profile"] = "yokogawa-wt300e"
        config["device"][0]["timeout_ms"] = 200
        bench = tmp_path / "bench.toml"
        bench.write_text(toml_bench(config))
        result = run_cli("instruments", "check", str(bench))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("meter1  WRONG PROFILE  meter1: no answer to set-up command")
    assert "yokogawa-wt300e" in lines[0]


def test_every_bad_emulator_key_is_reported_at_once() -> None:
    data = {
        "emulator": {"physics_step_s": 0, "noise": float("nan"), "colour": "red"},
        "device": [
            {"name": "pv1", "profile": "testbed-pv-inverter", "pv_peak_kw": "five",
             "ramp_kw_per_s": float("inf")},
            {"name": "load1", "profile": "testbed-load", "p_kw": -1},
        ],
    }
    with pytest.raises(ProfileError) as caught:
        parse_config(data, "bench.toml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("bench.toml: ")
    for expected in (
        "[emulator] physics_step_s must be in (0, 3600], not 0",
        "[emulator] noise must be finite",
        "[emulator] unknown keys ['colour']",
        "device 'pv1' (inverter): pv_peak_kw must be a number, not 'five'",
        "device 'pv1' (inverter): ramp_kw_per_s must be finite",
        "device 'load1' (load): p_kw must be in [0, 1e+06], not -1",
    ):
        assert expected in message


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"base_address": 123}, "base_address must be one of [40000, 0, 50000]"),
        ({"write_functions": [3]}, "write_functions must be among [6, 16]"),
        ({"sunspec_models": [101, 1]}, "must start with the common model 1"),
        ({"sunspec_models": [1, 99999]}, "non-empty list of integers"),
        ({"write_only": ["Nope"]}, "write_only names no point of its models: ['Nope']"),
        ({"rating_kw": 0}, "rating_kw must be in (0, 1e+06]"),
    ],
)
def test_sunspec_emulator_options_are_checked(entry: dict, message: str) -> None:
    data = {"device": [{"name": "pv2", "profile": "testbed-sunspec-inverter", **entry}]}
    with pytest.raises(ProfileError, match=re.escape(message)):
        parse_config(data, "emulator config")


def bench_with(**changes: object) -> dict:
    device = {"name": "m", "role": "meter", "resource": "TCPIP0::127.0.0.1::1::SOCKET",
              "profile": "testbed-meter"}
    bench: dict = {"device": [device]}
    for key, value in changes.items():
        if key in ("watchdog_deadline_s", "watchdog_max_misses"):
            bench.setdefault("bench", {})[key] = value
        else:
            device[key] = value
    return bench


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"watchdog_deadline_s": float("inf")}, "watchdog_deadline_s must be a number"),
        ({"watchdog_max_misses": 0}, "watchdog_max_misses must be an integer"),
        ({"timeout_ms": -5}, "timeout_ms must be an integer"),
        ({"calibration_date": "last year"}, "calibration_date must be a TOML date"),
        ({"limits": [1, 2]}, "limits must be a table"),
        ({"resource": 42}, "resource must be a non-empty string"),
    ],
)
def test_bench_values_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        load_bench(bench_with(**changes))


def test_profile_numbers_must_be_finite(tmp_path: Path) -> None:
    profile = tmp_path / "acme.toml"
    profile.write_text(
        "[instrument]\nmodel='x'\nrole='load'\nidn='A,B'\ntested_on_hardware=false\n"
        "[ops.enable]\ncommand='INP ON'\n[ops.disable]\ncommand='INP OFF'\n"
        "[ops.set_power]\ncommand='POW {value:.1f}'\nunit='W'\nmin=0\nmax=inf\n"
        "[ops.read_active_power]\ncommand='MEAS:POW?'\nunit='W'\n"
    )
    with pytest.raises(ProfileError, match="max must be a finite number"):
        load_profile(profile)
