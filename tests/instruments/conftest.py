"""Shared fixtures: an emulated bench on ephemeral loopback ports, PyVISA resource managers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pyvisa

from instruments.emulator import Emulator
from instruments.profiles import profile_dir

#: Short driver timeout for failure-path tests, so they stay fast.
FAST_TIMEOUT_MS = 200


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """The built-in emulated bench with a manual clock (time moves only when told)."""
    with Emulator(clock="manual") as emulator:
        yield emulator


@pytest.fixture(scope="session")
def rm() -> pyvisa.ResourceManager:
    return pyvisa.ResourceManager("@py")


@pytest.fixture(scope="session")
def sim_rm() -> pyvisa.ResourceManager:
    """pyvisa-sim doubles of the emulated devices (no sockets)."""
    return pyvisa.ResourceManager(f"{profile_dir() / 'pyvisa-sim.yaml'}@sim")


def toml_bench(config: dict) -> str:
    """A bench dict (as Emulator.bench_config gives) written as TOML text."""
    lines = []
    for device in config["device"]:
        lines += ["[[device]]"]
        lines += [f"{k} = {v!r}" for k, v in device.items() if k != "limits"]
        limits = ", ".join(f"{k} = {float(v)!r}" for k, v in device.get("limits", {}).items())
        lines += [f"limits = {{ {limits} }}", ""]
    return "\n".join(lines).replace("'", '"')
