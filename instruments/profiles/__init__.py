"""Instrument profiles: one TOML file per instrument model (in this folder) maps each operation
to its SCPI text; pyvisa-sim.yaml here holds simulated doubles of the emulated devices.

A new model is a new profile, not new code. The role (inverter, meter, grid_simulator, load)
fixes which operations exist and in which unit the driver API speaks (kW, kvar, V, A, Hz, kWh);
the profile gives each operation's command template, the device's unit and its accepted range.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from instruments.errors import ProfileError

ROLES = ("inverter", "meter", "grid_simulator", "load")

#: Device unit -> (quantity, factor from the device unit to the driver API unit).
UNITS: dict[str, tuple[str, float]] = {
    "W": ("power", 1e-3),
    "kW": ("power", 1.0),
    "MW": ("power", 1e3),
    "var": ("reactive", 1e-3),
    "kvar": ("reactive", 1.0),
    "V": ("voltage", 1.0),
    "kV": ("voltage", 1e3),
    "A": ("current", 1.0),
    "mA": ("current", 1e-3),
    "Hz": ("frequency", 1.0),
    "Wh": ("energy", 1e-3),
    "kWh": ("energy", 1.0),
    "MWh": ("energy", 1e3),
    "1": ("ratio", 1.0),
}

# Operation kinds: "action" (no value), "set" (one value), "read" (a query with one reply).
_A, _S, _R = "action", "set", "read"

#: role -> operation -> (kind, quantity, required). Quantity "state" replies are booleans.
ROLE_OPS: dict[str, dict[str, tuple[str, str, bool]]] = {
    "inverter": {
        "enable": (_A, "", True),
        "disable": (_A, "", True),
        "set_active_power": (_S, "power", True),
        "set_reactive_power": (_S, "reactive", False),
        "set_power_factor": (_S, "ratio", False),
        "read_active_power": (_R, "power", True),
        "read_reactive_power": (_R, "reactive", True),
        "read_voltage": (_R, "voltage", True),
        "read_frequency": (_R, "frequency", True),
        "read_state": (_R, "state", True),
    },
    "meter": {
        "read_voltage": (_R, "voltage", True),
        "read_current": (_R, "current", True),
        "read_active_power": (_R, "power", True),
        "read_reactive_power": (_R, "reactive", True),
        "read_frequency": (_R, "frequency", False),
        "read_energy_import": (_R, "energy", True),
        "read_energy_export": (_R, "energy", True),
        "reset_integration": (_A, "", True),
        "start_integration": (_A, "", True),
        "stop_integration": (_A, "", False),
    },
    "grid_simulator": {
        "enable": (_A, "", True),
        "disable": (_A, "", True),
        "set_voltage": (_S, "voltage", True),
        "set_frequency": (_S, "frequency", True),
        "read_voltage": (_R, "voltage", True),
        "read_frequency": (_R, "frequency", True),
        "read_active_power": (_R, "power", False),
        "read_state": (_R, "state", False),
    },
    "load": {
        "enable": (_A, "", True),
        "disable": (_A, "", True),
        "set_power": (_S, "power", True),
        "read_active_power": (_R, "power", True),
        "read_state": (_R, "state", False),
    },
}

_FIELD = re.compile(r"\{value(?::[^}]*)?\}")


@dataclass(frozen=True)
class Operation:
    """One operation of a profile: its SCPI template, device unit and accepted range."""

    name: str
    kind: str
    quantity: str
    command: str
    unit: str = "1"
    minimum: float | None = None
    maximum: float | None = None
    on: str = "1"
    off: str = "0"
    reply_format: str = "{:.6E}"
    scale: float = 1.0

    @property
    def factor(self) -> float:
        """Multiply a device value by this to get the driver API value (unit and sign)."""
        return UNITS[self.unit][1] * self.scale

    def format_command(self, device_value: float | None = None) -> str:
        """The SCPI text for this operation with ``device_value`` put in."""
        return self.command.format(value=device_value)

    def wire_value(self, api_value: float) -> float:
        """``api_value`` as the device receives it, after the command's number format."""
        match = _FIELD.search(self.command)
        if match is None:
            raise ProfileError(f"operation {self.name!r} takes no value")
        return float(match.group(0).format(value=api_value / self.factor)) * self.factor


