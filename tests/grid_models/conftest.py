"""Shared feeders (loading SimBench takes seconds, so each is loaded once per session)."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest

from grid_models import Feeder, Inverters, Profiles, load_feeder, solve_snapshots

SIMBENCH_CODE = "1-LV-semiurb4--0-sw"


@pytest.fixture(scope="session")
def semiurb() -> Feeder:
    return load_feeder(SIMBENCH_CODE)


@pytest.fixture(scope="session")
def cigre() -> Feeder:
    return load_feeder("cigre_lv")


@pytest.fixture(scope="session")
def kerber() -> Feeder:
    return load_feeder("kerber_landnetz_kabel_1")


@pytest.fixture(scope="session")
def make_radial():
    """Factory of small hand-built radial feeders (see ``radial_feeder``)."""
    return radial_feeder


def radial_feeder(
    n_lv: int = 4,
    km_per_line: float = 0.1,
    max_i_ka: float | None = 10.0,
    *,
    slack_pu: float = 1.0,
    cable: str = "NAYY 4x150 SE",
    load_mw: float = 0.002,
):
    """MV slack, a 0.4 MVA transformer and a chain of ``n_lv`` cable sections, a home (a load
    of ``load_mw``, a quarter of it reactive) at each bus past the transformer.

    Returns the net and its LV bus indices (the transformer's LV bus first). Cable ratings are
    generous (10 kA) by default so that tests can pick which limit binds; None keeps the cable's.
    """
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0, name="mv")
    pp.create_ext_grid(net, mv, vm_pu=slack_pu)
    buses = [pp.create_bus(net, 0.4, name="lv0")]
    pp.create_transformer(net, mv, buses[0], std_type="0.4 MVA 20/0.4 kV")
    for k in range(1, n_lv + 1):
        buses.append(pp.create_bus(net, 0.4, name=f"lv{k}"))
        pp.create_line(net, buses[-2], buses[-1], km_per_line, cable)
    if max_i_ka is not None:
        net.line["max_i_ka"] = max_i_ka
    for b in buses[1:]:
        pp.create_load(net, b, p_mw=load_mw, q_mvar=load_mw / 4)
    return net, buses


def doubled_pv_intervals(count: int) -> tuple[Profiles, Inverters, float]:
    """semiurb4's 41 homes, 40 % with 6-16 kWp, the PV doubled: the ``count`` intervals of the
    year furthest above 1.03 pu uncontrolled, the homes' inverters in them, and the lowest
    of those intervals' highest voltages."""
    feeder = load_feeder(SIMBENCH_CODE)
    n = len(feeder.net.load)
    rng = np.random.default_rng(1)
    kwp = np.where(rng.permutation(n) < round(0.4 * n), rng.uniform(6, 16, n), 0.0) * 2
    per_kwp = feeder.profiles.sgen_p_mw[:, 0] / feeder.net.sgen["p_mw"].iloc[0]
    pv = per_kwp[:, None] * kwp[None]
    load = np.asarray(feeder.profiles.load_p_mw) * 1000 - pv
    none = np.zeros((len(load), len(feeder.net.sgen)))
    uncontrolled = solve_snapshots(feeder, load / 1000, feeder.profiles.load_q_mvar, none, none)
    worst = np.argsort(-np.nanmax(uncontrolled.vm_pu, axis=1))[:count]
    intervals = Profiles(load[worst] / 1000, feeder.profiles.load_q_mvar[worst],
                         none[worst], none[worst])  # fmt: skip
    return intervals, Inverters(kwp, pv[worst]), float(np.nanmax(uncontrolled.vm_pu[worst],
                                                                 axis=1).min())
