"""Instrument profiles: one TOML file per instrument model (in this folder); pyvisa-sim.yaml here
holds simulated doubles of the emulated devices.

A new model is a new profile, not new code. The role (inverter, meter, grid_simulator, load)
fixes which operations exist and in which unit the driver API speaks (kW, kvar, V, A, Hz, kWh).
An operation is transport-neutral (kind, quantity, device unit and range); how it reaches the
device depends on the profile's transport:

* ``scpi``: the profile gives each operation's command template (``ScpiCommand``);
* ``sunspec`` (Modbus TCP): the SunSpec standard fixes the register map, so the operations'
  candidate points come from ``instruments.sunspec.points`` and the profile only records the
  device's quirks in ``[sunspec]`` (base addresses, write function code, write-only points).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from instruments.errors import ProfileError
from instruments.sunspec.models import BASE_ADDRESSES
from instruments.sunspec.points import ROLE_TARGETS, Target

ROLES = ("inverter", "meter", "grid_simulator", "load")
TRANSPORTS = ("scpi", "sunspec")
#: Modbus function codes a SunSpec profile may fix for writes; "auto" tries 16 and falls back
#: to 06 when the device answers ILLEGAL FUNCTION.
WRITE_FUNCTIONS = {"auto": 0, "16": 16, "6": 6}

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
class ScpiCommand:
    """How an operation reaches an SCPI device: its command template and reply tokens."""

    template: str
    on: str = "1"
    off: str = "0"
    reply_format: str = "{:.6E}"

    def format(self, device_value: float | None = None) -> str:
        """The SCPI text with ``device_value`` put in."""
        return self.template.format(value=device_value)

    def quantize(self, device_value: float) -> float:
        """``device_value`` as the device receives it, after the template's number format."""
        match = _FIELD.search(self.template)
        if match is None:
            raise ProfileError(f"command {self.template!r} takes no value")
        return float(match.group(0).format(value=device_value))


@dataclass(frozen=True)
class Operation:
    """One operation of a profile: kind, quantity, device unit and range, and its address on
    the profile's transport (an SCPI command, or SunSpec candidate points)."""

    name: str
    kind: str
    quantity: str
    unit: str = "1"
    minimum: float | None = None
    maximum: float | None = None
    scale: float = 1.0
    scpi: ScpiCommand | None = None
    sunspec: tuple[Target, ...] = ()

    @property
    def factor(self) -> float:
        """Multiply a device value by this to get the driver API value (unit and sign)."""
        return UNITS[self.unit][1] * self.scale


@dataclass(frozen=True)
class SunSpecSettings:
    """A SunSpec device's quirks: where its map may start, which write function code it
    accepts (0: try 16, fall back to 06), and points it accepts but never reads back."""

    base_addresses: tuple[int, ...] = BASE_ADDRESSES
    write_function: int = 0
    write_only: tuple[str, ...] = ()
    prefer: str = "der"


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
    transport: str = "scpi"
    sunspec: SunSpecSettings | None = None

    def op(self, name: str) -> Operation:
        """The operation ``name``, or a clear error naming the profile."""
        try:
            return self.ops[name]
        except KeyError:
            raise ProfileError(f"profile {self.name!r} has no operation {name!r}") from None

    def idn_matches(self, reply: str) -> bool:
        """Whether an identity (``*IDN?`` reply, or SunSpec ``Mn,Md,...``) names this profile's
        manufacturer and model; ``*`` in the profile matches any."""
        want = [f.strip().upper() for f in self.idn.split(",")[:2]]
        got = [f.strip().upper() for f in reply.split(",")[:2]]
        return len(got) == len(want) and all(w in ("*", g) for w, g in zip(want, got))


def profile_dir() -> Path:
    """The folder of the profiles shipped with the package."""
    return Path(str(resources.files("instruments.profiles")))


