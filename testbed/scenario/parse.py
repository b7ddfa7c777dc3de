"""Reading a scenario: every key known, every value of its type, finite and in its range, and
every problem reported at once, each naming its key (power-grid-model's habit): one
`ScenarioError` that lists them, so one edit of the file fixes them all.

Command-line options that replace a key (`--days`, `--rtf`, `--control-step`) are checked by
the same rules and named by the option in a problem.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from grid_models.phases import PHASE_SETTINGS, PHASES
from testbed.agents.loading import parse_strategy
from testbed.agents.tariff import parse_grid_fee
from testbed.errors import LedgerError, ScenarioError
from testbed.ledger.params import MAX_VALIDATORS
from testbed.market.params import MAX_MONEY, MarketParams
from testbed.scenario.spec import (
    STRATEGIES,
    DeviceSpec,
    GridSpec,
    HomeSpec,
    HouseholdSpec,
    LedgerSpec,
    MarketSpec,
    PhysicalSpec,
    Scenario,
    TimeSpec,
)

DEFAULT = "default"
LIMIT_KEYS = ("max_export_kw", "max_import_kw", "ramp_kw_per_s", "v_min", "v_max")
"""A physical device's limits a scenario may set (the safety layer enforces them)."""
MECHANISMS = ("pay_as_clear", "pay_as_bid")
PRIVACY = ("private", "public")
AGENTS = ("external",)  # a home's `agent`: its own process (`testbed agent run`)
MAX_DURATION_HOURS = 366 * 24  # the profiles cover one year
_REQUIRED = object()
Check = Callable[[Any], "str | None"]


def load_scenario(spec: str | Path | None = None, *, days: float | None = None,
                  control_step_s: float | None = None,
                  real_time_factor: float | None = None,
                  network: str | None = None) -> Scenario:
    """The scenario at ``spec`` (a TOML path; None or "default": the shipped default), with
    the given options in place of its keys."""
    data, source = read_document(spec)
    if days is not None and not 0 < days <= MAX_DURATION_HOURS / 24:  # NaN fails too
        raise ScenarioError(source, [
            f"--days: must be in (0, {MAX_DURATION_HOURS // 24}], got {days:g}"])
    options = {
        "time.duration_hours": ("--days", None if days is None else days * 24),
        "time.control_step_s": ("--control-step", control_step_s),
        "time.real_time_factor": ("--rtf", real_time_factor),
        "ledger.network": ("--network", network),
    }
    return parse_scenario(data, source, {k: v for k, v in options.items() if v[1] is not None})


def read_document(spec: str | Path | None) -> tuple[dict[str, Any], str]:
    """The TOML document at ``spec`` (None or "default": the shipped default) and the source
    name its problems are reported under; unchecked (`parse_scenario` checks it)."""
    if spec is None or str(spec) == DEFAULT:
        text = resources.files("testbed.scenario").joinpath("default.toml").read_text()
        return tomllib.loads(text), "default scenario"
    return read_toml(Path(spec), "scenario file"), str(spec)


