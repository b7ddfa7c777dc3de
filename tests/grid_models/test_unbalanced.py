"""The unbalanced power flow: a two-bus case worked by hand, runpp_3ph on every SimBench LV
feeder, the balanced flow as its special case, and the gate refusing a trade for unbalance
with the phase named."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandapower.pf.runpp_3ph import runpp_3ph

from grid_models import GridModelError, Injections, Limits, TradeRequest, check_trades
from grid_models.network import compile_net
from grid_models.phases import draw_phases
from grid_models.powerflow import solve_snapshots
from grid_models.simbench_nets import simbench_net
from grid_models.unbalanced import compile_unbalanced, reference_net, with_zero_sequence

A = complex(-0.5, np.sqrt(3) / 2)  # 120 degrees
SIMBENCH_LV = ("1-LV-rural1--0-sw", "1-LV-rural2--0-sw", "1-LV-rural3--0-sw",
               "1-LV-semiurb4--0-sw", "1-LV-semiurb5--0-sw", "1-LV-urban6--0-sw")


def _two_buses(z1_ohm: complex, z0_ohm: complex):
    """An ideal 400 V source and one bus 1 km away on a line of z1 and z0 ohm per km (no
    capacitance), with one load."""
    net = pp.create_empty_network(sn_mva=1.0)
    source, home = pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, source, vm_pu=1.0)
    pp.create_line_from_parameters(
        net, source, home, 1.0, r_ohm_per_km=z1_ohm.real, x_ohm_per_km=z1_ohm.imag,
        c_nf_per_km=0.0, max_i_ka=0.2, r0_ohm_per_km=z0_ohm.real, x0_ohm_per_km=z0_ohm.imag,
        c0_nf_per_km=0.0)
    pp.create_load(net, home, p_mw=0.0)
    return net


def test_two_buses_by_hand():
    """8 kW + 2 kvar on phase a, 1 km of z1 = 0.2 + 0.08j, z0 = 0.8 + 0.3j ohm from an ideal
    400 V source. A transposed line's phase a loop is z_s = (z0 + 2 z1) / 3 and couples to
    b and c by z_m = (z0 - z1) / 3, so with E_a = 1 pu: V_a = E_a - z_s conj(S / V_a) (a scalar
    fixed point), V_b = a^2 - z_m I_a, V_c = a - z_m I_a, and |V2| / |V1| = |z1 I_a / 3| /
    |1 - z1 I_a / 3|, per unit on 1 MVA per phase and 400 / sqrt3 V (z_base 0.16 / 3 ohm)."""
    z1, z0 = complex(0.2, 0.08), complex(0.8, 0.3)
    net = _two_buses(z1, z0)
    model = compile_unbalanced(net, ["a"])
    s = complex(0.008, 0.002)  # pu on 1 MVA per phase
    result = solve_snapshots(model, [[0.008]], [[0.002]], np.zeros((1, 0)), np.zeros((1, 0)))
    z_base = 0.4**2 / 3
    z_s, z_m = (z0 + 2 * z1) / 3 / z_base, (z0 - z1) / 3 / z_base
    v_a = 1.0 + 0j
    for _ in range(100):
        v_a = 1.0 - z_s * np.conj(s / v_a)
    i_a = np.conj(s / v_a)
    expected = np.abs([v_a, A.conjugate() - z_m * i_a, A - z_m * i_a])
    assert np.allclose(result.vm_pu[0, :, 1], expected, atol=1e-10)
    assert np.allclose(result.vm_pu[0, :, 0], 1.0, atol=1e-12)  # the ideal source
    vuf = abs(z1 / z_base * i_a / 3) / abs(1 - z1 / z_base * i_a / 3) * 100
    assert result.vuf_percent[0, 1] == pytest.approx(vuf, abs=1e-6)  # 1e-9 pu of V2, in %
    i_ka = abs(i_a) * np.sqrt(3) * 1.0 / 0.4  # per-unit current to kA on this base
    loading = i_ka / 0.2 * 100  # the neutral carries phase a's current back
    assert result.line_loading_percent[0, :, 0] == pytest.approx([loading, 0, 0], rel=1e-7,
                                                                  abs=1e-9)
    assert result.neutral_loading_percent[0, 0] == pytest.approx(loading, rel=1e-7)
    ref = reference_net(net, ["a"], [0.008], [0.002])
    runpp_3ph(ref, numba=False)
    assert np.allclose(ref.res_bus_3ph.loc[1, ["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy(float),
                       expected, atol=1e-8)


@pytest.mark.parametrize("code", SIMBENCH_LV)
def test_every_simbench_lv_feeder_agrees_with_runpp_3ph(code):
    """Two snapshots per feeder (heavy demand; PV export), loads on phases a, b, c and abc:
    every phase's voltage within 1e-6 pu, loadings within runpp_3ph's own tolerance."""
    net = simbench_net(code)
    rng = np.random.default_rng(7)
    phases = [("a", "b", "c", "abc")[i] for i in rng.integers(0, 4, len(net.load))]
    model = compile_unbalanced(net, phases)
    load_p = net.load["p_mw"].to_numpy() * np.array([[2.0], [0.3]])
    load_q = net.load["q_mvar"].to_numpy() * np.array([[2.0], [0.3]])
    sgen_p = net.sgen["p_mw"].to_numpy() * np.array([[0.0], [0.8]])
    sgen_q = np.zeros_like(sgen_p)
    ours = solve_snapshots(model, load_p, load_q, sgen_p, sgen_q)
    assert ours.converged.all()
    for t in range(2):
        ref = reference_net(net, phases, load_p[t], load_q[t], sgen_p[t], sgen_q[t])
        runpp_3ph(ref, numba=False)  # compiling pandapower's Numba code costs more
        vm = ref.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy(float).T
        assert np.nanmax(np.abs(vm - ours.vm_pu[t])) < 1e-6
        assert np.nanmax(np.abs(ref.res_bus_3ph["unbalance_percent"].to_numpy(float)
                                - ours.vuf_percent[t])) < 1e-5
        lines = ref.res_line_3ph
        loading = lines[["loading_a_percent", "loading_b_percent", "loading_c_percent"]]
        assert np.nanmax(np.abs(loading.to_numpy(float).T - ours.line_loading_percent[t])) < 1e-3
        neutral = lines["i_n_ka"].to_numpy(float) / ref.line["max_i_ka"].to_numpy() * 100
        assert np.nanmax(np.abs(neutral - ours.neutral_loading_percent[t])) < 1e-3


@pytest.fixture(scope="module")
def balanced_pair(make_radial):
    net, _ = make_radial(n_lv=5, km_per_line=0.1)
    return compile_net(net), compile_unbalanced(net, ["abc"] * len(net.load))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-0.02, 0.03), min_size=5, max_size=5),
       st.floats(0.0, 0.5))
def test_every_home_on_three_phases_is_the_balanced_flow(balanced_pair, p_mw, q_share):
    """Loads on all three phases: the three phases carry the balanced flow's voltages, the
    unbalance factor and the neutral are zero."""
    balanced, unbalanced = balanced_pair
    p = np.array([p_mw])
    none = np.zeros((1, 0))
    expected = solve_snapshots(balanced, p, q_share * p, none, none)
    got = solve_snapshots(unbalanced, p, q_share * p, none, none)
    assert got.converged.all() and expected.converged.all()
    for phase in range(3):
        assert np.allclose(got.vm_pu[0, phase], expected.vm_pu[0], atol=1e-9)
        assert np.allclose(got.line_loading_percent[0, phase], expected.line_loading_percent[0],
                           atol=1e-6)
    assert np.nanmax(got.vuf_percent) < 1e-7 and np.nanmax(got.neutral_loading_percent) < 1e-6


@pytest.fixture(scope="module")
def phase_a_street(make_radial):
    """0.5 km of cable in five sections; homes 1-4 on phase a, home 5 (the far end) on b; a
    wide voltage band, so the 2 % unbalance binds first."""
    net, buses = make_radial(n_lv=5, km_per_line=0.1, load_mw=0.0)
    return compile_unbalanced(net, ["a", "a", "a", "a", "b"]), buses


def test_a_trade_that_would_unbalance_the_street_is_refused_with_the_phase_named(
        phase_a_street):
    model, buses = phase_a_street
    limits = Limits(vm_min_pu=0.8, vm_max_pu=1.2, max_vuf_percent=2.0)
    base = Injections(np.array([0.003, 0.003, 0.003, 0.024, 0.0]), np.zeros(5),
                      np.zeros(0), np.zeros(0))  # phase a already loaded at the far end
    solved = solve_snapshots(model, base.load_p_mw[None], base.load_q_mvar[None],
                             np.zeros((1, 0)), np.zeros((1, 0)))
    assert np.nanmax(solved.vuf_percent) > 2.0  # the street is unbalanced before any trade
    trades = [
        # the far phase-b home sells to a phase-a home: more current on phase a, less on b
        TradeRequest(1, buses[5], buses[4], 6.0, seller_phase="b", buyer_phase="a"),
        # within phase a: the same phase carries it, near the transformer
        TradeRequest(2, buses[2], buses[1], 2.0, seller_phase="a", buyer_phase="a"),
    ]
    result = check_trades(model, base, trades, limits)
    refused = result.decision(1)
    assert refused.status == "rejected" and refused.granted_kw == 0
    assert refused.binding.kind == "voltage_unbalance"
    assert refused.binding.element == f"bus {buses[5]} phase a"  # the phase to relieve
    assert refused.binding.value > 2.0 and refused.binding.limit == 2.0
    assert result.decision(2).status == "accepted"  # it relieves nothing and harms nothing


def test_a_trade_on_an_unknown_phase_is_refused_in_one_line(phase_a_street):
    model, buses = phase_a_street
    base = Injections(np.zeros(5), np.zeros(5), np.zeros(0), np.zeros(0))
    with pytest.raises(GridModelError, match="trade 1: unknown phase 'd'"):
        check_trades(model, base, [TradeRequest(1, buses[1], buses[2], 1.0, seller_phase="d")])


def test_zero_sequence_defaults_fill_only_what_is_missing(semiurb):
    net = semiurb.net
    filled = with_zero_sequence(net)
    line, trafo = filled.line.iloc[0], filled.trafo.iloc[0]
    assert line["r0_ohm_per_km"] == pytest.approx(3.5 * line["r_ohm_per_km"])
    assert line["x0_ohm_per_km"] == pytest.approx(1.15 * line["x_ohm_per_km"])
    assert trafo["vector_group"] == "Dyn"  # 150 degrees: Dyn5
    assert trafo["vkr0_percent"] == trafo["vkr_percent"]
    x, x0 = (np.sqrt(trafo[f"vk{z}_percent"]**2 - trafo[f"vkr{z}_percent"]**2) for z in ("", "0"))
    assert x0 == pytest.approx(0.95 * x)
    assert "r0_ohm_per_km" not in net.line  # the feeder's own net is left as it was
    net = copy.deepcopy(net)
    net.line["r0_ohm_per_km"] = 1.0  # a value the net has is kept
    assert (with_zero_sequence(net).line["r0_ohm_per_km"] == 1.0).all()


def test_what_the_unbalanced_flow_does_not_model_is_refused(make_radial):
    net, _ = make_radial(n_lv=2)
    pp.create_gen(net, 2, p_mw=0.01, vm_pu=1.0)
    with pytest.raises(GridModelError, match="does not model gen"):
        compile_unbalanced(net, ["a", "b"])
    with pytest.raises(GridModelError, match="phases: unknown d"):
        compile_unbalanced(make_radial(n_lv=2)[0], ["a", "d"])
    draws = draw_phases(np.random.default_rng(0), 300)
    assert set(draws) == {"a", "b", "c"} and 70 < draws.count("a") < 130


def test_each_inverter_acts_on_its_own_phase(make_radial):
    """Two PV homes at the far end of a street, one on phase a beside a heavy phase-a load,
    one on phase b: volt-var holds each on the curve at its own phase's voltage, so the one on
    the raised phase absorbs more."""
    from grid_models.envelopes import export_limits
    from grid_models.inverters import Inverters, VoltVar

    net, buses = make_radial(n_lv=3, km_per_line=0.15, load_mw=0.0)
    for _ in range(2):
        pp.create_load(net, buses[-1], p_mw=0.0)
    model = compile_unbalanced(net, ["abc", "abc", "a", "a", "b"])
    base = Injections(np.array([0.0, 0.0, 0.02, -0.006, -0.006]), np.zeros(5), np.zeros(0),
                      np.zeros(0))  # a 20 kW load on a; each PV home exports 6 kW
    inverters = Inverters(np.array([0, 0, 0, 8.0, 8.0]), np.array([0, 0, 0, 7.0, 7.0]))
    wide = Limits(vm_min_pu=0.5, vm_max_pu=1.5, max_vuf_percent=100.0)
    control = export_limits(model, base, inverters, limits=wide)
    vm = control.result.vm_pu[0, :, -1]  # the far bus: phases a, b, c
    assert vm[1] > vm[0] + 0.01  # phase b sits well above phase a
    curve = VoltVar()
    for home, phase in ((3, 0), (4, 1)):
        expected = np.interp(vm[phase], curve.v_pu, curve.q_fraction) * 8.0
        assert control.q_kvar[home] == pytest.approx(expected, abs=0.02)
    assert control.q_kvar[4] < control.q_kvar[3]
