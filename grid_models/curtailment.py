"""Curtailment: cut what the operator controls until a snapshot is within its limits.

The one mechanism behind `check_trades` (the units are trades, and optionally the homes'
uncontracted export) and `export_limits` (the units are each home's uncontracted and contracted
export). A *unit* has a requested amount in whole watts, a priority class (class 0 is cut
before class 1) and an id; a *case* turns whole-watt grants into snapshots to solve.

The rule, for one snapshot, deterministic and in whole watts:

1. Solve with every unit at its grant (at first, its request). The worst violation is the one
   largest relative to its limit; ties go to transformers, three-winding transformers, lines,
   then bus voltages (high, then low), and within a kind to the lowest position.
2. A power flow that does not converge: the largest granted unit of the lowest class is
   rejected (ties: lowest id).
3. Otherwise each granted unit's *relief* is measured: how much the element's excess shrinks per
   watt when the unit gives up 1 kW of what it delivers (one batch; units with the same effect on
   the grid share one probe, so they tie exactly), rounded to 6 significant digits. A relief
   below 1e-10 of the limit per watt is none: a unit that barely touches the element neither
   loads nor relieves it. With more than `EXACT_PROBES` probes to make (a town's thousands of
   exporting homes), the round is *screened*: every unit's relief is first estimated to first
   order at the solved snapshot (`grid_models.sensitivity`: the element's gradient carried to
   every injection by one transposed substitution; rounded and thresholded alike), and only
   the groups of the `EXACT_PROBES` units the estimate ranks first (by class, relief, id) are
   measured as above; the others count as not relieving in this round. If none of those
   relieves the element, the next twice as many are measured, then four times as many; if
   none of those does either, the element counts as one no unit relieves (4).
4. If no unit relieves the element, nothing the operator controls can: its limit is relaxed to
   its present value, so that from then on no grant may make it worse, and it is reported at the
   end with its cause (`grid_models.violations`). Otherwise, among the units that relieve it,
   from the lowest class, the one relieving most per watt (ties: lowest id) is cut to the
   largest whole-watt grant that keeps the element within its limit (0 if there is none; a
   batched search that starts beside the grant its measured relief predicts, `_search`), and
   that element is recorded as the unit's binding constraint. Units that do not load the
   element are never cut for it.
   In a screened round the units in that order are first cut to zero at once, with the element
   as their binding constraint, while their measured reliefs times their grants add up to less
   than 3/4 of the element's excess (each of them is needed whole, to first order); the unit
   after them is then searched as above.
5. Repeat from 1 until no limit is violated.

On a grid of several parts (`grid_models.parts`: the LV feeders below their transformers, the
MV above them) a screened round takes more than the worst element: the worst violated element
of each part, worst first, skipping a part below or above one taken (the first is always the
worst of 1). Each is relieved as in 3 and 4 among the active units below its part (a unit
injecting in several parts, such as a trade between feeders, is below each of them and goes
to the worst of their elements taken; a feeder with up to `EXACT_PROBES` groups of units is
probed exactly), on its own copy of the grants; their power flows go out together, the k-th
snapshot of every element's in one row (each element's units as it asks, the others' as the
others ask in that row, or as they were before the round): feeders under different transformers interact only
through what is above them, so a round relieves a town's many feeders at once, where one
element a round took thousands of rounds. An element that no unit below its part relieves is
not relaxed in such a round: it is left to a round of its own, with every active unit, when
it is the worst.

A screened round's snapshots (its probes and searches) start from the snapshot it varies: its
inverters' P and Q and its voltages (`grid_models.inverters.Start`), not cold. They differ from
it by a few units' grants, so they need half the power flows (at a town's noon, 3 instead of 5
for the first probes); the fixed point they reach is the same within the inverters' and the
power flow's tolerances, and depends only on the round's snapshot, not on the batch.

Up to `EXACT_PROBES` groups a round (every feeder of the examples) the rule is the exact one of
3 and 4, as before screening existed, one element a round, every snapshot started cold; a
screened round may pick another unit than the exact rule would where the first-order ranking
misses the measured best, and whole cuts assume the reliefs stay as measured. Either way the rule ends only when no limit is violated that a
measured relief says a cut could ease, in whole watts, deterministically.

Many snapshots are curtailed in lockstep: each snapshot's rule runs as a generator that yields
the grants it needs solved, and every round's requests of all snapshots go to the power flow as
one batch. A snapshot's power flow does not depend on its batch, so neither does its answer.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from threadpoolctl import ThreadpoolController

from grid_models.errors import GridModelError
from grid_models.feeders import Injections
from grid_models.inverters import InverterPlan, InverterSolution, Start, solve_with_inverters
from grid_models.network import GridModel
from grid_models.parts import Parts, parts_of
from grid_models.powerflow import element_injections
from grid_models.sensitivity import element_nodes, value_change_per_unit
from grid_models.violations import (
    Constraint,
    Limits,
    Violation,
    ViolationReport,
    checks,
    find_violations,
    same_element,
    values_of,
)

PROBE_W = 1000  # a unit's relief is measured by cutting this much from it
_SEARCH_SPREAD = 5  # grants spread evenly over the bracket in each batch of the search
_SEARCH_NEAR = 2  # grants tried on each side of the crossing the batch predicts
_RELIEF_DIGITS = 6  # significant digits kept, so near-equal reliefs tie and ids decide
_NEGLIGIBLE = 1e-10  # relief per watt, relative to the limit, below which a unit is neutral
EXACT_PROBES = 32
"""Relief probes (power flows) a round makes at most before its candidates are screened by
their linear sensitivities: a feeder's few dozen homes are all probed, a town's thousands not."""
_WHOLE_CUT_SHARE = 0.75  # screened rounds cut whole units up to this share of the excess
_SCREEN_WINDOWS = 3  # screened probes: EXACT_PROBES, then twice, then four times as many
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class Units:
    """The controllable injections of one snapshot."""

    requested: np.ndarray  # (n,) int64 whole watts
    priority: np.ndarray  # (n,) int: class 0 is cut first
    ids: np.ndarray  # (n,) int: lower wins ties
    signature: tuple  # (n,) hashable: units with equal signatures affect the grid alike

    def __len__(self) -> int:
        return len(self.requested)


@dataclass(frozen=True)
class Rows:
    """Snapshots to solve: node injections (K, n_nodes), and the inverters' available power
    and export ceiling (K, m), all per unit."""

    s: np.ndarray
    available: np.ndarray
    cap: np.ndarray
    start: Start | None = None  # where their inverters' steps begin (None: cold)

    def __len__(self) -> int:
        return len(self.s)


class Case(Protocol):
    units: Units

    def rows(self, grants: np.ndarray) -> Rows:
        """Snapshots for grant vectors (K, n units), whole watts (probes may go below 0)."""

    def references(self) -> Rows:
        """Two snapshots: nothing on the feeder injecting or drawing; every export at zero."""

    def probes(self, granted: np.ndarray, solved, units: np.ndarray, watts: int) -> np.ndarray:
        """Grant vectors (len(units), n) in which each unit gives up ``watts`` of what it
        actually delivers in ``solved`` (a unit may deliver less than its grant)."""

    def cut_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Each unit's injection columns (n, w) (-1: none) and the change of the injection
        at each (per unit, complex) when the unit gives up one watt: the linear screen's."""