def read_toml(path: Path, kind: str) -> dict[str, Any]:
    """The TOML document at ``path``, a ``kind`` (named when there is no such file)."""
    if not path.is_file():
        raise ScenarioError(str(path), [f"no such {kind}"])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(str(path), ["not a text file (UTF-8 TOML expected)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), [f"not valid TOML ({exc})"]) from None


def parse_scenario(data: dict[str, Any], source: str,
                   options: dict[str, tuple[str, Any]] | None = None) -> Scenario:
    """Check a parsed TOML document (``options``: key -> (option name, value) replacing it);
    all problems raise together."""
    problems: list[str] = []
    top = _Table(data, "", problems, options or {})
    name = top.take("name", str, "scenario", check=_non_empty)
    grid = _grid(top.table("grid"))
    time = _time(top.table("time"))
    market = _market(top.table("market", optional=True))
    households = _households(top.table("households", optional=True))
    ledger = _ledger(top.table("ledger", optional=True))
    physical = tuple(_physical(t) for t in top.tables("physical"))
    top.done()
    if not problems:
        scenario = Scenario(name, grid, time, market, households, physical, ledger, source)
        _cross_checks(scenario, top)
        if not problems:
            return scenario
    raise ScenarioError(source, problems)


# -- tables -------------------------------------------------------------------------------------


def _grid(t: _Table) -> GridSpec:
    spec = GridSpec(
        feeder=t.take("feeder", str, check=_non_empty),
        vm_min_pu=t.take("vm_min_pu", float, GridSpec.vm_min_pu, check=_between(0, 1, above=True)),
        vm_max_pu=t.take("vm_max_pu", float, GridSpec.vm_max_pu, check=_between(1, 2, above=True)),
        max_line_loading_percent=t.take("max_line_loading_percent", float,
                                        GridSpec.max_line_loading_percent,
                                        check=_between(0, 1000, above=True)),
        max_trafo_loading_percent=t.take("max_trafo_loading_percent", float,
                                         GridSpec.max_trafo_loading_percent,
                                         check=_between(0, 1000, above=True)),
        max_trafo3w_loading_percent=t.take("max_trafo3w_loading_percent", float,
                                           GridSpec.max_trafo3w_loading_percent,
                                           check=_between(0, 1000, above=True)),
        phases=t.take("phases", str, GridSpec.phases, check=_one_of(PHASE_SETTINGS)),
        max_vuf_percent=t.take("max_vuf_percent", float, GridSpec.max_vuf_percent,
                               check=_between(0, 100, above=True)),
        single_phase_max_kva=t.take("single_phase_max_kva", float, GridSpec.single_phase_max_kva,
                                    check=_between(0, 1000)),
    )
    t.done()
    return spec


def _time(t: _Table) -> TimeSpec:
    start = t.data.get("start")  # TOML has its own date-times; a string must be ISO 8601
    if not isinstance(start, datetime) or t.prefix + "start" in t.options:
        start = t.take("start", str, check=_iso_time)
        start = datetime.fromisoformat(start) if start is not None else None
    t.seen.add("start")
    spec = TimeSpec(
        start=_utc(start) if start is not None else datetime(2016, 1, 1, tzinfo=UTC),
        duration_hours=t.take("duration_hours", float, TimeSpec.duration_hours,
                              check=_between(0, MAX_DURATION_HOURS, above=True)),
        real_time_factor=t.take("real_time_factor", float, TimeSpec.real_time_factor,
                                check=_between(0, 1e6, above=True)),
        control_step_s=t.take("control_step_s", float, TimeSpec.control_step_s,
                              check=_between(0, 3600, above=True)),
    )
    t.done()
    return spec


def _market(t: _Table) -> MarketSpec:
    price = _between(0, 10**6)
    spec = MarketSpec(
        interval_s=t.take("interval_s", int, MarketSpec.interval_s, check=_divides_a_day),
        gate_closure_s=t.take("gate_closure_s", int, MarketSpec.gate_closure_s,
                              check=_between(0, 86_400)),
        mechanism=t.take("mechanism", str, MarketSpec.mechanism, check=_one_of(MECHANISMS)),
        feed_in_price_per_kwh=t.take("feed_in_price", int, MarketSpec.feed_in_price_per_kwh,
                                     check=price),
        retail_price_per_kwh=t.take("retail_price", int, MarketSpec.retail_price_per_kwh,
                                    check=price),
        shortfall_penalty_per_kwh=t.take("shortfall_penalty", int,
                                         MarketSpec.shortfall_penalty_per_kwh, check=price),
        privacy=t.take("privacy", str, MarketSpec.privacy, check=_one_of(PRIVACY)),
        grid_fee=t.take("grid_fee", str, MarketSpec.grid_fee, check=_parses(parse_grid_fee)),
    )
    t.done()
    return spec


def _households(t: _Table) -> HouseholdSpec:
    d = HouseholdSpec
    size = _between(0, 1000)
    spec = HouseholdSpec(
        seed=t.take("seed", int, d.seed, check=_between(0, 2**32 - 1)),
        pv_share=t.take("pv_share", float, d.pv_share, check=_between(0, 1)),
        pv_kwp_min=t.take("pv_kwp_min", float, d.pv_kwp_min, check=_between(0, 1000, above=True)),
        pv_kwp_max=t.take("pv_kwp_max", float, d.pv_kwp_max, check=_between(0, 1000, above=True)),
        battery_share=t.take("battery_share", float, d.battery_share, check=_between(0, 1)),
        battery_kwh=t.take("battery_kwh", float, d.battery_kwh, check=size),
        battery_kw=t.take("battery_kw", float, d.battery_kw, check=size),
        load_forecast_error=t.take("load_forecast_error", float, d.load_forecast_error,
                                   check=_between(0, 10)),
        pv_forecast_error=t.take("pv_forecast_error", float, d.pv_forecast_error,
                                 check=_between(0, 10)),
        deposit=t.take("deposit", int, d.deposit, check=_between(0, MAX_MONEY)),
        strategy=t.take("strategy", str, d.strategy, check=_parses(parse_strategy)),
        homes=tuple(_home(h) for h in t.tables("home")),
    )
    t.done()
    return spec


def _home(t: _Table) -> HomeSpec:
    spec = HomeSpec(
        name=t.take("name", str, check=_non_empty),
        strategy=t.take("strategy", str, None, check=_one_of(STRATEGIES)),
        pv_kwp=t.take("pv_kwp", float, None, check=_between(0, 1000)),
        battery_kwh=t.take("battery_kwh", float, None, check=_between(0, 1000)),
        phase=t.take("phase", str, None, check=_one_of(PHASES)),
        agent=t.take("agent", str, None, check=_one_of(AGENTS)),
        keys=t.take("keys", str, None, check=_non_empty),
    )
    t.done()
    return spec


def _physical(t: _Table) -> PhysicalSpec:
    home = t.take("home", str, check=_non_empty)
    inverter, meter = _device(t.table("inverter")), _device(t.table("meter"))
    simulator = _device(t.table("grid_simulator")) if "grid_simulator" in t.data else None
    t.done()
    return PhysicalSpec(home, inverter, meter, simulator)


def _device(t: _Table) -> DeviceSpec:
    resource = t.take("resource", str, check=_non_empty)
    profile = t.take("profile", str, check=_non_empty)
    limits = {k: t.take(k, float, check=_between(-1e6, 1e6)) for k in LIMIT_KEYS if k in t.data}
    calibrated = t.take("calibration_date", date, None, check=_a_day)
    t.done()
    return DeviceSpec(resource, profile, limits, calibrated)


def _ledger(t: _Table) -> LedgerSpec:
    spec = LedgerSpec(
        path=t.take("path", str, LedgerSpec.path, check=_relative_path),
        validators=t.take("validators", int, LedgerSpec.validators,
                          check=_between(1, MAX_VALIDATORS)),
        network=t.take("network", str, LedgerSpec.network, check=_non_empty),
        commit_deadline_s=t.take("commit_deadline_s", float, LedgerSpec.commit_deadline_s,
                                 check=_between(1, 3600)),
    )
    t.done()
    return spec


def _cross_checks(s: Scenario, top: _Table) -> None:
    """Rules between keys, once every key is readable."""
    problems = top.problems
    if s.intervals < 1:
        top.problem("time.duration_hours", f"{s.time.duration_hours:g} h hold no whole "
                                           f"{s.market.interval_s} s market interval")
    if s.market.gate_closure_s >= s.market.interval_s:
        problems.append("market.gate_closure_s: must be shorter than interval_s")
    try:
        MarketParams(interval_seconds=s.market.interval_s,
                     gate_closure_seconds=s.market.gate_closure_s,
                     feed_in_price_per_kwh=s.market.feed_in_price_per_kwh,
                     retail_price_per_kwh=s.market.retail_price_per_kwh,
                     shortfall_penalty_per_kwh=s.market.shortfall_penalty_per_kwh).check()
    except LedgerError as exc:
        problems.append(f"market: {exc}")
    try:
        fee = parse_grid_fee(s.market.grid_fee).highest_per_kwh
    except ValueError:
        fee = 0  # reported with the key
    if fee > s.market.shortfall_penalty_per_kwh:
        problems.append(f"market.grid_fee: up to {fee} per kWh, above the shortfall penalty "
                        f"{s.market.shortfall_penalty_per_kwh} (a seller's escrow pays it)")
    h = s.households
    if h.pv_kwp_min > h.pv_kwp_max:
        problems.append("households.pv_kwp_min: must not exceed pv_kwp_max")
    for key, names in (("physical", [p.home for p in s.physical]),
                       ("households.home", [home.name for home in h.homes])):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            problems.append(f"{key}: {', '.join(twice)} listed twice")
    for home in h.homes:
        if (home.agent == "external") != (home.keys is not None):
            problems.append(f"households.home {home.name}: agent = \"external\" and keys = "
                            "FOLDER go together (the home's public keys)")
        elif home.agent == "external" and s.ledger.network is None:
            problems.append(f"households.home {home.name}: an external agent trades on a "
                            "network (ledger.network or --network)")
    for i, p in enumerate(s.physical):
        for role in ("inverter", "meter", "grid_simulator"):
            device = getattr(p, role)
            if device and device.limits.get("v_min", -math.inf) >= device.limits.get(
                    "v_max", math.inf):
                problems.append(f"physical[{i}].{role}: v_min must be below v_max")


# -- reading tables -----------------------------------------------------------------------------


class _Table:
    """One TOML table being read: each problem is noted with its key, and reading goes on
    with the key's default so that every other problem is found too."""

    def __init__(self, data: Any, prefix: str, problems: list[str],
                 options: dict[str, tuple[str, Any]]) -> None:
        self.prefix, self.problems, self.options = prefix, problems, options
        self.absent = not isinstance(data, dict)  # already reported: its keys are not missing
        self.data: dict[str, Any] = {} if self.absent else data
        self.seen: set[str] = set()

    def problem(self, key: str, why: str) -> None:
        if not (key.isprintable() and key.strip() == key and key):
            key = repr(key)  # a key that would break the one-line message, shown as data
        path = self.prefix + key
        option = self.options.get(path)
        self.problems.append(f"{option[0] if option else path}: {why}")

    def take(self, key: str, kind: type, default: Any = _REQUIRED,
             check: Check | None = None) -> Any:
        """The value at ``key`` (an option's, if one replaces it), else ``default``."""
        self.seen.add(key)
        fallback = None if default is _REQUIRED else default
        path = self.prefix + key
        if path in self.options:
            value = self.options[path][1]
        elif key in self.data:
            value = self.data[key]
        else:
            if default is _REQUIRED and not self.absent:
                self.problem(key, "missing")
            return fallback
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float
                                                     else kind):
            self.problem(key, f"expected {'a number' if kind is float else kind.__name__}, "
                              f"got {value!r}")
            return fallback
        if kind is float:
            value = float(value)
            if not math.isfinite(value):
                self.problem(key, f"must be a finite number, got {value}")
                return fallback
        why = check(value) if check else None
        if why:
            self.problem(key, why)
            return fallback
        return value

    def table(self, key: str, optional: bool = False) -> _Table:
        value = self.take(key, dict, {} if optional else _REQUIRED)
        return _Table(value, f"{self.prefix}{key}.", self.problems, self.options)

    def tables(self, key: str) -> list[_Table]:
        """An array of tables (``[[key]]``)."""
        items = self.take(key, list, [])
        out = []
        for i, item in enumerate(items or []):
            if isinstance(item, dict):
                out.append(_Table(item, f"{self.prefix}{key}[{i}].", self.problems, self.options))
            else:
                self.problem(f"{key}[{i}]", "expected a table")
        return out

    def done(self) -> None:
        for key in sorted(set(self.data) - self.seen):
            self.problem(key, "unknown key")


# -- checks: None when fine, else why ---------------------------------------------------------


def _between(lo: float, hi: float, above: bool = False) -> Check:
    """In [lo, hi]; with ``above``, in (lo, hi]."""
    def check(value: float) -> str | None:
        inside = lo < value <= hi if above else lo <= value <= hi
        return None if inside else f"must be in {'(' if above else '['}{lo:g}, {hi:g}], " \
                                   f"got {value:g}"
    return check


def _one_of(choices: tuple[str, ...]) -> Check:
    return lambda value: None if value in choices else f"one of {', '.join(choices)}"


def _parses(parser: Callable[[str], object]) -> Check:
    """A check that ``parser`` takes the value (its `ValueError` is the problem)."""
    def check(value: str) -> str | None:
        try:
            parser(value)
        except ValueError as exc:
            return str(exc)
        return None
    return check


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _divides_a_day(value: int) -> str | None:
    return None if 0 < value <= 86_400 and 86_400 % value == 0 else \
        "must divide a day into whole intervals"


def _iso_time(value: str) -> str | None:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"not an ISO 8601 time: {value!r}"
    return None


def _a_day(value: date) -> str | None:
    return "a TOML date such as 2025-03-01" if isinstance(value, datetime) else None


def _utc(start: datetime) -> datetime:
    """A time without a zone is UTC."""
    return start.replace(tzinfo=UTC) if start.tzinfo is None else start


def _relative_path(value: str) -> str | None:
    p = Path(value)
    if not value.strip() or p.is_absolute() or ".." in p.parts:
        return "a file name inside the run folder"
    return None
