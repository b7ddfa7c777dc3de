"""The homes of a scenario: one per load of the feeder, with PV, batteries and profiles.

Home i sits at load i's bus and consumes that load's profile. The scenario's seed picks which
homes get PV (sized in [pv_kwp_min, pv_kwp_max], profiled by the feeder's per-unit PV profile)
and which of the others get a battery; a physical home always has PV, as its inverter is real.
Each home is connected to one phase, drawn by the seed after everything else (so the draws
above do not depend on it), or to all three when its PV is larger than a single-phase unit may
be (``single_phase_max_kva``, VDE-AR-N 4105: 4.6 kVA; a kWp taken as a kVA of inverter); a
home set by hand may name its phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grid_models import Feeder
from grid_models.feeders import PROFILE_START_S, PROFILE_STEP_S
from grid_models.phases import draw_phases
from testbed.agents.home import Battery, Home, Kind
from testbed.errors import ScenarioError
from testbed.scenario import GridSpec, HouseholdSpec


@dataclass(frozen=True)
class Neighbourhood:
    """The run's homes (profiles cut to the run) and where they sit on the feeder."""

    homes: tuple[Home, ...]  # home i is the feeder's load i
    load_q_kvar: np.ndarray  # (steps, homes): reactive power of each home's load
    pv_kwp: tuple[float, ...]
    physical: frozenset[str]
    phases: tuple[str, ...]  # each home's connection: a, b, c or abc

    def index(self, name: str) -> int:
        return next(i for i, h in enumerate(self.homes) if h.name == name)

    def net_kw(self, step: int) -> np.ndarray:
        """Each home's modelled net consumption (load minus PV) in interval ``step``."""
        return np.array([h.load_kw[step] - h.pv_kw[step] for h in self.homes])


def home_name(i: int) -> str:
    return f"home-{i:02d}"


def build(households: HouseholdSpec, physical: Sequence[str], feeder: Feeder, start_s: int,
          interval_s: int, steps: int, source: str,
          single_phase_max_kva: float = GridSpec.single_phase_max_kva) -> Neighbourhood:
    """The homes on ``feeder`` for the ``steps`` intervals from ``start_s``; a problem with the
    scenario (``source``) raises `ScenarioError` listing every one."""
    problems = []
    if interval_s != PROFILE_STEP_S:
        problems.append(f"market.interval_s: the feeder's profiles are {PROFILE_STEP_S} s steps")
    first = (start_s - PROFILE_START_S) // PROFILE_STEP_S
    rows = slice(first, first + steps)
    if rows.start < 0 or rows.stop > feeder.profiles.steps:
        problems.append("time: the run lies outside the feeder's profile year (2016)")
    net, h = feeder.net, households
    loads = net.load.index.to_list()
    names = [home_name(i) for i in range(len(loads))]
    for key, listed in (("physical", physical), ("households.home", [s.name for s in h.homes])):
        for unknown in sorted(set(listed) - set(names)):
            problems.append(f"{key}: no home {unknown} on this feeder (home-00..{names[-1]})")
    if problems:
        raise ScenarioError(source, problems)
    physical = set(physical)

    rng = np.random.default_rng(h.seed)
    n = len(loads)
    has_pv = np.zeros(n, bool)
    has_pv[rng.permutation(n)[: round(n * h.pv_share)]] = True
    for name in physical:
        has_pv[names.index(name)] = True
    others = np.flatnonzero(~has_pv)
    has_battery = np.zeros(n, bool)
    has_battery[rng.permutation(others)[: round(n * h.battery_share)]] = True
    kwp = rng.uniform(h.pv_kwp_min, h.pv_kwp_max, n).round(1)
    battery_kwh = np.full(n, h.battery_kwh)
    for spec in h.homes:  # homes set by hand override the seeded draw
        i = names.index(spec.name)
        if spec.strategy is not None:
            has_pv[i] = spec.strategy == "pv_owner"
            has_battery[i] = spec.strategy == "battery_owner"
        if spec.pv_kwp is not None:
            has_pv[i], kwp[i] = spec.pv_kwp > 0, spec.pv_kwp
        if spec.battery_kwh is not None:
            has_battery[i], battery_kwh[i] = spec.battery_kwh > 0, spec.battery_kwh
    for name in physical:  # a physical home's inverter is real: it has PV
        has_pv[names.index(name)] = True
    conflicts = [f"households.home {spec.name}: a home trades with PV or with a battery, not "
                 "both" for spec in h.homes
                 if has_pv[names.index(spec.name)] and (spec.battery_kwh or 0) > 0]
    if conflicts:
        raise ScenarioError(source, conflicts)
    kwp = np.where(has_pv, kwp, 0.0)
    phases = [p if k <= single_phase_max_kva else "abc" for p, k in zip(draw_phases(rng, n), kwp)]
    for spec in h.homes:
        i = names.index(spec.name)
        if spec.phase is None:
            continue
        if spec.phase != "abc" and kwp[i] > single_phase_max_kva:
            conflicts.append(f"households.home {spec.name}: {kwp[i]:g} kWp of PV is more than "
                             f"a single phase takes ({single_phase_max_kva:g} kVA): phase = "
                             '"abc"')
        phases[i] = spec.phase
    if conflicts:
        raise ScenarioError(source, conflicts)

    pv_unit = feeder.profiles.pv_per_kw[rows]
    load_kw = feeder.profiles.load_p_mw[rows] * 1000.0
    def battery(i: int) -> Battery | None:
        if not has_battery[i] or has_pv[i]:  # a home with PV trades as a PV owner
            return None
        return Battery(round(battery_kwh[i] * 1000), round(h.battery_kw * 1000),
                       round(battery_kwh[i] * 100))  # 10 % reserve

    homes = tuple(
        Home(
            name=names[i],
            bus=int(net.load.at[loads[i], "bus"]),
            kind=Kind.PV_OWNER if has_pv[i] else
            Kind.BATTERY_OWNER if has_battery[i] else Kind.HOUSEHOLD,
            load_kw=load_kw[:, i].copy(),
            pv_kw=pv_unit * kwp[i],
            battery=battery(i),
            load_forecast_error=h.load_forecast_error,
            pv_forecast_error=h.pv_forecast_error,
        )
        for i in range(n)
    )
    return Neighbourhood(homes, feeder.profiles.load_q_mvar[rows] * 1000.0,
                         tuple(float(k) for k in kwp), frozenset(physical), tuple(phases))