def profile_names() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in profile_dir().glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    if not isinstance(name_or_path, str | Path):
        raise ProfileError(f"a profile is a name or a .toml path, not {name_or_path!r}")
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = profile_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            known = ", ".join(profile_names())
            raise ProfileError(f"unknown profile {str(name_or_path)!r} (shipped: {known})")
    return parse_profile(path.stem, read_toml(path, "profile file"))


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's table, or one line naming the file and why it cannot be read."""
    if not path.is_file():
        raise ProfileError(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not a text file (TOML is UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None


def parse_profile(name: str, data: dict[str, Any]) -> Profile:
    """Check a profile's parsed TOML against its role's operations."""
    inst = _table(data, "instrument", name)
    role = inst.get("role")
    if not isinstance(role, str) or role not in ROLE_OPS:
        raise ProfileError(f"profile {name!r}: role must be one of {', '.join(ROLES)}")
    transport = inst.get("transport", "scpi")
    if not isinstance(transport, str) or transport not in TRANSPORTS:
        raise ProfileError(f"profile {name!r}: transport must be one of {', '.join(TRANSPORTS)}")
    if transport == "sunspec":
        ops, sunspec = _sunspec_ops(name, role, data), _sunspec_settings(name, data)
    else:
        ops, sunspec = _scpi_ops(name, role, data), None
    scpi = data.get("scpi", {})
    if not isinstance(scpi, dict):
        raise ProfileError(f"profile {name!r}: [scpi] must be a table")
    _check_keys(name, data, inst, scpi)
    try:
        return Profile(
            name=name,
            model=str(inst["model"]),
            role=role,
            idn=str(inst["idn"]),
            tested_on_hardware=bool(inst["tested_on_hardware"]),
            read_termination=str(inst.get("read_termination", "\n")),
            write_termination=str(inst.get("write_termination", "\n")),
            timeout_ms=_timeout(name, inst.get("timeout_ms", 1000)),
            error_query=scpi.get("error_query"),
            init=tuple(scpi.get("init", ())),
            ops=ops,
            source=str(inst.get("source", "")),
            transport=transport,
            sunspec=sunspec,
        )
    except KeyError as exc:
        raise ProfileError(f"profile {name!r}: [instrument] needs {exc.args[0]!r}") from None


_TABLES = {"instrument", "scpi", "ops", "sunspec"}
_INSTRUMENT_KEYS = {
    "model", "role", "transport", "idn", "tested_on_hardware", "source", "timeout_ms",
    "read_termination", "write_termination",
}
_TEXT_KEYS = ("model", "idn", "source", "read_termination", "write_termination")
_OP_KEYS = {"command", "unit", "min", "max", "on", "off", "reply_format", "scale"}


def _check_keys(
    name: str, data: dict[str, Any], inst: dict[str, Any], scpi: dict[str, Any]
) -> None:
    """Every key is read or refused: a misspelt one must not pass silently."""
    where = f"profile {name!r}"
    for label, table, known in (
        ("tables", data, _TABLES),
        ("[instrument] keys", inst, _INSTRUMENT_KEYS),
        ("[scpi] keys", scpi, {"error_query", "init"}),
    ):
        unknown = sorted(set(table) - known)
        if unknown:
            raise ProfileError(f"{where}: unknown {label} {unknown} (known: {sorted(known)})")
    bad = [k for k in _TEXT_KEYS if k in inst and not isinstance(inst[k], str)]
    if bad or not isinstance(inst.get("tested_on_hardware", False), bool):
        raise ProfileError(f"{where}: {bad or ['tested_on_hardware']} must be text (true/false)")
    init = scpi.get("init", [])
    if not isinstance(init, list) or not all(isinstance(c, str) and c.strip() for c in init):
        raise ProfileError(f"{where}: [scpi] init must be a list of commands")
    if not isinstance(scpi.get("error_query", ""), str):
        raise ProfileError(f"{where}: [scpi] error_query must be a command")


def _timeout(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 600_000:
        raise ProfileError(f"profile {name!r}: timeout_ms must be an integer 1..600000")
    return value


def _scpi_ops(name: str, role: str, data: dict[str, Any]) -> dict[str, Operation]:
    ops_data = _table(data, "ops", name)
    allowed = ROLE_OPS[role]
    unknown = sorted(set(ops_data) - set(allowed))
    if unknown:
        raise ProfileError(f"profile {name!r}: unknown {role} operations {unknown}")
    missing = sorted(op for op, (_, _, req) in allowed.items() if req and op not in ops_data)
    if missing:
        raise ProfileError(f"profile {name!r}: missing {role} operations {missing}")
    return {op: _operation(name, op, *allowed[op][:2], spec) for op, spec in ops_data.items()}


def _sunspec_ops(name: str, role: str, data: dict[str, Any]) -> dict[str, Operation]:
    if "ops" in data:
        raise ProfileError(
            f"profile {name!r}: a SunSpec profile has no [ops]: the standard fixes its points"
        )
    if role not in ROLE_TARGETS:
        raise ProfileError(f"profile {name!r}: SunSpec serves inverters and meters, not {role}")
    allowed = ROLE_OPS[role]
    return {
        op: Operation(op, allowed[op][0], allowed[op][1], sunspec=targets)
        for op, targets in ROLE_TARGETS[role].items()
    }


def _sunspec_settings(name: str, data: dict[str, Any]) -> SunSpecSettings:
    table = data.get("sunspec", {})
    where = f"profile {name!r} [sunspec]"
    if not isinstance(table, dict):
        raise ProfileError(f"{where} must be a table")
    known = {"base_addresses", "write_function", "write_only", "prefer"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ProfileError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
    bases = table.get("base_addresses", list(BASE_ADDRESSES))
    if not isinstance(bases, list) or not bases or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 65535 for b in bases
    ):
        raise ProfileError(f"{where}: base_addresses must be register numbers 0..65535")
    function = str(table.get("write_function", "auto"))
    if function not in WRITE_FUNCTIONS:
        raise ProfileError(f"{where}: write_function must be one of {list(WRITE_FUNCTIONS)}")
    write_only = table.get("write_only", [])
    if not isinstance(write_only, list) or not all(isinstance(p, str) for p in write_only):
        raise ProfileError(f"{where}: write_only must be a list of point names")
    prefer = table.get("prefer", "der")
    if prefer not in ("der", "legacy"):
        raise ProfileError(f"{where}: prefer must be 'der' (models 70x) or 'legacy' (123)")
    return SunSpecSettings(tuple(bases), WRITE_FUNCTIONS[function], tuple(write_only), prefer)


def _table(data: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    table = data.get(key)
    if not isinstance(table, dict):
        raise ProfileError(f"profile {name!r}: missing table [{key}]")
    return table


def _operation(profile: str, op: str, kind: str, quantity: str, spec: Any) -> Operation:
    where = f"profile {profile!r} operation {op!r}"
    if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
        raise ProfileError(f"{where}: needs a command string")
    unknown = sorted(set(spec) - _OP_KEYS)
    if unknown:
        raise ProfileError(f"{where}: unknown keys {unknown} (known: {sorted(_OP_KEYS)})")
    if not all(isinstance(spec.get(k, ""), str) for k in ("unit", "on", "off", "reply_format")):
        raise ProfileError(f"{where}: unit, on, off and reply_format must be text")
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
    if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
        raise ProfileError(f"{where}: min {lo} is above max {hi}")
    for key, bound in (("min", lo), ("max", hi)):
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, int | float)
            or not math.isfinite(bound)
        ):
            raise ProfileError(f"{where}: {key} must be a finite number, not {bound!r}")
    return Operation(
        name=op,
        kind=kind,
        quantity=quantity,
        unit=unit,
        minimum=None if lo is None else float(lo),
        maximum=None if hi is None else float(hi),
        scale=_scale(where, spec.get("scale", 1.0)),
        scpi=ScpiCommand(
            template=command,
            on=str(spec.get("on", "1")),
            off=str(spec.get("off", "0")),
            reply_format=str(spec.get("reply_format", "{:.6E}")),
        ),
    )


def _scale(where: str, value: Any) -> float:
    """An op's extra factor, e.g. -1 for a device that reports exported energy as negative."""
    if (
        isinstance(value, bool) or not isinstance(value, int | float)
        or value == 0 or not math.isfinite(value)
    ):
        raise ProfileError(f"{where}: scale must be a non-zero number")
    return float(value)