@dataclass(frozen=True)
class Profile:
    """An instrument model: identity, I/O settings, error queue and its operations."""

    name: str
    model: str
    role: str
    idn: str
    tested_on_hardware: bool
    read_termination: str
    write_termination: str
    timeout_ms: int
    error_query: str | None
    init: tuple[str, ...]
    ops: dict[str, Operation]
    source: str = ""

    def op(self, name: str) -> Operation:
        """The operation ``name``, or a clear error naming the profile."""
        try:
            return self.ops[name]
        except KeyError:
            raise ProfileError(f"profile {self.name!r} has no operation {name!r}") from None

    def idn_matches(self, reply: str) -> bool:
        """Whether a ``*IDN?`` reply names this profile's manufacturer and model."""
        want = [f.strip().upper() for f in self.idn.split(",")[:2]]
        got = [f.strip().upper() for f in reply.split(",")[:2]]
        return got == want


def profile_dir() -> Path:
    """The folder of the profiles shipped with the package."""
    return Path(str(resources.files("instruments.profiles")))


def profile_names() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in profile_dir().glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = profile_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(profile_names())
            raise ProfileError(f"unknown profile {str(name_or_path)!r} (shipped: {known})")
    if not path.is_file():
        raise ProfileError(f"profile file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(path.stem, data)


def parse_profile(name: str, data: dict[str, Any]) -> Profile:
    """Check a profile's parsed TOML against its role's operations."""
    inst = _table(data, "instrument", name)
    role = inst.get("role")
    if role not in ROLE_OPS:
        raise ProfileError(f"profile {name!r}: role must be one of {', '.join(ROLES)}")
    scpi = data.get("scpi", {})
    ops_data = _table(data, "ops", name)
    allowed = ROLE_OPS[role]
    unknown = sorted(set(ops_data) - set(allowed))
    if unknown:
        raise ProfileError(f"profile {name!r}: unknown {role} operations {unknown}")
    missing = sorted(op for op, (_, _, req) in allowed.items() if req and op not in ops_data)
    if missing:
        raise ProfileError(f"profile {name!r}: missing {role} operations {missing}")
    ops = {op: _operation(name, op, *allowed[op][:2], spec) for op, spec in ops_data.items()}
    try:
        return Profile(
            name=name,
            model=str(inst["model"]),
            role=role,
            idn=str(inst["idn"]),
            tested_on_hardware=bool(inst["tested_on_hardware"]),
            read_termination=str(inst.get("read_termination", "\n")),
            write_termination=str(inst.get("write_termination", "\n")),
            timeout_ms=int(inst.get("timeout_ms", 1000)),
            error_query=scpi.get("error_query"),
            init=tuple(scpi.get("init", ())),
            ops=ops,
            source=str(inst.get("source", "")),
        )
    except KeyError as exc:
        raise ProfileError(f"profile {name!r}: [instrument] needs {exc.args[0]!r}") from None


def _table(data: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    table = data.get(key)
    if not isinstance(table, dict):
        raise ProfileError(f"profile {name!r}: missing table [{key}]")
    return table


def _operation(profile: str, op: str, kind: str, quantity: str, spec: Any) -> Operation:
    where = f"profile {profile!r} operation {op!r}"
    if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
        raise ProfileError(f"{where}: needs a command string")
    command = spec["command"]
    fields = len(_FIELD.findall(command))
    if fields != (1 if kind == "set" else 0) or command.count("{") != fields:
        need = "exactly one {value} field" if kind == "set" else "no {value} field"
        raise ProfileError(f"{where}: command {command!r} needs {need}")
    if (kind == "read") != command.split()[0].endswith("?"):
        raise ProfileError(f"{where}: only read operations are queries ending in '?'")
    unit = spec.get("unit", "1")
    if quantity in ("", "state"):
        unit = "1"
    elif UNITS.get(unit, ("",))[0] != quantity:
        raise ProfileError(f"{where}: unit {unit!r} is not a unit of {quantity}")
    if kind == "set":
        try:
            float(_FIELD.search(command).group(0).format(value=-1.5))  # type: ignore[union-attr]
        except ValueError:
            raise ProfileError(f"{where}: {command!r} must format a decimal number") from None
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and hi is not None and lo > hi:
        raise ProfileError(f"{where}: min {lo} is above max {hi}")
    return Operation(
        name=op,
        kind=kind,
        quantity=quantity,
        command=command,
        unit=unit,
        minimum=None if lo is None else float(lo),
        maximum=None if hi is None else float(hi),
        on=str(spec.get("on", "1")),
        off=str(spec.get("off", "0")),
        reply_format=str(spec.get("reply_format", "{:.6E}")),
        scale=_scale(where, spec.get("scale", 1.0)),
    )


def _scale(where: str, value: Any) -> float:
    """An op's extra factor, e.g. -1 for a device that reports exported energy as negative."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value == 0:
        raise ProfileError(f"{where}: scale must be a non-zero number")
    return float(value)
