"""Export limits (dynamic operating envelopes): what each home may export, so that the interval
stays within the feeder's limits.

The grid operator's control of an interval, after the market's gate. The interval is given as
it would run uncontrolled: each home's net power with its PV at the power available and its
trades as granted (pandapower signs: a negative load exports), its contracted export (the sales
the gate granted) and its inverter (`grid_models.inverters`). The inverters run volt-var and
volt-watt in the power flow; the export limits are then found by the rule of
`grid_models.curtailment`, each home's export being two units:

- its **uncontracted export**, what it exports beyond its contracted sales (PV surplus sold to
  the utility outside the market): class 0, curtailed first;
- its **contracted export**, its granted sales as far as it exports them: class 1, curtailed
  only when cutting every uncontracted export that loads the violated element is not enough.

Within a class the home whose export loads the violated element most per watt is curtailed first
(ties: the lowest load position), to the largest whole-watt export that keeps the element within
its limit: the least energy is curtailed for each violation, rather than an equal share from
every home. A home's export limit applies at its meter: its inverter delivers at most its own
consumption plus the limit. Only homes with an inverter can be limited; the export of other
loads and of the feeder's own generators is not controllable, and a violation that only they (or
the substation's voltage, or demand) drive is left and reported with its cause.

Per home, the active power given up is attributed to one cause each: ``volt_watt_kw`` what the
volt-watt ceiling took from the power available, ``export_limited_kw`` what the export limit took
below that ceiling; ``contracted_shortfall_kw`` is the part of its contracted export the home
did not deliver (curtailment takes uncontracted export first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grid_models.curtailment import (
    Rows,
    Units,
    curtail,
    injection_arrays,
    reference_injections,
)
from grid_models.errors import GridModelError
from grid_models.feeders import Injections, Profiles
from grid_models.inverters import InverterPlan, Inverters
from grid_models.powerflow import NetLike, Result, element_injections, model_of
from grid_models.violations import DEFAULT_LIMITS, Constraint, Limits, ViolationReport


@dataclass(frozen=True)
class ExportLimits:
    """The operator's control of one interval, per load of the net (kW, kvar)."""

    limit_kw: np.ndarray  # export limit at each home's meter; inf: not limited
    export_limited_kw: np.ndarray  # active power the export limit curtailed
    volt_watt_kw: np.ndarray  # active power lost to volt-watt
    contracted_shortfall_kw: np.ndarray  # contracted export not delivered
    q_kvar: np.ndarray  # reactive power of each inverter (volt-var), + injected
    binding: tuple[Constraint | None, ...]  # the element that set each home's limit
    result: Result  # the interval's power flow with all of the above (one row)
    violations: ViolationReport  # violations left, each with its cause


