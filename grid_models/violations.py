"""Operating limits and their violations: which element, how far, and why it could not be helped.

One table of checks (`checks`) says what is compared with which limit; the feasibility check,
the export limits, the study and the violation counts all read it. Elements are named as
pandapower indexes them: ``bus 7``, ``line 12``, ``trafo 0``, ``trafo3w 1``.

A violation left after the grid operator's control carries a cause, which says why no device on
the feeder could have prevented it:

- ``substation_voltage``: the element violates its limit even with every load and generator of
  the feeder at zero: the voltage the substation holds (the slack, through its transformer) is
  itself outside the band;
- ``demand``: it violates its limit with every export at zero: consumption, which the testbed
  does not control, drives it (an undervoltage, an overload by imports);
- ``uncontrolled_export``: with every export at zero it would not violate, but the exports that
  drive it belong to devices the operator cannot limit (a feeder generator, a home without a
  controllable inverter), or the controllable ones are at zero already.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from grid_models.network import GridModel

Kind = Literal[
    "voltage_high",
    "voltage_low",
    "line_loading",
    "trafo_loading",
    "trafo3w_loading",
    "not_converged",
]
Cause = Literal["substation_voltage", "demand", "uncontrolled_export"]
#: The kinds a snapshot's violations are counted by, in the order of `checks`' ties.
ELEMENT_KINDS: tuple[Kind, ...] = (
    "trafo_loading",
    "trafo3w_loading",
    "line_loading",
    "voltage_high",
    "voltage_low",
)


@dataclass(frozen=True)
class Limits:
    """Operating limits: voltage band (EN 50160 by default) and loading ceilings."""

    vm_min_pu: float = 0.90
    vm_max_pu: float = 1.10
    max_line_loading_percent: float = 100.0
    max_trafo_loading_percent: float = 100.0
    max_trafo3w_loading_percent: float = 100.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Constraint:
    """A violated limit: element ("line 12", "trafo 0", "bus 7", "grid"), kind, value, limit."""

    element: str
    kind: Kind
    value: float
    limit: float


@dataclass(frozen=True)
class Violation(Constraint):
    """A violation left after control, with why no device could have prevented it."""

    cause: Cause | None = None


@dataclass(frozen=True)
class ViolationReport:
    """The violations of one snapshot."""

    violations: tuple[Violation, ...] = ()

    def counts(self) -> dict[Kind, int]:
        """Violated elements per kind (every kind present, zeros included)."""
        counts = dict.fromkeys((*ELEMENT_KINDS, "not_converged"), 0)
        for v in self.violations:
            counts[v.kind] += 1
        return counts

    @property
    def unavoidable(self) -> tuple[Violation, ...]:
        """The violations that carry a cause."""
        return tuple(v for v in self.violations if v.cause is not None)


class Check(NamedTuple):
    """One kind of limit: its values in a result (T, elements), the limit, the direction."""

    kind: Kind
    table: str  # "bus" | "line" | "trafo" | "trafo3w"
    values: np.ndarray
    limit: float
    sign: float  # +1: the value must stay at or below the limit; -1: at or above


# kind -> (table, the result's array, sign: +1 the value must stay at or below its limit)
_CHECKED: dict[Kind, tuple[str, str, float]] = {
    "trafo_loading": ("trafo", "trafo_loading_percent", 1.0),
    "trafo3w_loading": ("trafo3w", "trafo3w_loading_percent", 1.0),
    "line_loading": ("line", "line_loading_percent", 1.0),
    "voltage_high": ("bus", "vm_pu", 1.0),
    "voltage_low": ("bus", "vm_pu", -1.0),
}


def limit_of(limits: Limits, kind: Kind) -> float:
    return {
        "trafo_loading": limits.max_trafo_loading_percent,
        "trafo3w_loading": limits.max_trafo3w_loading_percent,
        "line_loading": limits.max_line_loading_percent,
        "voltage_high": limits.vm_max_pu,
        "voltage_low": limits.vm_min_pu,
    }[kind]


def values_of(result, kind: Kind) -> np.ndarray:
    """The values (T, elements) of a `SnapshotResult` that ``kind`` checks."""
    return getattr(result, _CHECKED[kind][1])


def checks(result, limits: Limits) -> Iterator[Check]:
    """Every limit of a `SnapshotResult`, in tie order (`ELEMENT_KINDS`)."""
    for kind in ELEMENT_KINDS:
        table, attribute, sign = _CHECKED[kind]
        yield Check(kind, table, getattr(result, attribute), limit_of(limits, kind), sign)


def element_name(model: GridModel, table: str, j: int) -> str:
    index = {
        "bus": model.bus_index,
        "line": model.line_index,
        "trafo": model.trafo_index,
        "trafo3w": model.trafo3w_index,
    }[table]
    return f"{table} {int(index[j])}"


def count_violations(result, limits: Limits = DEFAULT_LIMITS) -> dict[Kind, np.ndarray]:
    """Violated elements per kind and snapshot ((T,) int arrays); ``not_converged`` is 1 for a
    snapshot that did not converge (its elements are then not counted)."""
    counts: dict[Kind, np.ndarray] = {}
    for check in checks(result, limits):
        with np.errstate(invalid="ignore"):
            over = check.sign * (check.values - check.limit) > 0
        counts[check.kind] = over.sum(axis=1)
    counts["not_converged"] = (~result.converged).astype(np.int64)
    return counts


def find_violations(
    model: GridModel, result, limits: Limits = DEFAULT_LIMITS, row: int = 0
) -> ViolationReport:
    """Every violation of one snapshot of a result (no causes: see the module docstring)."""
    if not result.converged[row]:
        nan = float("nan")
        return ViolationReport((Violation("grid", "not_converged", nan, nan),))
    found = []
    for check in checks(result, limits):
        values = check.values[row]
        with np.errstate(invalid="ignore"):
            over = np.flatnonzero(check.sign * (values - check.limit) > 0)
        found += [
            Violation(
                element_name(model, check.table, j), check.kind, float(values[j]), check.limit
            )
            for j in over
        ]
    return ViolationReport(tuple(found))
