"""Scenario files (TOML): what to run, validated up front with errors that name the bad key.

A scenario says which feeder, which homes have PV and batteries, which homes are physical
(instruments: VISA resource, profile, limits), the market's rules, the time span and pace, and
where the ledger goes. The default scenario ships in the package (`scenarios/default.toml`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from testbed.errors import InputError
from testbed.market.params import MarketParams
from testbed.market.strategies import LOAD_FORECAST_ERROR, PV_FORECAST_ERROR

DEFAULT = "default"


@dataclass(frozen=True)
class GridSpec:
    feeder: str
    vm_min_pu: float = 0.90
    vm_max_pu: float = 1.10
    max_line_loading_percent: float = 100.0
    max_trafo_loading_percent: float = 100.0


@dataclass(frozen=True)
class TimeSpec:
    start: datetime
    duration_hours: float = 24.0
    real_time_factor: float = 60.0
    control_step_s: float = 1.0


@dataclass(frozen=True)
class MarketSpec:
    """The market's rules; unset ones take the contract's defaults (`MarketParams`)."""

    interval_s: int = MarketParams.interval_seconds
    gate_closure_s: int = MarketParams.gate_closure_seconds
    mechanism: str = "pay_as_clear"
    feed_in_price: int = MarketParams.feed_in_price
    retail_price: int = MarketParams.retail_price
    shortfall_penalty: int = MarketParams.shortfall_penalty


@dataclass(frozen=True)
class HouseholdSpec:
    seed: int = 0
    pv_share: float = 0.35
    pv_kwp_min: float = 4.0
    pv_kwp_max: float = 12.0
    battery_share: float = 0.15
    battery_kwh: float = 10.0
    battery_kw: float = 5.0
    load_forecast_error: float = LOAD_FORECAST_ERROR
    pv_forecast_error: float = PV_FORECAST_ERROR
    deposit: int = 200_000
    homes: tuple[HomeSpec, ...] = ()  # explicit homes, overriding the seeded assignment


STRATEGIES = ("household", "pv_owner", "battery_owner")


@dataclass(frozen=True)
class HomeSpec:
    """One home set by hand (``[[households.home]]``): its PV, battery or strategy. Its bus
    and load profile are those of its load on the feeder (home-NN is load NN)."""

    name: str
    strategy: str | None = None
    pv_kwp: float | None = None
    battery_kwh: float | None = None


@dataclass(frozen=True)
class DeviceSpec:
    """One instrument of a physical home: where it is, how it speaks, what it may be told."""

    resource: str  # a VISA resource string, or "emulated" for the built-in simulated device
    profile: str
    limits: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PhysicalSpec:
    home: str
    inverter: DeviceSpec
    meter: DeviceSpec
    grid_simulator: DeviceSpec | None = None  # holds the bus voltage of the feeder model


@dataclass(frozen=True)
class LedgerSpec:
    path: str = "ledger.sqlite"
    validators: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    grid: GridSpec
    time: TimeSpec
    market: MarketSpec
    households: HouseholdSpec
    physical: tuple[PhysicalSpec, ...]
    ledger: LedgerSpec
    source: str

    @property
    def start_s(self) -> int:
        return int(self.time.start.timestamp())

    @property
    def intervals(self) -> int:
        return int(self.time.duration_hours * 3600) // self.market.interval_s

    def with_days(self, days: float) -> Scenario:
        from dataclasses import replace

        return replace(self, time=replace(self.time, duration_hours=days * 24))


_LIMIT_KEYS = ("max_export_kw", "max_import_kw", "ramp_kw_per_s", "v_min", "v_max")
_MECHANISMS = ("pay_as_clear", "pay_as_bid")


def load_scenario(spec: str | Path | None = None) -> Scenario:
    """The scenario at ``spec`` (a TOML path), or the shipped default when None/"default"."""
    if spec is None or str(spec) == DEFAULT:
        text = resources.files("testbed.scenarios").joinpath("default.toml").read_text()
        return parse_scenario(tomllib.loads(text), "default scenario")
    path = Path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such scenario file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    return parse_scenario(data, str(path))


def parse_scenario(data: dict[str, Any], source: str) -> Scenario:
    """Validate a parsed TOML document; the first problem raises InputError naming its key."""
    t = _Table(data, source, "")
    name = t.take("name", str, "scenario")
    grid = t.table("grid")
    time = t.table("time")
    market = t.table("market", optional=True)
    homes = t.table("households", optional=True)
    ledger = t.table("ledger", optional=True)
    physical = [t.sub(f"physical[{i}]", p) for i, p in enumerate(t.take("physical", list, []))]
    t.done()

    start_text = time.take("start", str)
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise time.error("start", f"not an ISO 8601 time: {start_text!r}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)

    scenario = Scenario(
        name=name,
        grid=GridSpec(**grid.fields(GridSpec, required=("feeder",))),
        time=TimeSpec(start=start, **time.fields(TimeSpec, skip=("start",))),
        market=MarketSpec(**market.fields(MarketSpec)),
        households=HouseholdSpec(
            homes=tuple(_home(homes.sub(f"home[{i}]", h))
                        for i, h in enumerate(homes.take("home", list, []))),
            **homes.fields(HouseholdSpec, skip=("homes",)),
        ),
        physical=tuple(_physical(p) for p in physical),
        ledger=LedgerSpec(**ledger.fields(LedgerSpec)),
        source=source,
    )
    _check(scenario, t)
    return scenario


def _home(t: _Table) -> HomeSpec:
    home = HomeSpec(
        name=t.take("name", str),
        strategy=t.take("strategy", str, None),
        pv_kwp=_float_or_none(t.take("pv_kwp", (int, float), None)),
        battery_kwh=_float_or_none(t.take("battery_kwh", (int, float), None)),
    )
    t.done()
    if home.strategy is not None and home.strategy not in STRATEGIES:
        raise t.error("strategy", f"one of {', '.join(STRATEGIES)}")
    if (home.pv_kwp or 0) < 0 or (home.battery_kwh or 0) < 0:
        raise t.error("pv_kwp", "sizes must not be negative")
    return home


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def _physical(t: _Table) -> PhysicalSpec:
    home = t.take("home", str)
    devices = {}
    for role in ("inverter", "meter", "grid_simulator"):
        if role == "grid_simulator" and role not in t.data:
            continue
        d = t.table(role)
        resource, profile = d.take("resource", str), d.take("profile", str)
        limits = {k: float(d.take(k, (int, float))) for k in _LIMIT_KEYS if k in d.data}
        d.done()
        devices[role] = DeviceSpec(resource, profile, limits)
    t.done()
    return PhysicalSpec(home, devices["inverter"], devices["meter"], devices.get("grid_simulator"))


def _check(s: Scenario, t: _Table) -> None:
    def bad(key: str, why: str) -> InputError:
        return InputError(f"{t.source}: {key}: {why}")

    if not 0 < s.grid.vm_min_pu < 1 < s.grid.vm_max_pu < 2:
        raise bad("grid.vm_min_pu/vm_max_pu", "need 0 < vm_min_pu < 1 < vm_max_pu < 2")
    if s.time.duration_hours <= 0 or s.time.real_time_factor <= 0 or s.time.control_step_s <= 0:
        raise bad("time", "duration_hours, real_time_factor and control_step_s must be positive")
    if s.market.mechanism not in _MECHANISMS:
        raise bad("market.mechanism", f"one of {', '.join(_MECHANISMS)}")
    if s.market.interval_s <= 0 or 86_400 % s.market.interval_s:
        raise bad("market.interval_s", "must divide a day into whole intervals")
    if not 0 <= s.market.gate_closure_s < s.market.interval_s:
        raise bad("market.gate_closure_s", "must be in 0..interval_s")
    h = s.households
    if not (0 <= h.pv_share <= 1 and 0 <= h.battery_share <= 1):
        raise bad("households", "pv_share and battery_share are fractions in 0..1")
    if not 0 < h.pv_kwp_min <= h.pv_kwp_max:
        raise bad("households.pv_kwp_min", "need 0 < pv_kwp_min <= pv_kwp_max")
    if min(h.load_forecast_error, h.pv_forecast_error, h.deposit) < 0:
        raise bad("households", "forecast errors and deposit must not be negative")
    if s.ledger.validators < 1:
        raise bad("ledger.validators", "at least one")
    homes = [p.home for p in s.physical]
    if len(set(homes)) != len(homes):
        raise bad("physical", "a home is listed twice")


class _Table:
    """A TOML table being read: every key must be known, every value of the right type."""

    def __init__(self, data: Any, source: str, prefix: str) -> None:
        if not isinstance(data, dict):
            raise InputError(f"{source}: {prefix.rstrip('.') or 'document'}: expected a table")
        self.data, self.source, self.prefix, self.seen = data, source, prefix, set()

    def error(self, key: str, why: str) -> InputError:
        return InputError(f"{self.source}: {self.prefix}{key}: {why}")

    def take(self, key: str, types: Any, default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, "missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = types.__name__ if isinstance(types, type) else "/".join(x.__name__ for x in types)
            raise self.error(key, f"expected {names}, got {value!r}")
        return value

    def table(self, key: str, optional: bool = False) -> _Table:
        return _Table(self.take(key, dict, {} if optional else ...), self.source,
                      f"{self.prefix}{key}.")

    def sub(self, name: str, data: Any) -> _Table:
        return _Table(data, self.source, f"{self.prefix}{name}.")

    def fields(self, cls: type, required: tuple[str, ...] = (), skip: tuple[str, ...] = ()
               ) -> dict[str, Any]:
        out = {}
        for f in cls.__dataclass_fields__.values():
            if f.name in skip:
                continue
            kind = {"float": (int, float), "int": int, "str": str}[str(f.type)]
            if f.name in required or f.name in self.data:
                value = self.take(f.name, kind)
                out[f.name] = float(value) if str(f.type) == "float" else value
        self.seen.update(skip)
        self.done()
        return out

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")
