"""The emulated bench's configuration (TOML): global physics settings and its devices."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from instruments.errors import ProfileError
from instruments.profiles import Profile, load_profile

DEFAULT_CONFIG = "default.toml"
_GLOBAL_KEYS = {
    "seed", "start", "clock", "v_nominal", "f_nominal", "v_per_kw", "noise", "physics_step_s"
}
#: Per-role device options and their defaults.
DEVICE_OPTIONS: dict[str, dict[str, Any]] = {
    "inverter": {"ramp_kw_per_s": 1.0, "pv": "clear-sky", "pv_peak_kw": None},
    "load": {"p_kw": 0.5},
    "meter": {},
    "grid_simulator": {},
}


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    profile: Profile
    options: dict[str, Any] = field(default_factory=dict)


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
        text = (resources.files("instruments.emulator") / DEFAULT_CONFIG).read_text()
        return parse_config(tomllib.loads(text), "built-in emulator config")
    if isinstance(source, dict):
        return parse_config(source, "emulator config")
    path = Path(source)
    if not path.is_file():
        raise ProfileError(f"emulator config not found: {path}")
    try:
        return parse_config(tomllib.loads(path.read_text()), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None


def parse_config(data: dict[str, Any], where: str) -> EmulatorConfig:
    settings = dict(data.get("emulator", {}))
    unknown = sorted(set(settings) - _GLOBAL_KEYS)
    if unknown:
        raise ProfileError(f"{where}: unknown [emulator] keys {unknown}")
    if isinstance(settings.get("start"), str):
        settings["start"] = datetime.fromisoformat(settings["start"])
    devices = data.get("device", [])
    if not isinstance(devices, list) or not devices:
        raise ProfileError(f"{where}: needs at least one [[device]]")
    specs = tuple(_device(d, where) for d in devices)
    names = [s.name for s in specs]
    if len(set(names)) != len(names) or "control" in names:
        raise ProfileError(f"{where}: device names must be unique and not 'control'")
    try:
        return EmulatorConfig(devices=specs, **settings)
    except TypeError as exc:
        raise ProfileError(f"{where}: {exc}") from None


def _device(entry: Any, where: str) -> DeviceSpec:
    if not isinstance(entry, dict) or "name" not in entry or "profile" not in entry:
        raise ProfileError(f"{where}: each [[device]] needs a name and a profile")
    name = str(entry["name"])
    profile = load_profile(entry["profile"])
    defaults = DEVICE_OPTIONS[profile.role]
    extra = sorted(set(entry) - {"name", "profile"} - set(defaults))
    if extra:
        raise ProfileError(f"{where}: device {name!r} ({profile.role}) has unknown keys {extra}")
    options = {k: entry.get(k, v) for k, v in defaults.items()}
    return DeviceSpec(name, profile, options)
