"""IEEE 1547 volt-var and volt-watt solved with the power flow, checked against runpp."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from grid_models import (
    CATEGORY_B,
    GridModelError,
    Inverters,
    InverterSettings,
    VoltVar,
    VoltWatt,
    compile_net,
)
from grid_models.inverters import InverterPlan, solve_with_inverters
from grid_models.powerflow import element_injections
from tests.grid_models.conftest import radial_feeder

CONSUMPTION_KW = 1.0


@pytest.fixture(scope="module")
def weak_chain():
    """Eight homes on 50 mm2 cable below a slack held at 1.05 pu: export lifts the far end
    well into volt-watt."""
    net, _ = radial_feeder(8, 0.1, None, slack_pu=1.05, cable="NAYY 4x50 SE", load_mw=0.0)
    return net, compile_net(net)


def solve(model, rated_kw, available_kw, settings_=CATEGORY_B, cap_kw=None):
    """Every home consumes 1 kW and has its PV at ``available_kw`` in its net power."""
    n = len(rated_kw)
    load_p = (CONSUMPTION_KW - np.asarray(available_kw, float)) / 1000.0
    s = element_injections(model, load_p[None], np.zeros((1, n)), np.zeros((1, 0)),
                           np.zeros((1, 0)))  # fmt: skip
    plan = InverterPlan.of(
        model,
        Inverters(np.asarray(rated_kw, float), np.asarray(available_kw, float), settings=settings_),
    )
    to_pu = 1e-3 / model.base_mva
    placed = plan.loads
    cap = (
        np.full((1, plan.m), np.inf) if cap_kw is None else np.asarray(cap_kw)[None, placed] * to_pu
    )
    available = np.asarray(available_kw, float)[None, placed] * to_pu
    return plan, solve_with_inverters(plan, s, available, cap)


def runpp_with(net, model, solution):
    """runpp of the net with each home's load set to what the inverters settled at."""
    net = copy.deepcopy(net)  # every home has an inverter here
    net.load["p_mw"] = CONSUMPTION_KW / 1000.0 - solution.p[0] * model.base_mva
    net.load["q_mvar"] = -solution.q[0] * model.base_mva
    pp.runpp(net)
    return net.res_bus["vm_pu"].to_numpy()


def curves(vm, rated, available, settings_=CATEGORY_B):
    """The standard's curves, written out independently of the module."""
    vv, vw = settings_.volt_var, settings_.volt_watt
    q = np.interp(vm, vv.v_pu, vv.q_fraction) * rated
    ceiling = np.interp(vm, vw.v_pu, [1.0, vw.p2_fraction]) * rated
    return np.minimum(available, ceiling), q


@pytest.mark.parametrize("available", [5.0, 15.0, 25.0])
def test_the_fixed_point_sits_on_the_curves_and_matches_runpp(weak_chain, available):
    net, model = weak_chain
    rated, avail = np.full(8, 30.0), np.full(8, available)
    _, solution = solve(model, rated, avail)
    assert solution.result.converged.all()
    vm = solution.result.vm_pu[0, net.load["bus"].to_numpy()]
    p, q = curves(vm, rated, avail)
    np.testing.assert_allclose(solution.p[0] * 1000, p, atol=1e-4)  # kW: 0.1 W
    np.testing.assert_allclose(solution.q[0] * 1000, q, atol=1e-4)
    np.testing.assert_allclose(runpp_with(net, model, solution), solution.result.vm_pu[0],
                               atol=1e-6)  # fmt: skip
    if available > 10:
        assert (solution.p[0] * 1000 < avail - 1).any(), "volt-watt should act at the far end"