def export_limits(
    net_or_feeder: NetLike,
    interval: Injections,
    inverters: Inverters,
    contracted_kw: np.ndarray | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ExportLimits:
    """Export limits of one interval (see the module docstring)."""
    profiles = Profiles(
        *(
            np.atleast_1d(np.asarray(a, dtype=float))[None]
            for a in (
                interval.load_p_mw,
                interval.load_q_mvar,
                interval.sgen_p_mw,
                interval.sgen_q_mvar,
            )
        )
    )
    available = np.asarray(inverters.available_kw, dtype=float)
    contracted = None if contracted_kw is None else np.asarray(contracted_kw, dtype=float)[None]
    return export_limits_batch(
        net_or_feeder, profiles, _with_available(inverters, available[None]), contracted, limits
    )[0]


def export_limits_batch(
    net_or_feeder: NetLike,
    intervals: Profiles,
    inverters: Inverters,
    contracted_kw: np.ndarray | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[ExportLimits]:
    """Export limits of many intervals at once: ``intervals`` and ``inverters.available_kw``
    and ``contracted_kw`` (T, loads); the intervals' power flows are solved in batches."""
    model = model_of(net_or_feeder)
    n_load, steps = len(model.load_pos), intervals.steps
    available = np.asarray(inverters.available_kw, dtype=float)
    contracted = (
        np.zeros((steps, n_load))
        if contracted_kw is None
        else np.asarray(contracted_kw, dtype=float)
    )
    for name, array in (("inverters.available_kw", available), ("contracted_kw", contracted)):
        if array.shape != (steps, n_load):
            raise GridModelError(f"{name} must have shape ({steps}, {n_load}), got {array.shape}")
        if not np.isfinite(array).all() or (array < 0).any():
            raise GridModelError(f"{name} must be finite and >= 0")
    plan = InverterPlan.of(model, _with_available(inverters, available[0]))
    cases = [_ExportCase(plan, intervals.at(t), available[t], contracted[t]) for t in range(steps)]
    outcomes = curtail(plan, cases, limits)
    return [case.limits(outcome) for case, outcome in zip(cases, outcomes)]


def _with_available(inverters: Inverters, available: np.ndarray) -> Inverters:
    return Inverters(inverters.rated_kw, available, inverters.functions, inverters.settings)


class _ExportCase:
    """One interval: each limitable home's export as an uncontracted and a contracted unit."""

    def __init__(self, plan: InverterPlan, interval: Injections, available_kw, contracted_kw):
        model = self.model = plan.model
        self.plan = plan
        arrays = injection_arrays(model, interval)
        self.s = element_injections(model, *(a[None] for a in arrays))[0]
        to_pu = 1e-3 / model.base_mva
        loads = plan.loads
        self.available = available_kw[loads] * to_pu
        self.consumption = arrays[0][loads] / model.base_mva + self.available  # without PV
        export = np.maximum(0.0, self.available - self.consumption)
        self.contracted_kw = contracted_kw
        self.export_kw = np.maximum(-arrays[0] * model.load_factor, 0.0) * 1e3  # uncontrolled
        contracted = np.minimum(contracted_kw[loads] * to_pu, export)
        watts = 1e6 * model.base_mva
        parts = (np.round((export - contracted) * watts), np.round(contracted * watts))
        home, priority, requested = [], [], []
        for k in range(plan.m):
            for cls, part in enumerate(parts):
                if part[k] > 0:
                    home.append(k)
                    priority.append(cls)
                    requested.append(part[k])
        self.home = np.array(home, dtype=np.int64)
        self.units = Units(
            requested=np.array(requested, dtype=np.int64),
            priority=np.array(priority, dtype=np.int64),
            ids=loads[self.home] if len(home) else np.zeros(0, np.int64),
            signature=tuple(("home", int(k)) for k in home),
        )
        self.references_s = reference_injections(model, arrays)

    def rows(self, grants: np.ndarray) -> Rows:
        """Each home's limit is the sum of its units' grants; a home granted its whole export
        is not limited at all (its whole-watt rounding must not cut it)."""
        n_rows = len(grants)
        allowance = np.zeros((n_rows, self.plan.m))
        np.add.at(allowance.T, self.home, grants.T.astype(float))
        whole = np.zeros(self.plan.m)
        np.add.at(whole, self.home, self.units.requested.astype(float))
        per_watt = 1e-6 / self.model.base_mva
        cap = np.where(allowance < whole, self.consumption + allowance * per_watt, np.inf)
        available = np.repeat(self.available[None], n_rows, axis=0)
        return Rows(np.repeat(self.s[None], n_rows, axis=0), available, cap)

    def probes(self, granted, solved, units, watts) -> np.ndarray:
        """The home of each unit exports ``watts`` less than it does now (volt-watt may hold it
        below its limit): its units give it up, uncontracted first."""
        watts_per_pu = 1e6 * self.model.base_mva
        exported = np.round((solved.p[0] - self.consumption) * watts_per_pu)
        grants = np.repeat(granted[None], len(units), axis=0)
        for row, unit in enumerate(units):
            k = self.home[unit]
            mine = np.flatnonzero(self.home == k)  # in class order
            give = granted[mine].sum() - (min(granted[mine].sum(), exported[k]) - watts)
            for u in mine:
                taken = min(give, grants[row, u]) if u != mine[-1] else give
                grants[row, u] -= taken
                give -= taken
        return grants

    def cut_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """A unit's watt given up is its home's inverter delivering a watt less."""
        plan, per_watt = self.plan, 1e-6 / self.model.base_mva
        change = -(plan.factor[:, None] * plan.shares) * per_watt
        return plan.cols[self.home], change[self.home].astype(np.complex128)

    def references(self) -> Rows:
        none = np.zeros((2, self.plan.m))
        return Rows(self.references_s, none, np.full((2, self.plan.m), np.inf))

    def limits(self, outcome) -> ExportLimits:
        """The outcome per load of the net, in kW."""
        plan, n_load = self.plan, len(self.model.load_pos)
        kw = self.model.base_mva * 1e3
        solved = outcome.solved
        p, q, ceiling = solved.p[0], solved.q[0], solved.p_ceiling[0]
        cut = outcome.granted < self.units.requested
        limit = np.full(n_load, np.inf)
        binding: list[Constraint | None] = [None] * n_load
        for unit in np.flatnonzero(cut):  # units in class order: contracted binding wins
            k = self.home[unit]
            load = int(plan.loads[k])
            limit[load] = (outcome.granted[self.home == k].sum()) / 1000.0
            binding[load] = outcome.binding[unit]

        def per_load(values: np.ndarray) -> np.ndarray:
            out = np.zeros(n_load)
            out[plan.loads] = values
            return out

        delivered = self.export_kw.copy()
        delivered[plan.loads] = np.maximum(p - self.consumption, 0.0) * kw
        return ExportLimits(
            limit_kw=limit,
            export_limited_kw=per_load(np.maximum(ceiling - p, 0.0) * kw),
            volt_watt_kw=per_load((self.available - ceiling) * kw),
            contracted_shortfall_kw=np.maximum(self.contracted_kw - delivered, 0.0),
            q_kvar=per_load(q * kw),
            binding=tuple(binding),
            result=solved.result,
            violations=outcome.report,
        )