@dataclass(frozen=True)
class Outcome:
    granted: np.ndarray  # (n,) whole watts
    binding: tuple[Constraint | None, ...]  # (n,) the element each cut unit was cut for
    solved: InverterSolution  # the snapshot with the final grants (one row)
    report: ViolationReport  # violations left, each with its cause


def curtail(plan: InverterPlan, cases: Sequence[Case], limits: Limits) -> list[Outcome]:
    """Apply the rule to every case, all cases' power flows batched together; above
    `EXACT_PROBES` probes a round, candidates are screened (module docstring, step 3).

    BLAS is held to one thread meanwhile: its small products here gain nothing from threads,
    and OpenBLAS threads left spinning after a call slow every Python step that follows."""
    with _BLAS.limit(limits=1, user_api="blas"):
        return _curtail_all(plan, cases, limits, EXACT_PROBES)


def _curtail_all(plan: InverterPlan, cases: Sequence[Case], limits: Limits,
                 exact_probes: int) -> list[Outcome]:
    steps = [_curtail(plan, case, limits, exact_probes) for case in cases]
    outcomes: list[Outcome | None] = [None] * len(cases)
    pending: dict[int, Rows] = {}
    for i, step in enumerate(steps):
        _advance(i, step, None, pending, outcomes)
    while pending:
        order = list(pending)
        batch = [pending.pop(i) for i in order]
        for i, part in zip(order, _solve_together(plan, batch)):
            _advance(i, steps[i], part, pending, outcomes)
    return outcomes  # type: ignore[return-value]


