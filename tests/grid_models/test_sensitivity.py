"""The curtailment's linear screen: transposed substitutions and first-order value changes,
against dense matrices and against the power flow itself."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest

from grid_models import compile_net
from grid_models.phases import draw_phases
from grid_models.powerflow import element_injections, solve_injections
from grid_models.sensitivity import element_nodes, value_change_per_unit, z_transposed
from grid_models.unbalanced import compile_unbalanced
from grid_models.violations import values_of


def shifted_net():
    """A transformer with a 150 degree shift between non-slack buses: Z is not symmetric."""
    net = pp.create_empty_network()
    slack, mv = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    lv, far = pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, slack)
    pp.create_line(net, slack, mv, 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
    pp.create_transformer_from_parameters(
        net, mv, lv, sn_mva=0.063, vn_hv_kv=20.0, vn_lv_kv=0.4, vkr_percent=1.5,
        vk_percent=4.0, pfe_kw=0.2, i0_percent=0.3, shift_degree=150.0)
    pp.create_line(net, lv, far, 0.2, "NAYY 4x150 SE")
    pp.create_load(net, lv, p_mw=0.01)
    pp.create_load(net, far, p_mw=0.01)
    return net


def dense_z(factor) -> np.ndarray:
    return factor.solve(np.eye(factor.n, dtype=np.complex128)).T  # column k: Z e_k


def test_the_transposed_substitution_is_z_transposed():
    net = shifted_net()
    rng = np.random.default_rng(0)
    factors = [compile_net(net).factor, *compile_unbalanced(net, ["a", "abc"]).factors.factors]
    asymmetric = False
    for factor in factors:
        z = dense_z(factor)
        asymmetric |= not np.allclose(z, z.T)
        b = rng.normal(size=factor.n) + 1j * rng.normal(size=factor.n)
        np.testing.assert_allclose(z_transposed(factor, b), z.T @ b, rtol=1e-10, atol=1e-12)
    assert asymmetric  # the test can tell a transpose from the matrix


@pytest.mark.parametrize("unbalanced", [False, True])
def test_first_order_changes_follow_the_power_flow(semiurb, unbalanced):
    """Each of 40 homes exporting 1 kW less: the screen's change of the most loaded line,
    the transformer and the highest voltage (and, unbalanced, the neutral and the unbalance)
    against the power flow's, on a feeder exporting hard."""
    net = semiurb.net
    model = (compile_unbalanced(net, draw_phases(np.random.default_rng(1), len(net.load)))
             if unbalanced else compile_net(net))
    n_load, n_sgen = len(model.load_pos), len(model.sgen_pos)
    load_p = -np.random.default_rng(0).uniform(0, 0.01, n_load)
    none = np.zeros((1, n_sgen))
    s = element_injections(model, load_p[None], 0.1 * load_p[None], none, none)
    solved = solve_injections(model, s)
    cols, shares = model.load_columns
    units = np.flatnonzero(model.load_pos >= 0)[:40]
    ds = -(shares[units] * model.load_factor[units, None]) * (1e-3 / model.base_mva) + 0j
    rows = np.repeat(s, len(units), axis=0)
    for r, u in enumerate(units):
        for c in range(cols.shape[1]):
            rows[r, cols[u, c]] += ds[r, c]
    again = solve_injections(model, rows)
    kinds = ["line_loading", "trafo_loading", "voltage_high"]
    kinds += ["neutral_loading", "voltage_unbalance"] if unbalanced else []
    for kind in kinds:
        j = int(np.nanargmax(values_of(solved, kind)[0]))
        assert element_nodes(model, kind, j).size
        linear = value_change_per_unit(model, solved, kind, j, cols[units], ds)
        exact = values_of(again, kind)[:, j] - values_of(solved, kind)[0, j]
        assert np.abs(exact).max() > 0
        np.testing.assert_allclose(linear, exact, rtol=0, atol=0.05 * np.abs(exact).max())