def test_functions_can_be_switched_off_and_moved(weak_chain):
    _, model = weak_chain
    rated, avail = np.full(8, 30.0), np.full(8, 20.0)
    _, off = solve(model, rated, avail, InverterSettings(volt_var=None, volt_watt=None))
    assert (off.q == 0).all() and np.allclose(off.p[0] * 1000, 20.0)
    custom = InverterSettings(volt_var=VoltVar((0.95, 0.99, 1.01, 1.05), (0.3, 0, 0, -0.3)),
                              volt_watt=VoltWatt((1.07, 1.09), 0.0))  # fmt: skip
    _, moved = solve(model, rated, avail, custom)
    vm = moved.result.vm_pu[0, 2:]
    p, q = curves(vm, rated, avail, custom)
    np.testing.assert_allclose(moved.q[0] * 1000, q, atol=1e-4)
    np.testing.assert_allclose(moved.p[0] * 1000, p, atol=1e-4)


def test_no_reactive_power_below_five_percent_available(weak_chain):
    _, model = weak_chain
    _, solution = solve(model, np.full(8, 30.0), np.full(8, 1.0))  # 3 % of rated
    assert (solution.q == 0).all()


def test_an_export_cap_bounds_active_power(weak_chain):
    net, model = weak_chain
    rated, avail = np.full(8, 30.0), np.full(8, 10.0)
    _, solution = solve(model, rated, avail, cap_kw=np.full(8, 4.0))
    np.testing.assert_allclose(solution.p[0] * 1000, 4.0, atol=1e-9)
    np.testing.assert_allclose(runpp_with(net, model, solution), solution.result.vm_pu[0],
                               atol=1e-6)  # fmt: skip


def test_a_snapshot_answers_the_same_alone_or_in_a_batch(weak_chain):
    _, model = weak_chain
    rng = np.random.default_rng(4)
    avail = rng.uniform(0, 30, (5, 8))
    n = 8
    s = element_injections(model, (CONSUMPTION_KW - avail) / 1000, np.zeros((5, n)),
                           np.zeros((5, 0)), np.zeros((5, 0)))  # fmt: skip
    plan = InverterPlan.of(model, Inverters(np.full(n, 30.0), avail[0]))
    a = avail * 1e-3 / model.base_mva
    batch = solve_with_inverters(plan, s, a, np.full_like(a, np.inf))
    for t in (0, 3):
        one = solve_with_inverters(plan, s[[t]], a[[t]], np.full((1, n), np.inf))
        assert np.array_equal(one.p[0], batch.p[t]) and np.array_equal(one.q[0], batch.q[t])
        assert np.array_equal(one.result.vm_pu[0], batch.result.vm_pu[t])


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rated=st.lists(st.one_of(st.just(0.0), st.floats(1.0, 40.0)), min_size=8, max_size=8),
    share=st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8),
)
def test_any_fleet_converges_onto_its_curves(weak_chain, rated, share):
    net, model = weak_chain
    rated = np.array(rated)
    avail = rated * np.array(share)
    assume(all(abs(x - 0.05) > 1e-9 for x in share))  # at 5 % available, rounding decides
    plan, solution = solve(model, rated, avail)
    assert solution.result.converged.all()
    live = plan.loads
    vm = solution.result.vm_pu[0, net.load["bus"].to_numpy()[live]]
    p, q = curves(vm, rated[live], avail[live])
    q = np.where(avail[live] >= 0.05 * rated[live], q, 0.0)
    np.testing.assert_allclose(solution.p[0] * 1000, p, atol=1e-3)
    np.testing.assert_allclose(solution.q[0] * 1000, q, atol=1e-3)


def test_defaults_are_category_b_and_bad_settings_are_refused():
    assert CATEGORY_B.volt_var.v_pu == (0.92, 0.98, 1.02, 1.08)
    assert CATEGORY_B.volt_var.q_fraction == (0.44, 0.0, 0.0, -0.44)
    assert CATEGORY_B.volt_watt.v_pu == (1.06, 1.10) and CATEGORY_B.volt_watt.p2_fraction == 0.2
    with pytest.raises(GridModelError, match="volt_var"):
        InverterSettings(volt_var=VoltVar((1.0, 0.98, 1.02, 1.08)))
    with pytest.raises(GridModelError, match="volt_var"):
        InverterSettings(volt_var=VoltVar(q_fraction=(-0.44, 0, 0, 0.44)))  # rising: unstable
    with pytest.raises(GridModelError, match="volt_watt"):
        InverterSettings(volt_watt=VoltWatt((1.10, 1.06)))
    with pytest.raises(GridModelError, match="p2_fraction"):
        InverterSettings(volt_watt=VoltWatt(p2_fraction=1.5))