def _solve_together(plan: InverterPlan, batch: list[Rows]) -> list[InverterSolution]:
    """Every case's rows in one batch (those started near a solved snapshot in one of their
    own), and each case's part of the answer."""
    answers: list[InverterSolution | None] = [None] * len(batch)
    for warm in (False, True):
        mine = [k for k, rows in enumerate(batch) if (rows.start is not None) == warm]
        if not mine:
            continue
        together = [batch[k] for k in mine]
        starts = [rows.start for rows in together if rows.start is not None]
        solved = solve_with_inverters(
            plan,
            *(np.concatenate([getattr(rows, f) for rows in together])
              for f in ("s", "available", "cap")),
            start=Start.concat(starts) if starts else None,
        )
        first = 0
        for k, rows in zip(mine, together):
            answers[k] = solved.rows(slice(first, first + len(rows)))
            first += len(rows)
    return answers  # type: ignore[return-value]


def _advance(i, step, answer, pending, outcomes) -> None:
    try:
        pending[i] = step.send(answer)
    except StopIteration as stop:
        outcomes[i] = stop.value


@dataclass
class _Bounds:
    """Per-element limits, nominal at first, relaxed where nothing controllable helps."""

    limits: Limits
    relaxed: dict[tuple[str, int], float] = field(default_factory=dict)
    parts: dict[tuple[str, int], int] = field(default_factory=dict)
    # elements no unit below their part relieved: relieved (or relaxed) only when the worst
    deferred: set[tuple[str, int]] = field(default_factory=set)
    reach: np.ndarray | None = None  # (units, parts): which parts each unit is below

    def worst(self, plan: InverterPlan, result) -> _Worst | None:
        """The snapshot's worst violated element (`all_worst`'s first), a failed power flow
        as such, or None."""
        if not result.converged[0]:
            nan = float("nan")
            failed = Constraint("grid", "not_converged", nan, nan)
            return _Worst(failed, "not_converged", -1, 0.0, nan)
        return next(self.all_worst(plan, result), None)

    def _excess(self, check, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each element's bound (its limit, or as relaxed) and how far ``values`` exceed it
        (-inf where a value is NaN)."""
        bound = np.full(values.shape, check.limit)
        for (kind, j), value in self.relaxed.items():
            if kind == check.kind:
                bound[j] = value
        return bound, np.nan_to_num(check.sign * (values - bound), nan=-np.inf)

    def all_worst(self, plan: InverterPlan, result) -> Iterator[_Worst]:
        """Every violated element of a converged snapshot, worst first: by its excess over
        its bound as a share of the limit, then in the order of the checks, then by excess,
        then by position."""
        found = []
        for c, check in enumerate(checks(result, self.limits)):
            values = check.values[0]
            if not values.size:
                continue
            bound, excess = self._excess(check, values)
            for j in np.flatnonzero(excess > 0):
                ratio = excess[j] / abs(check.limit)
                if ratio > 0.0:
                    found.append((-ratio, c, -excess[j], int(j), check, float(bound[j])))
        found.sort(key=lambda f: f[:4])
        for _, _, _, j, check, bound_j in found:
            values = check.values[0]
            constraint = Constraint(check.name(plan.model, j), check.kind, float(values[j]),
                                    check.limit)
            yield _Worst(constraint, check.kind, j, check.sign, bound_j)

    def part_of(self, plan: InverterPlan, parts: Parts, worst: _Worst) -> int:
        """The element's part (`grid_models.parts`), kept per element."""
        key = (worst.kind, worst.position)
        if key not in self.parts:
            self.parts[key] = parts.of_nodes(element_nodes(plan.model, worst.kind,
                                                           worst.position))
        return self.parts[key]

    def relax(self, worst: _Worst) -> None:
        self.relaxed[(worst.kind, worst.position)] = worst.constraint.value


@dataclass(frozen=True)
class _Worst:
    constraint: Constraint
    kind: str
    position: int
    sign: float
    bound: float  # the limit in force for the element (relaxed or nominal)

    def excess(self, result) -> np.ndarray:
        """How far past its limit in force the element is, per snapshot (NaN: not converged)."""
        return self.sign * (values_of(result, self.kind)[:, self.position] - self.bound)


def _curtail(
    plan: InverterPlan, case: Case, limits: Limits, exact_probes: int
) -> Generator[Rows, InverterSolution, Outcome]:
    units = case.units
    granted = units.requested.astype(np.int64).copy()
    binding: list[Constraint | None] = [None] * len(units)
    bounds = _Bounds(limits)
    solved = yield case.rows(granted[None])
    n_elements = sum(c.values.shape[1] for c in checks(solved.result, limits))
    # each round cuts a unit, relaxes a limit or defers an element
    for _ in range(4 * len(units) + 2 * n_elements + 4):
        worst = bounds.worst(plan, solved.result)
        if worst is None:
            break
        active = np.flatnonzero(granted > 0)
        if worst.kind == "not_converged":
            if not active.size:
                break
            pick = active[
                np.lexsort((units.ids[active], -granted[active], units.priority[active]))[0]
            ]
            granted[pick] = 0
        else:
            several = _independent_worsts(plan, case, bounds, solved, active, exact_probes)
            if len(several) > 1:  # a screened round: the worst element of several parts
                changed = yield from _parts_round(plan, case, solved, granted, binding, bounds,
                                                  active, several, exact_probes)
                if changed:
                    solved = yield case.rows(granted[None])
                continue
            near = solved if _screened(case, active, exact_probes) else None
            granted_after, cuts, relax = yield from _as_rows(case, _element_round(
                plan, case, solved, granted, active, worst, exact_probes), near)
            if relax:
                bounds.relax(worst)
                continue
            granted[:] = granted_after
            for cut in cuts[:-1]:
                binding[cut] = worst.constraint
            pick = cuts[-1]
        binding[pick] = worst.constraint
        solved = yield case.rows(granted[None])
    report = find_violations(plan.model, solved.result, limits)
    if report.violations:
        report = yield from _causes(plan, case, report, limits)
    return Outcome(granted, tuple(binding), solved, report)


def _element_round(plan: InverterPlan, case: Case, solved, granted, active, worst: _Worst,
                   exact_probes: int):
    """One element's round (the module docstring, steps 3 and 4) on a copy of the grants,
    candidates ``active``: the grants after it, the units cut (the last one searched, the
    others cut whole), and whether the element is to be relaxed instead (no unit relieves
    it). Yields grant vectors to solve."""
    granted = granted.copy()
    relief, screened = yield from _screened_relief(plan, case, solved, granted, active, worst,
                                                   exact_probes)
    helps = active[relief > 0]
    if not helps.size:
        return granted, [], True
    order = helps[np.lexsort((case.units.ids[helps], -relief[relief > 0],
                              case.units.priority[helps]))]
    pick, cuts = order[0], []
    per_watt = dict(zip(active, relief))
    excess = worst.excess(solved.result)[0]
    if screened:  # whole cuts the element needs anyway, by the measured reliefs
        for cut in _whole_cuts(order, relief[np.searchsorted(active, order)], granted, excess):
            excess -= per_watt[cut] * granted[cut]
            granted[cut] = 0
            cuts.append(cut)
            pick = order[list(order).index(cut) + 1]
    predicted = granted[pick] - excess / per_watt[pick]  # the grant the relief predicts
    granted[pick] = yield from _largest_within(case, granted, pick, worst, predicted)
    return granted, [*cuts, int(pick)], False


def _as_rows(case: Case, step, near: InverterSolution | None = None):
    """Run ``step``, which yields grant vectors, yielding their snapshots instead (started
    `_near` ``near``)."""
    try:
        grants = next(step)
        while True:
            solved = yield _near(case.rows(grants), near)
            grants = step.send(solved)
    except StopIteration as stop:
        return stop.value


def _near(rows: Rows, solved: InverterSolution | None) -> Rows:
    """``rows`` started from the solved snapshot (one row) their round varies, if given:
    a screened round's probes and searches differ from it by a few units' grants."""
    return rows if solved is None else replace(rows, start=solved.start(len(rows)))


def _screened(case: Case, active: np.ndarray, exact_probes: int) -> bool:
    """Whether a round among ``active`` units is screened (more than ``exact_probes``
    groups of units with the same effect on the grid)."""
    signature = case.units.signature
    return len({signature[u] for u in active}) > exact_probes


def _independent_worsts(plan: InverterPlan, case: Case, bounds: _Bounds, solved, active,
                        exact_probes: int) -> list[tuple[np.ndarray, _Worst]]:
    """For a screened round (more than ``exact_probes`` groups of active units) on a grid of
    several parts (`grid_models.parts`): the worst violated element of each part, worst
    first, skipping a part below or above one taken and the elements deferred (none if the
    worst is deferred); each with the units below its part (its candidates). Otherwise
    none."""
    if not _screened(case, active, exact_probes):
        return []
    parts = parts_of(plan.model)
    if len(parts.depth) < 2:
        return []
    if bounds.reach is None:
        bounds.reach = parts.unit_reach(plan.model, case.cut_columns()[0])
    claimed = np.zeros(len(case.units), dtype=bool)
    taken: list[tuple[np.ndarray, _Worst]] = []
    taken_parts: list[int] = []
    for worst in bounds.all_worst(plan, solved.result):
        if (worst.kind, worst.position) in bounds.deferred:
            if not taken:  # the worst: its round takes every active unit, as without parts
                return []
            continue
        part = bounds.part_of(plan, parts, worst)
        if all(parts.independent(part, other) for other in taken_parts):
            below = bounds.reach[:, part] & ~claimed  # a unit in two parts: the worse one's
            claimed |= below
            taken.append((below, worst))
            taken_parts.append(part)
    return taken


def _parts_round(plan: InverterPlan, case: Case, solved, granted, binding, bounds: _Bounds,
                 active, several, exact_probes: int):
    """The rounds of several elements in parts none of which is below another, at once: each
    element's round (`_element_round`) among the active units below its part, their grant
    vectors solved together, one row for the k-th of every element's (each element's units
    as it asks, the others' as they are before the round, or as the others ask in that row:
    parts interact little). Updates ``granted``, ``binding`` and ``bounds.deferred`` (an
    element none below its part relieves); whether any grant changed."""
    steps, owned, asks = [], [], {}
    for below, worst in several:
        owned.append(below)
        steps.append(_element_round(plan, case, solved, granted, active[below[active]], worst,
                                    exact_probes))
    done: dict[int, tuple] = {}
    for i, step in enumerate(steps):
        _ask(i, step, None, asks, done)
    while asks:
        rows = max(len(a) for a in asks.values())
        grants = np.repeat(granted[None], rows, axis=0)
        for i, ask in asks.items():
            grants[:len(ask)][:, owned[i]] = ask[:, owned[i]]
        answer = yield _near(case.rows(grants), solved)
        for i, ask in list(asks.items()):
            del asks[i]
            _ask(i, steps[i], answer.rows(slice(0, len(ask))), asks, done)
    changed = False
    for i, (_, worst) in enumerate(several):
        after, cuts, relax = done[i]
        if relax:  # none below its part relieves it: a round of its own will ask every unit
            bounds.deferred.add((worst.kind, worst.position))
            continue
        granted[owned[i]] = after[owned[i]]
        for cut in cuts:
            binding[cut] = worst.constraint
        changed = True
    return changed


def _ask(i, step, answer, asks, done) -> None:
    try:
        asks[i] = np.atleast_2d(step.send(answer))
    except StopIteration as stop:
        done[i] = stop.value


def _screened_relief(plan: InverterPlan, case: Case, solved, granted, active, worst: _Worst,
                     exact_probes: int):
    """Relief per watt of each active unit, and whether candidates were screened: every
    group probed when there are at most ``exact_probes`` groups, else the groups of the
    units the linear screen ranks first: ``exact_probes`` of them, then (while none of those
    relieves the element) the next twice as many, up to `_SCREEN_WINDOWS` windows."""
    signature = case.units.signature
    if not _screened(case, active, exact_probes):
        return (yield from _relief(case, solved, granted, active, worst)), False
    linear = _linear_relief(plan, case, solved, active, worst)
    helping = np.flatnonzero(linear > 0)
    ranked = helping[np.lexsort((case.units.ids[active[helping]], -linear[helping],
                                 case.units.priority[active[helping]]))]
    groups: dict[object, None] = {}
    for i in ranked:
        groups.setdefault(signature[active[i]])
    order = list(groups)
    relief = np.zeros(len(active))
    start, size = 0, exact_probes
    for _ in range(_SCREEN_WINDOWS):
        window = set(order[start:start + size])
        if not window:
            break
        mine = np.array([signature[u] in window for u in active], dtype=bool)
        relief[mine] = yield from _relief(case, solved, granted, active[mine], worst)
        if (relief > 0).any():
            break
        start, size = start + size, 2 * size
    return relief, True


def _linear_relief(plan: InverterPlan, case: Case, solved, active, worst: _Worst) -> np.ndarray:
    """The linear screen's relief per watt of each active unit (`grid_models.sensitivity`),
    rounded and thresholded as a measured relief."""
    cols, ds = case.cut_columns()
    change = value_change_per_unit(plan.model, solved.result, worst.kind, worst.position,
                                   cols[active], ds[active])
    relief = _significant(-worst.sign * change, _RELIEF_DIGITS)
    return np.where(relief > _NEGLIGIBLE * abs(worst.constraint.limit), relief, 0.0)


def _whole_cuts(order, relief, granted, excess: float) -> list[int]:
    """The leading units of ``order`` (by the rule's preference) cut to zero at once: while
    their reliefs per watt times their grants add up to less than `_WHOLE_CUT_SHARE` of the
    element's excess, the element needs each of them cut whole (to first order); the unit
    after them is then searched as usual. Never the last unit of ``order``."""
    cuts, total = [], 0.0
    for unit, per_watt in zip(order[:-1], relief):
        total += per_watt * granted[unit]
        if not total < _WHOLE_CUT_SHARE * excess:
            break
        cuts.append(int(unit))
    return cuts


def _relief(case: Case, solved, granted, active, worst: _Worst):
    """Relief per watt of each active unit (see the module docstring, step 3)."""
    if not active.size:
        return np.zeros(0)
    groups: dict[object, int] = {}
    for u in active:
        groups.setdefault(case.units.signature[u], len(groups))
    probe_of = np.array([groups[case.units.signature[u]] for u in active])
    first = np.array([active[probe_of == g][0] for g in range(len(groups))])
    probes = yield case.probes(granted, solved, first, PROBE_W)
    excess = worst.excess(probes.result)
    before = worst.excess(solved.result)[0]
    per_group = np.where(probes.result.converged, (before - excess) / PROBE_W, 0.0)
    relief = _significant(per_group[probe_of], _RELIEF_DIGITS)
    return np.where(relief > _NEGLIGIBLE * abs(worst.constraint.limit), relief, 0.0)


def _largest_within(case: Case, granted, pick: int, worst: _Worst, predicted: float):
    """The largest whole-watt grant of unit ``pick`` (others fixed) that keeps the violated
    element within its limit in force (`_search`, from the grant ``predicted``). Yields grant
    vectors to solve."""
    search = _search(int(granted[pick]), predicted)
    try:
        candidates = next(search)
        while True:
            grants = np.repeat(granted[None], len(candidates), axis=0)
            grants[:, pick] = candidates
            solved = yield grants
            excess = np.nan_to_num(worst.excess(solved.result), nan=np.inf)
            candidates = search.send(np.where(solved.result.converged, excess, np.inf))
    except StopIteration as stop:
        return stop.value


def _search(high: int, predicted: float) -> Generator[np.ndarray, np.ndarray, int]:
    """The largest whole number below ``high`` (known to exceed) whose excess is at most 0,
    0 if none: batches of numbers, each sent their excesses. A batch holds the numbers
    beside the crossing it predicts (``predicted`` at first, then the linear interpolation
    of the bracket's ends) and a few spread evenly over the bracket. The bracket's low end is
    the largest number found within (0 before one is: the first batch tries 0), its high end
    the smallest number tried above that which exceeds. Where the excess rises with the
    number, the answer does not depend on the numbers tried; near a linear crossing it takes
    one or two batches."""
    low = 0
    tried: dict[int, float] = {}  # a number's excess; the low end is in it once found within
    guess = predicted if np.isfinite(predicted) else high / 2
    while high - low > 1:
        spread = np.linspace(low, high, _SEARCH_SPREAD + 2)[:-1]
        near = np.floor(guess) + np.arange(1 - _SEARCH_NEAR, _SEARCH_NEAR + 1)
        numbers = np.unique(np.concatenate([spread.round(), near]).clip(low, high - 1))
        numbers = np.array([g for g in numbers.astype(np.int64) if g not in tried])
        excess = yield numbers
        tried.update(zip(numbers.tolist(), excess.tolist()))
        within = [g for g in sorted(tried) if low <= g < high and tried[g] <= 0]
        if within:
            low = within[-1]
        elif 0 in tried:
            return 0  # not even 0 keeps the element within
        high = min([g for g in tried if low < g < high and not tried[g] <= 0], default=high)
        at_low, at_high = tried.get(low), tried.get(high)
        guess = (low + (high - low) * at_low / (at_low - at_high)
                 if at_low is not None and at_high is not None
                 and np.isfinite([at_low, at_high]).all() and at_low < at_high
                 else (low + high) / 2)
    return low


def _causes(plan: InverterPlan, case: Case, report: ViolationReport, limits: Limits):
    """Each violation left with its cause (see `grid_models.violations`)."""
    references = yield case.references()
    no_load, no_export = (references.result.rows([k]) for k in (0, 1))
    found = []
    for violation in report.violations:
        if violation.kind == "not_converged":
            cause = "demand" if not no_export.converged[0] else "uncontrolled_export"
        elif _still(plan, no_load, violation, limits):
            cause = "substation_voltage"
        elif _still(plan, no_export, violation, limits):
            cause = "demand"
        else:
            cause = "uncontrolled_export"
        found.append(
            Violation(violation.element, violation.kind, violation.value, violation.limit, cause)
        )
    return ViolationReport(tuple(found))


def _still(plan: InverterPlan, result, violation: Violation, limits: Limits) -> bool:
    """Whether a reference snapshot violates the same element the same way."""
    if not result.converged[0]:
        return True
    return any(
        same_element(v, violation) for v in find_violations(plan.model, result, limits).violations
    )


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits (zeros stay zero)."""
    out = np.zeros_like(values)
    nonzero = values != 0
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(values[nonzero]))))
    out[nonzero] = np.round(values[nonzero] * scale) / scale
    return out


def reference_injections(model: GridModel, arrays) -> np.ndarray:
    """Node injections of the two reference snapshots: nothing injecting or drawing; every
    load's export at zero and every generator off."""
    load_p, load_q, sgen_p, sgen_q = arrays
    none = element_injections(model, *(np.zeros((1, len(a))) for a in arrays))
    demand = element_injections(
        model,
        np.maximum(load_p, 0.0)[None],
        load_q[None],
        np.zeros((1, len(sgen_p))),
        np.zeros((1, len(sgen_q))),
    )
    return np.concatenate([none, demand])


def injection_arrays(model: GridModel, base: Injections) -> tuple[np.ndarray, ...]:
    """The four arrays of one interval's injections, checked against the model."""
    arrays = tuple(
        np.atleast_1d(np.asarray(a, dtype=float))
        for a in (base.load_p_mw, base.load_q_mvar, base.sgen_p_mw, base.sgen_q_mvar)
    )
    n_load, n_sgen = len(model.load_pos), len(model.sgen_pos)
    shapes = [(n_load,), (n_load,), (n_sgen,), (n_sgen,)]
    if [a.shape for a in arrays] != shapes or not all(np.isfinite(a).all() for a in arrays):
        raise GridModelError(
            f"base injections must be finite arrays of {n_load} loads and {n_sgen} sgens"
        )
    return arrays
