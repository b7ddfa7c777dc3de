"""Power through the transformers against pandapower's runpp, snapshot by snapshot."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pytest

from grid_models import solve_snapshots
from grid_models.flows import trafo_p_hv_mw

P_TOL_MW = 1e-6  # 1 W


@pytest.mark.parametrize("name", ["semiurb", "cigre", "kerber"])
def test_trafo_power_matches_runpp(request, name):
    net = copy.deepcopy(request.getfixturevalue(name).net)
    rng = np.random.default_rng(5)
    n_load, n_sgen = len(net.load), len(net.sgen)
    load_p = rng.uniform(-0.01, 0.02, (3, n_load))  # some homes export, some import
    load_q = 0.2 * load_p
    sgen_p = rng.uniform(0.0, 0.02, (3, n_sgen))
    sgen_q = np.zeros_like(sgen_p)
    p_hv = trafo_p_hv_mw(net, solve_snapshots(net, load_p, load_q, sgen_p, sgen_q))
    assert p_hv.shape == (3, len(net.trafo))
    for t in range(3):
        net.load["p_mw"], net.load["q_mvar"] = load_p[t], load_q[t]
        net.sgen["p_mw"], net.sgen["q_mvar"] = sgen_p[t], sgen_q[t]
        pp.runpp(net)
        np.testing.assert_allclose(p_hv[t], net.res_trafo["p_hv_mw"], rtol=0, atol=P_TOL_MW)
        # every transformer hangs off the external grid here: together they are its power
        assert abs(p_hv[t].sum() - net.res_ext_grid["p_mw"].sum()) < P_TOL_MW


def test_reverse_flow_is_negative_and_divergence_is_nan(semiurb):
    net = semiurb.net
    n_load, n_sgen = len(net.load), len(net.sgen)
    export = np.full((1, n_load), -0.02)  # every home exporting 20 kW
    diverged = np.full((1, n_load), 5.0)  # 5 MW per home: far past what the feeder can carry
    load_p = np.vstack([export, diverged])
    none = np.zeros((2, n_sgen))
    p_hv = trafo_p_hv_mw(net, solve_snapshots(net, load_p, 0 * load_p, none, none))
    assert p_hv[0, 0] < -0.02 * n_load * 0.9  # the feeder exports upstream, less its losses
    assert np.isnan(p_hv[1]).all()