def test_bad_inverter_arrays_are_one_line_errors(weak_chain):
    _, model = weak_chain
    with pytest.raises(GridModelError, match="8 entries"):
        InverterPlan.of(model, Inverters(np.zeros(3), np.zeros(3)))
    with pytest.raises(GridModelError, match="finite"):
        InverterPlan.of(model, Inverters(np.full(8, -1.0), np.zeros(8)))


def test_a_physical_inverter_is_left_to_its_own_functions(weak_chain):
    """``functions=False``: its measured power already holds them; it only takes a cap."""
    _, model = weak_chain
    rated, avail = np.full(8, 30.0), np.full(8, 25.0)
    own = np.array([True] * 7 + [False])
    plan = InverterPlan.of(model, Inverters(rated, avail, functions=own))
    s = element_injections(model, (CONSUMPTION_KW - avail)[None] / 1000, np.zeros((1, 8)),
                           np.zeros((1, 0)), np.zeros((1, 0)))  # fmt: skip
    a = avail[None] * 1e-3 / model.base_mva
    solution = solve_with_inverters(plan, s, a, np.full_like(a, np.inf))
    assert solution.q[0, -1] == 0 and solution.p[0, -1] == a[0, -1]
    assert (solution.q[0, :-1] < 0).all() and (solution.p[0, :-1] < a[0, :-1]).any()


def _sparse_and_dense(model, avail, rated):
    """The same snapshots solved with the dense Z between the inverters and without it."""
    s = element_injections(model, (CONSUMPTION_KW - avail) / 1000, np.zeros_like(avail),
                           np.zeros((len(avail), 0)), np.zeros((len(avail), 0)))  # fmt: skip
    a = avail * 1e-3 / model.base_mva
    cap = np.full_like(a, np.inf)
    inverters = Inverters(rated, avail[0])
    dense = InverterPlan.of(model, inverters)
    sparse = InverterPlan.of(model, inverters, dense_z_max=0)
    assert dense.z is not None and sparse.z is None
    return (solve_with_inverters(dense, s, a, cap), solve_with_inverters(sparse, s, a, cap))


@pytest.mark.parametrize("phases", [None, ("a", "b", "c", "abc", "a", "b", "c", "a")])
def test_without_the_dense_z_the_newton_steps_find_the_same_fixed_point(weak_chain, phases):
    """A town's inverters are too many for Z between all of them: the steps that solve only
    for the inverters on a slope of their curves reach the same P, Q and voltages."""
    net, model = weak_chain
    if phases is not None:
        from grid_models.unbalanced import compile_unbalanced

        model = compile_unbalanced(net, phases)
    avail = np.random.default_rng(7).uniform(0, 30, (6, 8))
    dense, sparse = _sparse_and_dense(model, avail, np.full(8, 30.0))
    assert dense.result.converged.all() and sparse.result.converged.all()
    assert (dense.q != 0).any() and (dense.p < avail * 1e-3 / model.base_mva - 1e-6).any()
    watt = 1e-6 / model.base_mva
    np.testing.assert_allclose(sparse.p, dense.p, atol=0.05 * watt)  # within the 0.01 W tol
    np.testing.assert_allclose(sparse.q, dense.q, atol=0.05 * watt)
    np.testing.assert_allclose(sparse.result.vm_pu, dense.result.vm_pu, atol=1e-9)


