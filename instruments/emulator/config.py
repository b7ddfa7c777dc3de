"""The emulated bench's configuration (TOML): global physics settings and its devices.

Every key is checked at load, and every problem is reported at once in one line (a config with
``pv_peak_kw = "five"`` and ``physics_step_s = 0`` names both), so an emulator that starts also
keeps answering.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from instruments.emulator.sunspec import (
    INVERTER_MODELS,
    METER_MODELS,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    SunSpecOptions,
)
from instruments.errors import ProfileError
from instruments.profiles import Profile, load_profile, read_toml
from instruments.sunspec.models import BASE_ADDRESSES, fixed_layout

DEFAULT_CONFIG = "default.toml"
Check = Callable[[Any], str | None]


def _number(lo: float, hi: float, lo_open: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, not {value!r}"
        if not math.isfinite(value):
            return f"must be finite, not {value!r}"
        if value < lo or (lo_open and value == lo) or value > hi:
            return f"must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], not {value!r}"
        return None

    return check


def _integer(lo: int, hi: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return f"must be an integer in [{lo}, {hi}], not {value!r}"
        return None

    return check


def _choice(*options: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in options else f"must be one of {list(options)}, not {value!r}"

    return check


def _start(value: Any) -> str | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date) or not isinstance(value, str):
        return f"must be a date and time, not {value!r}"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"must be an ISO date and time, not {value!r}"
    return None


def _pv(value: Any) -> str | None:
    ok = value == "clear-sky" or (isinstance(value, str) and value.startswith("simbench:"))
    return None if ok else f"must be 'clear-sky' or 'simbench:<column>', not {value!r}"


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _int_list(allowed: tuple[int, ...] | None, lo: int = 0, hi: int = 65535) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in value
        ):
            return f"must be a non-empty list of integers, not {value!r}"
        if allowed is not None and set(value) - set(allowed):
            return f"must be among {list(allowed)}, not {sorted(set(value) - set(allowed))}"
        return None

    return check


def _names(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"must be a list of point names, not {value!r}"
    return None


#: [emulator] keys: default and check.
GLOBALS: dict[str, tuple[Any, Check]] = {
    "seed": (1, _integer(0, 2**63 - 1)),
    "start": (datetime(2016, 6, 21, 12), _start),
    "clock": ("wall", _choice("wall", "manual")),
    "v_nominal": (230.0, _number(0, 1e6, lo_open=True)),
    "f_nominal": (50.0, _number(0, 1e3, lo_open=True)),
    "v_per_kw": (0.4, _number(0, 1e3)),
    "noise": (0.001, _number(0, 1)),
    "physics_step_s": (1.0, _number(0, 3600, lo_open=True)),
}
_INVERTER: dict[str, tuple[Any, Check]] = {
    "ramp_kw_per_s": (1.0, _number(0, 1e6, lo_open=True)),
    "pv": ("clear-sky", _pv),
    "pv_peak_kw": (None, _optional(_number(0, 1e6))),
}
_SUNSPEC: dict[str, tuple[Any, Check]] = {
    "base_address": (40000, _choice(*BASE_ADDRESSES)),
    "unit_id": (1, _integer(1, 247)),
    "write_only": ([], _names),
    "write_functions": ([WRITE_SINGLE, WRITE_MULTIPLE], _int_list((WRITE_SINGLE, WRITE_MULTIPLE))),
}
#: Per-role device options: default and check (SunSpec devices take the _SUNSPEC ones too).
DEVICE_OPTIONS: dict[str, dict[str, tuple[Any, Check]]] = {
    "inverter": _INVERTER,
    "load": {"p_kw": (0.5, _number(0, 1e6))},
    "meter": {},
    "grid_simulator": {},
}
#: A SunSpec inverter has no profile range to take its rating from.
SUNSPEC_INVERTER = {"rating_kw": (5.0, _number(0, 1e6, lo_open=True)),
                    "sunspec_models": (list(INVERTER_MODELS), _int_list(None, 1, 65534))}
SUNSPEC_METER = {"sunspec_models": (list(METER_MODELS), _int_list(None, 1, 65534))}


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    profile: Profile
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def sunspec(self) -> SunSpecOptions | None:
        """How its SunSpec map is laid out (None for SCPI devices)."""
        if self.profile.transport != "sunspec":
            return None
        o = self.options
        manufacturer, model = (f.strip() for f in self.profile.idn.split(",")[:2])
        return SunSpecOptions(
            base_address=o["base_address"],
            unit_id=o["unit_id"],
            models=tuple(o["sunspec_models"]),
            write_only=tuple(o["write_only"]),
            write_functions=tuple(o["write_functions"]),
            identity=(manufacturer, model, f"EMU-{self.name}", "1.0"),
        )


@dataclass(frozen=True)
class EmulatorConfig:
    devices: tuple[DeviceSpec, ...]
    seed: int = 1
    start: datetime = datetime(2016, 6, 21, 12)
    clock: str = "wall"
    v_nominal: float = 230.0
    f_nominal: float = 50.0
    v_per_kw: float = 0.4
    noise: float = 0.001
    physics_step_s: float = 1.0  # the longest integration step; coarser runs faster


def load_config(source: Path | str | dict[str, Any] | None) -> EmulatorConfig:
    """The built-in bench (None), a TOML file, or an already parsed dict."""
    if source is None:
        path = Path(str(resources.files("instruments.emulator") / DEFAULT_CONFIG))
        return parse_config(read_toml(path, "emulator config"), "built-in emulator config")
    if isinstance(source, dict):
        return parse_config(source, "emulator config")
    path = Path(source)
    return parse_config(read_toml(path, "emulator config"), str(path))


def parse_config(data: dict[str, Any], where: str) -> EmulatorConfig:
    """Check every key; raise one error listing every problem found."""
    errors: list[str] = []
    unknown_tables = sorted(set(data) - {"emulator", "device"})
    if unknown_tables:
        errors.append(f"unknown tables {unknown_tables}")
    settings = data.get("emulator", {})
    if not isinstance(settings, dict):
        errors.append("[emulator] must be a table")
        settings = {}
    values = _checked(settings, GLOBALS, "[emulator] ", errors)
    entries = data.get("device", [])
    if not isinstance(entries, list) or not entries:
        errors.append("needs at least one [[device]]")
        entries = []
    specs = [spec for i, e in enumerate(entries) if (spec := _device(i, e, errors))]
    names = [s.name for s in specs]
    if len(set(names)) != len(names) or "control" in names:
        errors.append("device names must be unique and not 'control'")
    if errors:
        raise ProfileError(f"{where}: {'; '.join(errors)}")
    if isinstance(values["start"], str):
        values["start"] = datetime.fromisoformat(values["start"])
    return EmulatorConfig(devices=tuple(specs), **values)


def _checked(table: dict[str, Any], specs: dict[str, tuple[Any, Check]], prefix: str,
             errors: list[str]) -> dict[str, Any]:
    unknown = sorted(set(table) - set(specs))
    if unknown:
        errors.append(f"{prefix}unknown keys {unknown} (known: {sorted(specs)})")
    out = {}
    for key, (default, check) in specs.items():
        value = table.get(key, default)
        problem = check(value) if key in table else None
        if problem:
            errors.append(f"{prefix}{key} {problem}")
        out[key] = value
    return out


def _device(index: int, entry: Any, errors: list[str]) -> DeviceSpec | None:
    if not isinstance(entry, dict) or "name" not in entry or "profile" not in entry:
        errors.append(f"[[device]] {index + 1} needs a name and a profile")
        return None
    name = str(entry["name"])
    try:
        profile = load_profile(entry["profile"])
    except ProfileError as exc:
        errors.append(f"device {name!r}: {exc}")
        return None
    role = profile.role
    specs = dict(DEVICE_OPTIONS[role])
    if profile.transport == "sunspec":
        if role not in ("inverter", "meter"):
            errors.append(f"device {name!r}: SunSpec emulates inverters and meters only")
            return None
        specs |= _SUNSPEC | (SUNSPEC_INVERTER if role == "inverter" else SUNSPEC_METER)
    table = {k: v for k, v in entry.items() if k not in ("name", "profile")}
    before = len(errors)
    options = _checked(table, specs, f"device {name!r} ({role}): ", errors)
    if len(errors) == before and profile.transport == "sunspec":
        _check_sunspec(name, options, errors)
    return DeviceSpec(name, profile, options)


def _check_sunspec(name: str, options: dict[str, Any], errors: list[str]) -> None:
    ids = options["sunspec_models"]
    if ids[0] != 1:
        errors.append(f"device {name!r}: sunspec_models must start with the common model 1")
        return
    known: set[str] = set()
    for model_id in ids:
        try:
            known |= set(fixed_layout(model_id).points)
        except ProfileError as exc:
            errors.append(f"device {name!r}: sunspec_models: {exc}")
    unknown = sorted(set(options["write_only"]) - known)
    if unknown:
        errors.append(f"device {name!r}: write_only names no point of its models: {unknown}")
