"""A sweep spec: a base scenario and the axes to vary, read and checked up front with every
problem reported at once. Each axis value is checked by the scenario parser itself (as an
option named after the axis, ``axes.pv_share: must be in [0, 1], got 1.5``), for every cell,
so a cell that would be refused by `testbed simulate` is refused here before anything runs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from testbed.agents.loading import parse_strategy
from testbed.errors import ScenarioError
from testbed.records.recorder import iso_utc
from testbed.scenario import DEFAULT, Scenario, parse_scenario, read_document
from testbed.scenario.parse import MAX_DURATION_HOURS, read_toml
from testbed.scenario.spec import HouseholdSpec, MarketSpec

EXAMPLE = "example.toml"


@dataclass(frozen=True)
class Axis:
    """One axis of the grid: the scenario key it sets and how a spec value becomes the
    key's value."""

    key: str
    to_scenario: Callable[[Any], Any] = lambda value: value


AXES = {
    "feeder": Axis("grid.feeder"),
    "phases": Axis("grid.phases"),
    "pv_share": Axis("households.pv_share"),
    "battery_share": Axis("households.battery_share"),
    "seed": Axis("households.seed"),
    "start": Axis("time.start", lambda v: v.isoformat() if isinstance(v, date) else v),
    "days": Axis("time.duration_hours", lambda v: v * 24 if _number(v) else v),
    "mechanism": Axis("market.mechanism"),
    "strategy": Axis("households.strategy"),
    "grid_fee": Axis("market.grid_fee"),
}
"""The axes a spec may name, in the order of a cell's parameters (and of the table's
columns)."""
TOP_KEYS = ("name", "scenario", "axes")


@dataclass(frozen=True)
class Cell:
    """One scenario of the grid: its id (its folder's name) and its parameters, read back from
    the parsed scenario so they are exactly what runs."""

    id: str
    scenario: Scenario

    @property
    def parameters(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "feeder": s.grid.feeder,
            "phases": s.grid.phases,
            "pv_share": s.households.pv_share,
            "battery_share": s.households.battery_share,
            "seed": s.households.seed,
            "start": iso_utc(s.start_s),
            "days": s.time.duration_hours / 24,
            "mechanism": s.market.mechanism,
            "strategy": _shown(s.households.strategy),
            "grid_fee": s.market.grid_fee,
        }


@dataclass(frozen=True)
class SweepSpec:
    name: str
    source: str
    base: str  # the base scenario's source: "default scenario" or its path
    cells: tuple[Cell, ...]


def example_text() -> str:
    """The example spec `testbed sweep --example` prints."""
    return resources.files("testbed.sweep").joinpath(EXAMPLE).read_text()


def load_sweep(path: Path) -> SweepSpec:
    """The sweep at ``path``; every problem of the spec, its base scenario and its cells
    raises together as one `ScenarioError`."""
    data = read_toml(path, "sweep spec")
    return parse_sweep(data, str(path), path.parent, default_name=path.stem)


def parse_sweep(data: dict[str, Any], source: str, folder: Path,
                default_name: str = "sweep") -> SweepSpec:
    """Check a parsed spec (a base scenario path is relative to ``folder``)."""
    problems = [f"{key}: unknown key" for key in data if key not in TOP_KEYS]
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"\w[\w.-]*", name):  # a folder's name
        problems.append(f"name: a letter or digit, then letters, digits, '.', '-' or '_', "
                        f"got {name!r}")
    base = data.get("scenario", DEFAULT)
    document: dict[str, Any] | None = None
    if not isinstance(base, str) or not base.strip() or not base.isprintable():
        problems.append(f"scenario: expected {DEFAULT!r} or a scenario file, got {base!r}")
    else:
        base = base if base == DEFAULT else str(folder / base)
        try:
            document, base = read_document(base)
        except ScenarioError as exc:
            problems += [f"scenario: {base}: {p}" for p in exc.problems]
    axes = _axes(data.get("axes", {}), problems)
    if "feeder" in axes:  # a JSON net named in the spec is found beside it
        axes["feeder"] = [_located(v, folder) for v in axes["feeder"]]
    if "strategy" in axes:  # and so is an agent file
        axes["strategy"] = [_agent_located(v, folder) for v in axes["strategy"]]
    cells = _cells(document, base, axes, problems) if document is not None else []
    if problems:
        raise ScenarioError(source, problems)
    return SweepSpec(name, source, base, tuple(cells))


