"""The homes of a scenario: one per load of the feeder, with PV, batteries and profiles.

Home i sits at load i's bus and consumes that load's profile. The scenario's seed picks which
homes get PV (sized in [pv_kwp_min, pv_kwp_max], profiled by the feeder's per-unit PV profile)
and which of the others get a battery; a physical home always has PV, as its inverter is real.
"""

from __future__ import annotations

from calendar import timegm
from dataclasses import dataclass

import numpy as np

from grid_models import Feeder
from testbed.errors import InputError
from testbed.market.strategies import Battery, Home, Kind
from testbed.scenario import Scenario

PROFILE_YEAR_START = timegm((2016, 1, 1, 0, 0, 0))  # SimBench profiles: 2016, 15-minute steps
PROFILE_STEP_S = 900


@dataclass(frozen=True)
class Neighbourhood:
    """The run's homes (profiles cut to the run) and where they sit on the feeder."""

    homes: tuple[Home, ...]  # home i is the feeder's load i
    load_q_kvar: np.ndarray  # (steps, homes): reactive power of each home's load
    pv_kwp: tuple[float, ...]
    physical: frozenset[str]

    def index(self, name: str) -> int:
        return next(i for i, h in enumerate(self.homes) if h.name == name)

    def net_kw(self, step: int) -> np.ndarray:
        """Each home's modelled net consumption (load minus PV) in interval ``step``."""
        return np.array([h.load_kw[step] - h.pv_kw[step] for h in self.homes])


def home_name(i: int) -> str:
    return f"home-{i:02d}"


def profile_steps(scenario: Scenario, steps: int) -> slice:
    """Rows of the SimBench year that the run covers (whole 15-minute steps)."""
    if scenario.market.interval_s != PROFILE_STEP_S:
        raise InputError("market.interval_s: the SimBench profiles are 900 s steps")
    first = (scenario.start_s - PROFILE_YEAR_START) // PROFILE_STEP_S
    return slice(first, first + steps)


def build(scenario: Scenario, feeder: Feeder, steps: int) -> Neighbourhood:
    """The homes of ``scenario`` on ``feeder`` for its first ``steps`` intervals."""
    if feeder.profiles is None:
        raise InputError(f"grid.feeder: {feeder.name} has no load profiles (use a SimBench code)")
    rows = profile_steps(scenario, steps)
    if rows.start < 0 or rows.stop > feeder.profiles.steps:
        raise InputError("time: the run lies outside the feeder's profile year (2016)")
    net, h = feeder.net, scenario.households
    loads = net.load.index.to_list()
    names = [home_name(i) for i in range(len(loads))]
    for key, listed in (("physical", [p.home for p in scenario.physical]),
                        ("households.home", [s.name for s in h.homes])):
        unknown = sorted(set(listed) - set(names))
        if unknown:
            raise InputError(f"{key}: no home {unknown[0]} on this feeder "
                            f"(home-00..{names[-1]})")
    physical = {p.home for p in scenario.physical}

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
    for spec in h.homes:
        if has_pv[names.index(spec.name)] and (spec.battery_kwh or 0) > 0:
            raise InputError(f"households.home {spec.name}: a home trades with PV or with a "
                            "battery, not both")
    kwp = np.where(has_pv, kwp, 0.0)

    pv_unit = _pv_per_kwp(feeder)[rows]
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
                         tuple(float(k) for k in kwp), frozenset(physical))


def _pv_per_kwp(feeder: Feeder) -> np.ndarray:
    """The feeder's PV profile per kWp: SimBench's PV generator scaled to its rating."""
    sgen = feeder.net.sgen
    if not len(sgen):
        raise InputError(f"grid.feeder: {feeder.name} has no PV profile to size rooftop PV from")
    return feeder.profiles.sgen_p_mw[:, 0] / float(sgen.p_mw.iloc[0])