@pytest.mark.parametrize("phases", [None, ("a", "b", "c", "abc", "a", "b", "c", "a")])
@pytest.mark.parametrize("gmres", [True, False])
def test_without_the_dense_z_gmres_and_its_dense_fallback_agree(weak_chain, phases, gmres,
                                                                monkeypatch):
    """Without the dense Z a step's active unknowns are solved by GMRES (one substitution per
    product), or densely when GMRES does not converge: both reach the dense-Z fixed point;
    the path in question is the one taken (counted)."""
    import grid_models.inverters as inverters_module

    net, model = weak_chain
    if phases is not None:
        from grid_models.unbalanced import compile_unbalanced

        model = compile_unbalanced(net, phases)
    taken = {"gmres": 0, "dense": 0}
    gmres_solve, dense_solve = (inverters_module._gmres_on_slopes,
                                inverters_module._dense_on_slopes)

    def counted_gmres(*args):
        taken["gmres"] += 1
        return gmres_solve(*args) if gmres else None

    def counted_dense(*args):
        taken["dense"] += 1
        return dense_solve(*args)

    monkeypatch.setattr(inverters_module, "_gmres_on_slopes", counted_gmres)
    monkeypatch.setattr(inverters_module, "_dense_on_slopes", counted_dense)
    avail = np.random.default_rng(7).uniform(0, 30, (6, 8))
    dense, sparse = _sparse_and_dense(model, avail, np.full(8, 30.0))
    assert taken["gmres"] > 0 and (taken["dense"] == 0) == gmres
    assert sparse.result.converged.all()
    watt = 1e-6 / model.base_mva
    np.testing.assert_allclose(sparse.p, dense.p, atol=0.05 * watt)
    np.testing.assert_allclose(sparse.q, dense.q, atol=0.05 * watt)
    np.testing.assert_allclose(sparse.result.vm_pu, dense.result.vm_pu, atol=1e-9)


@pytest.mark.parametrize("phases", [None, ("a", "b", "c", "abc", "a", "b", "c", "a")])
def test_a_snapshot_started_near_a_solved_one_reaches_the_same_fixed_point_sooner(
        weak_chain, phases, monkeypatch):
    """Snapshots that differ from a solved one by a home's export, started from its P, Q and
    voltages (`Start`), reach the fixed point a cold start reaches, within the tolerances,
    in fewer power flows; a start outside a row's own bounds is brought within them."""
    import grid_models.inverters as inverters_module

    net, model = weak_chain
    if phases is not None:
        from grid_models.unbalanced import compile_unbalanced

        model = compile_unbalanced(net, phases)
    avail = np.full((4, 8), 25.0)
    avail[1:, :] -= np.eye(8)[[2, 5, 7]]  # three homes, each 1 kW less
    cap_kw = np.full((4, 8), np.inf)
    cap_kw[3, 7] = 1.5  # the last row's home is capped below where the start has it
    s = element_injections(model, (CONSUMPTION_KW - avail) / 1000, np.zeros_like(avail),
                           np.zeros((4, 0)), np.zeros((4, 0)))  # fmt: skip
    plan = InverterPlan.of(model, Inverters(np.full(8, 30.0), avail[0]))
    to_pu = 1e-3 / model.base_mva
    a, cap = avail * to_pu, cap_kw * to_pu
    flows = []  # snapshots solved, every step's
    real = inverters_module.solve_injections
    monkeypatch.setattr(inverters_module, "solve_injections",
                        lambda model, s, **kw: flows.append(len(s)) or real(model, s, **kw))
    base = solve_with_inverters(plan, s[:1], a[:1], cap[:1])
    flows.clear()
    cold = solve_with_inverters(plan, s[1:], a[1:], cap[1:])
    cold_flows, flows[:] = sum(flows), []
    warm = solve_with_inverters(plan, s[1:], a[1:], cap[1:], start=base.start(3))
    assert warm.result.converged.all() and sum(flows) < cold_flows
    watt = 1e-6 / model.base_mva
    np.testing.assert_allclose(warm.p, cold.p, atol=0.05 * watt)
    np.testing.assert_allclose(warm.q, cold.q, atol=0.05 * watt)
    np.testing.assert_allclose(warm.result.vm_pu, cold.result.vm_pu, atol=1e-8)
    assert base.p[0, 7] > 1.5 * to_pu and warm.p[2, 7] == pytest.approx(1.5 * to_pu)