def _axes(table: Any, problems: list[str]) -> dict[str, list[Any]]:
    """Each named axis as a list of values (a single value is an axis of one). Values with a
    problem are left out, so that the cells are checked with the others."""
    if not isinstance(table, dict):
        problems.append("axes: expected a table")
        return {}
    axes = {}
    for key, value in table.items():
        if key not in AXES:
            problems.append(f"axes.{key}: unknown axis (one of {', '.join(AXES)})")
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            problems.append(f"axes.{key}: an empty list holds no cell")
            continue
        if any(isinstance(v, list | dict) for v in values):
            problems.append(f"axes.{key}: expected a value or a list of values")
            continue
        twice = sorted({repr(v) for v in values if values.count(v) > 1})
        if twice:
            problems.append(f"axes.{key}: {', '.join(twice)} listed twice")
        if key == "days":  # checked in days here; the scenario parser would speak in hours
            bad = [v for v in values if _number(v) and not 0 < v <= MAX_DURATION_HOURS / 24]
            problems += [f"axes.days: must be in (0, {MAX_DURATION_HOURS // 24}], got {v:g}"
                         for v in bad]
            values = [v for v in values if v not in bad]
        axes[key] = list(dict.fromkeys(values)) if values else []
    return {key: values for key, values in axes.items() if values}


def _cells(document: dict[str, Any], base: str, axes: dict[str, list[Any]],
           problems: list[str]) -> list[Cell]:
    """Every combination, parsed as the scenario it is; problems are listed once each."""
    names = [key for key in AXES if key in axes]
    cells, seen = [], set(problems)
    for values in itertools.product(*(axes[key] for key in names)):
        options = {AXES[key].key: (f"axes.{key}", AXES[key].to_scenario(value))
                   for key, value in zip(names, values)}
        try:
            scenario = parse_scenario(document, base, options)
        except ScenarioError as exc:
            for p in exc.problems:
                problem = p if p.startswith("axes.") else f"scenario: {base}: {p}"
                if problem not in seen:
                    seen.add(problem)
                    problems.append(problem)
            continue
        # a JSON net named in the base scenario is found as `testbed simulate` finds it
        grid = replace(scenario.grid, feeder=_located(scenario.grid.feeder, Path.cwd()))
        scenario = replace(scenario, grid=grid)
        cells.append(Cell(cell_id(scenario), scenario))
    ids = [c.id for c in cells]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        problems.append(f"axes.feeder: feeders that share the cell id(s) {', '.join(twice)}")
    return cells


def cell_id(s: Scenario) -> str:
    """A cell's folder name, readable and stable across re-runs: its parameters."""
    feeder = re.sub(r"[^\w.-]+", "_", Path(s.grid.feeder).stem if s.grid.feeder.endswith(
        ".json") else s.grid.feeder)
    h, m = s.households, s.market
    phases = "_unbalanced" if s.grid.phases == "unbalanced" else ""  # balanced: ids as before
    market = "".join((
        "" if m.mechanism == MarketSpec.mechanism else f"_{m.mechanism}",
        "" if h.strategy == HouseholdSpec.strategy else f"_{_shown(h.strategy)}",
        "" if m.grid_fee == MarketSpec.grid_fee else f"_fee-{m.grid_fee}",
    ))
    return re.sub(r"[^\w.-]+", "_", (
        f"{feeder}{phases}_pv{h.pv_share:g}_bat{h.battery_share:g}_seed{h.seed}_"
        f"{s.time.start:%Y%m%dT%H%M}_{s.time.duration_hours / 24:g}d{market}"))


def _shown(strategy: str) -> str:
    """A strategy as a cell names it: an agent file by its name, without its folder."""
    choice = parse_strategy(strategy)
    return str(replace(choice, name=Path(choice.name).stem)) if choice.is_file else strategy


def _agent_located(value: Any, folder: Path) -> Any:
    """An agent file's path (``NAME.py`` or ``NAME.py:SHARE``) made absolute; others as
    they are (the scenario parser checks them)."""
    if not isinstance(value, str):
        return value
    try:
        choice = parse_strategy(value)
    except ValueError:
        return value
    if not choice.is_file:
        return value
    path = Path(choice.name).expanduser()
    return str(replace(choice, name=str(path if path.is_absolute() else
                                       (folder / path).resolve())))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _located(feeder: Any, folder: Path) -> Any:
    """A JSON net's path made absolute (the workers run elsewhere); any other feeder as is."""
    if not isinstance(feeder, str) or not feeder.lower().endswith(".json"):
        return feeder
    path = Path(feeder).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())
