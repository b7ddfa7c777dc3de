"""Operating limits and their violations: which element, how far, and why it could not be helped.

One table of checks (`checks`) says what is compared with which limit; the feasibility check,
the export limits, the study and the violation counts all read it. Elements are named as
pandapower indexes them: ``bus 7``, ``line 12``, ``trafo 0``, ``trafo3w 1``.

An unbalanced result (`grid_models.unbalanced`) is checked per phase, each phase an element of
its own (``bus 7 phase b``, ``line 12 phase a``), and adds each line's neutral (``line 12
neutral``, against the line's rating) and each bus's voltage unbalance factor, named with the
phase furthest from the bus's mean phase voltage (``bus 7 phase a``: the phase to relieve).

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
from grid_models.phases import PHASE_NAMES

Kind = Literal[
    "voltage_high",
    "voltage_low",
    "voltage_unbalance",
    "line_loading",
    "neutral_loading",
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
    "neutral_loading",
    "voltage_high",
    "voltage_low",
    "voltage_unbalance",
)


@dataclass(frozen=True)
class Limits:
    """Operating limits: voltage band and voltage unbalance factor (EN 50160 by default) and
    loading ceilings (a line's neutral against the line's)."""

    vm_min_pu: float = 0.90
    vm_max_pu: float = 1.10
    max_line_loading_percent: float = 100.0
    max_trafo_loading_percent: float = 100.0
    max_trafo3w_loading_percent: float = 100.0
    max_vuf_percent: float = 2.0


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
    """One kind of limit: its values in a result (T, elements), the limit, the direction.
    Per phase, the elements are phase-major: phase a of every element, then b, then c."""

    kind: Kind
    table: str  # "bus" | "line" | "trafo" | "trafo3w"
    values: np.ndarray
    limit: float
    sign: float  # +1: the value must stay at or below the limit; -1: at or above
    phases: int = 1  # 3: one element per phase
    phase_at: np.ndarray | None = None  # (T, elements): the phase an element's value is of

    def name(self, model: GridModel, j: int, row: int = 0) -> str:
        """The element at position ``j`` of the values (of snapshot ``row``), as a violation
        names it."""
        if self.phases == 1:
            suffix = " neutral" if self.kind == "neutral_loading" else ""
            if self.phase_at is not None:
                suffix = f" phase {PHASE_NAMES[self.phase_at[row, j]]}"
            return element_name(model, self.table, j) + suffix
        per_phase = self.values.shape[1] // self.phases
        return (f"{element_name(model, self.table, j % per_phase)} "
                f"phase {PHASE_NAMES[j // per_phase]}")


# kind -> (table, the result's array, sign: +1 the value must stay at or below its limit)
_CHECKED: dict[Kind, tuple[str, str, float]] = {
    "trafo_loading": ("trafo", "trafo_loading_percent", 1.0),
    "trafo3w_loading": ("trafo3w", "trafo3w_loading_percent", 1.0),
    "line_loading": ("line", "line_loading_percent", 1.0),
    "neutral_loading": ("line", "neutral_loading_percent", 1.0),
    "voltage_high": ("bus", "vm_pu", 1.0),
    "voltage_low": ("bus", "vm_pu", -1.0),
    "voltage_unbalance": ("bus", "vuf_percent", 1.0),
}


def limit_of(limits: Limits, kind: Kind) -> float:
    return {
        "trafo_loading": limits.max_trafo_loading_percent,
        "trafo3w_loading": limits.max_trafo3w_loading_percent,
        "line_loading": limits.max_line_loading_percent,
        "neutral_loading": limits.max_line_loading_percent,
        "voltage_high": limits.vm_max_pu,
        "voltage_low": limits.vm_min_pu,
        "voltage_unbalance": limits.max_vuf_percent,
    }[kind]


def values_of(result, kind: Kind) -> np.ndarray:
    """The values (T, elements) of a result that ``kind`` checks (per phase: phase-major)."""
    values = getattr(result, _CHECKED[kind][1])
    return values.reshape(len(values), -1) if values.ndim == 3 else values


def checks(result, limits: Limits) -> Iterator[Check]:
    """Every limit of a result, in tie order (`ELEMENT_KINDS`): a balanced `SnapshotResult`
    has no neutral and no unbalance to check."""
    for kind in ELEMENT_KINDS:
        table, attribute, sign = _CHECKED[kind]
        values = getattr(result, attribute, None)
        if values is None:
            continue
        phases = 3 if values.ndim == 3 else 1
        phase_at = _furthest_phase(result.vm_pu) if kind == "voltage_unbalance" else None
        yield Check(kind, table, values_of(result, kind), limit_of(limits, kind), sign, phases,
                    phase_at)


def _furthest_phase(vm: np.ndarray) -> np.ndarray:
    """Per snapshot and bus, the phase whose voltage is furthest from the mean of the three
    (vm: (T, 3, buses))."""
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.abs(vm - vm.mean(axis=1, keepdims=True))).argmax(axis=1)


def element_name(model: GridModel, table: str, j: int) -> str:
    index = {
        "bus": model.bus_index,
        "line": model.line_index,
        "trafo": model.trafo_index,
        "trafo3w": model.trafo3w_index,
    }[table]
    return f"{table} {int(index[j])}"


def same_element(a: Constraint, b: Constraint) -> bool:
    """Whether two constraints are the same limit of the same element (a bus's unbalance is
    one element whichever phase names it)."""
    if a.kind != b.kind:
        return False
    if a.kind == "voltage_unbalance":
        return a.element.split(" phase ")[0] == b.element.split(" phase ")[0]
    return a.element == b.element


def count_violations(result, limits: Limits = DEFAULT_LIMITS) -> dict[Kind, np.ndarray]:
    """Violated elements per kind and snapshot ((T,) int arrays); ``not_converged`` is 1 for a
    snapshot that did not converge (its elements are then not counted)."""
    none = np.zeros(len(result.converged), dtype=np.int64)
    counts: dict[Kind, np.ndarray] = dict.fromkeys(ELEMENT_KINDS, none)  # kinds not checked: 0
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
            Violation(check.name(model, j, row), check.kind, float(values[j]), check.limit)
            for j in over
        ]
    return ViolationReport(tuple(found))
