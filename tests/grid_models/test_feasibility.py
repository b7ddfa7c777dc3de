"""Trade feasibility on hand-built feeders where the binding limit is known in advance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grid_models import (
    GridModelError,
    Injections,
    Limits,
    TradeRequest,
    check_trades,
    compile_net,
)
from grid_models.feasibility import DEFAULT_LIMITS

WIDE_VOLTAGE = Limits(vm_min_pu=0.5, vm_max_pu=1.5)


@pytest.fixture(scope="module")
def chain(make_radial):
    """0.6 km of NAYY 4x150 in four sections, cables rated 10 kA: voltage binds first."""
    net, buses = make_radial(n_lv=4, km_per_line=0.15)
    return compile_net(net), Injections.from_net(net), buses


@pytest.fixture(scope="module")
def weak_end(make_radial):
    """Short sections; the last one (line 3) rated 100 A, the others 10 kA."""
    net, buses = make_radial(n_lv=4, km_per_line=0.05)
    net.line.loc[3, "max_i_ka"] = 0.1
    return compile_net(net), Injections.from_net(net), buses


@pytest.fixture(scope="module")
def two_transformers():
    """Two LV areas behind their own transformers on one MV line; area B's is 63 kVA."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    mv_b = pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, mv)
    pp.create_line(net, mv, mv_b, 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV")
    lv_a, lv_b = pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_transformer(net, mv, lv_a, std_type="0.4 MVA 20/0.4 kV")
    pp.create_transformer_from_parameters(
        net,
        mv_b,
        lv_b,
        sn_mva=0.063,
        vn_hv_kv=20.0,
        vn_lv_kv=0.4,
        vkr_percent=1.5,
        vk_percent=4.0,
        pfe_kw=0.2,
        i0_percent=0.3,
        shift_degree=150.0,
    )
    pp.create_load(net, lv_a, p_mw=0.01)
    pp.create_load(net, lv_b, p_mw=0.01)
    return compile_net(net), Injections.from_net(net), (lv_a, lv_b)


def decide(setup, *trades, limits=DEFAULT_LIMITS):
    model, base, _ = setup
    return check_trades(model, base, list(trades), limits)


def test_small_trade_is_accepted(chain):
    _, _, bus = chain
    result = decide(chain, TradeRequest(1, bus[4], bus[0], 20.0))
    assert result.decisions == (dataclasses.replace(result.decisions[0], status="accepted"),)
    assert result.decision(1).granted_kw == 20.0
    assert result.decision(1).binding is None
    assert result.violations.violations == ()


def test_export_at_the_far_end_binds_its_voltage(chain):
    _, _, bus = chain
    decision = decide(chain, TradeRequest(7, bus[4], bus[0], 200.0)).decision(7)
    assert decision.status == "curtailed"
    assert 0 < decision.granted_kw < 200.0
    binding = decision.binding
    assert (binding.element, binding.kind, binding.limit) == (f"bus {bus[4]}", "voltage_high", 1.10)
    assert binding.value > 1.10
    # the grant is the largest within the limit, to the watt, whatever was asked
    larger = decide(chain, TradeRequest(7, bus[4], bus[0], 400.0)).decision(7)
    assert larger.granted_kw == decision.granted_kw
    assert decide(chain, TradeRequest(7, bus[4], bus[0], decision.granted_kw)).decision(
        7
    ).status == ("accepted")
    over = decide(chain, TradeRequest(7, bus[4], bus[0], decision.granted_kw + 0.002))
    assert over.decision(7).status == "curtailed"


def test_import_at_the_far_end_binds_its_low_voltage(chain):
    _, _, bus = chain
    decision = decide(chain, TradeRequest(3, bus[0], bus[4], 250.0)).decision(3)
    assert decision.status == "curtailed"
    assert (decision.binding.element, decision.binding.kind) == (f"bus {bus[4]}", "voltage_low")
    assert decision.binding.value < 0.90 and decision.binding.limit == 0.90


def test_planning_band_is_configurable(chain):
    _, _, bus = chain
    trade = TradeRequest(1, bus[4], bus[0], 100.0)
    assert decide(chain, trade).decision(1).status == "accepted"
    planning = Limits(vm_min_pu=0.95, vm_max_pu=1.05)
    tight = decide(chain, trade, limits=planning).decision(1)
    assert tight.status == "curtailed"
    assert tight.binding.kind == "voltage_high" and tight.binding.limit == 1.05


def test_overloaded_line_curtails_only_the_trade_that_crosses_it(weak_end):
    _, _, bus = weak_end
    crossing = TradeRequest(1, bus[4], bus[0], 100.0)
    beside = TradeRequest(2, bus[3], bus[0], 100.0)
    result = decide(weak_end, crossing, beside, limits=WIDE_VOLTAGE)
    assert result.decision(2).status == "accepted"
    first = result.decision(1)
    assert first.status == "curtailed"
    assert (first.binding.element, first.binding.kind, first.binding.limit) == (
        "line 3",
        "line_loading",
        100.0,
    )
    assert first.binding.value > 100.0
    # about 100 A at 0.4 kV is about 69 kW
    assert 60.0 < first.granted_kw < 75.0


def test_overloaded_transformer_is_named(two_transformers):
    _, _, (lv_a, lv_b) = two_transformers
    decision = decide(
        two_transformers, TradeRequest(5, lv_a, lv_b, 100.0), limits=WIDE_VOLTAGE
    ).decision(5)
    assert decision.status == "curtailed"
    assert (decision.binding.element, decision.binding.kind) == ("trafo 1", "trafo_loading")
    assert 40.0 < decision.granted_kw < 70.0


def test_a_set_that_does_not_converge_is_never_accepted(chain):
    _, _, bus = chain
    result = decide(
        chain, TradeRequest(1, bus[4], bus[0], 5.0), TradeRequest(2, bus[0], bus[4], 50_000.0)
    )
    assert result.decision(1).status == "accepted"
    huge = result.decision(2)
    assert huge.status == "rejected" and huge.granted_kw == 0.0
    assert huge.binding.kind == "not_converged" and huge.binding.element == "grid"


def test_a_trade_that_deepens_an_undervoltage_is_rejected_and_it_is_reported(chain):
    model, base, bus = chain
    heavy = dataclasses.replace(base, load_p_mw=np.full_like(base.load_p_mw, 0.08))
    result = check_trades(model, heavy, [TradeRequest(1, bus[1], bus[3], 1.0)])
    left = result.violations.violations
    assert {(v.kind, v.cause) for v in left} == {("voltage_low", "demand")}
    assert f"bus {bus[4]}" in {v.element for v in left}
    decision = result.decision(1)  # drawing further out lowers the far end's voltage
    assert decision.status == "rejected"
    assert (decision.binding.element, decision.binding.kind) == (f"bus {bus[4]}", "voltage_low")


@pytest.fixture(scope="module")
def two_branches():
    """Branch A: four 150 m sections whose far home exports 80 kW (voltage_high at a 1.05 pu
    limit); branch B: two sections of quiet homes, beside it under the same transformer."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, mv, vm_pu=1.0)
    lv = pp.create_bus(net, 0.4)
    pp.create_transformer(net, mv, lv, std_type="0.4 MVA 20/0.4 kV")
    branch = {}
    for name, sections in (("a", 4), ("b", 2)):
        buses = [lv]
        for _ in range(sections):
            buses.append(pp.create_bus(net, 0.4))
            pp.create_line(net, buses[-2], buses[-1], 0.15, "NAYY 4x150 SE")
            pp.create_load(net, buses[-1], p_mw=0.002)
        branch[name] = buses
    net.load.loc[3, "p_mw"] = -0.080  # the home at A's far end exports
    return compile_net(net), Injections.from_net(net), branch


PLANNING = Limits(vm_max_pu=1.05)


def test_base_voltage_high_keeps_relieving_and_unrelated_trades(two_branches):
    model, base, branch = two_branches
    a, b = branch["a"], branch["b"]
    plain = check_trades(model, base, [], PLANNING)
    (excess,) = plain.violations.violations
    assert (excess.element, excess.kind) == (f"bus {a[4]}", "voltage_high")
    assert excess.cause == "uncontrolled_export"  # the gate does not limit the home's export
    trades = [
        TradeRequest(1, a[4], a[1], 5.0),  # downstream seller: raises the far end further
        TradeRequest(2, a[1], a[4], 5.0),  # upstream seller, downstream buyer: relieves it
        TradeRequest(3, b[2], b[1], 5.0),  # within branch B: barely touches branch A
    ]
    result = check_trades(model, base, trades, PLANNING)
    worse = result.decision(1)
    assert worse.status == "rejected"
    assert (worse.binding.element, worse.binding.kind) == (excess.element, "voltage_high")
    assert worse.binding.value > PLANNING.vm_max_pu
    assert result.decision(2).status == "accepted"
    assert result.decision(3).status == "accepted"
    (left,) = result.violations.violations
    assert left.element == excess.element and left.value < excess.value  # relieved, not cured


def test_relief_is_lent_to_a_worsening_trade_only_below_the_limit(two_branches):
    """A relieving trade and a worsening one between the same places. While the element stays
    violated the worsening one gets nothing; once the relief brings it within the limit, the
    worsening one may use the headroom up to the limit."""
    model, base, branch = two_branches
    a = branch["a"]

    def pair(kw: float):
        trades = [TradeRequest(1, a[1], a[4], kw), TradeRequest(2, a[4], a[1], kw)]
        return check_trades(model, base, trades, PLANNING)

    small = pair(5.0)  # 5 kW of relief leaves the far end above 1.05 pu
    assert small.decision(1).status == "accepted" and small.decision(2).status == "rejected"
    large = pair(20.0)  # 20 kW of relief brings it below
    assert large.decision(1).status == "accepted"
    assert 0 < large.decision(2).granted_kw < 20.0
    assert large.violations.violations == ()


def test_uncontracted_export_is_curtailed_before_any_trade(two_branches):
    model, base, branch = two_branches
    a = branch["a"]
    trade = TradeRequest(1, a[4], a[1], 5.0)
    gated = check_trades(model, base, [trade], PLANNING, uncontracted_first=True)
    assert gated.decision(1).status == "accepted"  # the home's uncontracted export gives way
    assert gated.violations.violations == ()
    huge = TradeRequest(1, a[4], a[1], 200.0)  # more than all the export there is to give up
    capped = check_trades(model, base, [huge], PLANNING, uncontracted_first=True).decision(1)
    assert capped.status == "curtailed" and capped.binding.kind == "voltage_high"
    alone = check_trades(model, dataclasses.replace(base, load_p_mw=np.maximum(base.load_p_mw, 0)),
                         [huge], PLANNING).decision(1)  # fmt: skip
    assert capped.granted_kw == pytest.approx(alone.granted_kw, abs=0.002)


def test_bad_requests_are_one_line_errors(chain):
    model, base, bus = chain
    with pytest.raises(GridModelError, match="bus 999"):
        check_trades(model, base, [TradeRequest(1, 999, bus[0], 1.0)])
    with pytest.raises(GridModelError, match="slack"):
        check_trades(model, base, [TradeRequest(1, 0, bus[0], 1.0)])  # the MV slack bus
    with pytest.raises(GridModelError, match="kw"):
        check_trades(model, base, [TradeRequest(1, bus[1], bus[0], -1.0)])
    with pytest.raises(GridModelError, match="unique"):
        check_trades(model, base, [TradeRequest(1, bus[1], bus[0], 1.0)] * 2)
    with pytest.raises(GridModelError, match="base injections"):
        check_trades(model, dataclasses.replace(base, load_p_mw=base.load_p_mw[:-1]), [])


def test_hundred_trades_on_a_simbench_feeder(semiurb):
    step = 96 * 180 + 48  # a summer noon
    base = semiurb.profiles.at(step)
    rng = np.random.default_rng(1)
    buses = sorted(set(semiurb.load_bus.values()))
    trades = [
        TradeRequest(i, int(rng.choice(buses)), int(rng.choice(buses)), float(rng.uniform(1, 30)))
        for i in range(100)
    ]
    result = check_trades(semiurb, base, trades)
    assert result == check_trades(semiurb, base, trades)  # deterministic
    statuses = [d.status for d in result.decisions]
    assert "accepted" in statuses and set(statuses) - {"accepted"}
    _assert_granted_set_is_feasible(semiurb, base, trades, result)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 4), st.floats(0.0, 300.0)),
        min_size=1,
        max_size=6,
    )
)
@example([(1, 0, 0.0005)])  # half a watt rounds to 0 W (round half to even): nothing to reject
def test_any_trade_set_ends_feasible_and_within_requests(chain, raw):
    model, base, bus = chain
    trades = [TradeRequest(i, bus[s], bus[b], kw) for i, (s, b, kw) in enumerate(raw)]
    result = check_trades(model, base, trades)
    for trade, decision in zip(trades, result.decisions):
        assert decision.trade_id == trade.trade_id
        assert (decision.status == "accepted") == (decision.binding is None)
        requested_w = round(trade.kw * 1000)  # whole watts, as check_trades rounds them
        assert 0.0 <= decision.granted_kw <= requested_w / 1000
        assert (decision.status == "rejected") == (decision.granted_kw == 0.0 and requested_w > 0)
    _assert_granted_set_is_feasible(model, base, trades, result)


def _assert_granted_set_is_feasible(net, base, trades, result):
    granted = [dataclasses.replace(t, kw=d.granted_kw) for t, d in zip(trades, result.decisions)]
    again = check_trades(net, base, granted)
    assert all(d.status == "accepted" for d in again.decisions)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.floats(0.0, 60.0)),
        min_size=1,
        max_size=6,
    )
)
def test_with_a_violated_base_no_trade_set_makes_anything_worse(two_branches, raw):
    model, base, branch = two_branches
    homes = branch["a"][1:] + branch["b"][1:]  # six household buses over both branches
    before = {
        v.element: v.value for v in check_trades(model, base, [], PLANNING).violations.violations
    }
    trades = [TradeRequest(i, homes[s], homes[b], kw) for i, (s, b, kw) in enumerate(raw)]
    result = check_trades(model, base, trades, PLANNING)
    granted = [dataclasses.replace(t, kw=d.granted_kw) for t, d in zip(trades, result.decisions)]
    again = check_trades(model, base, granted, PLANNING)
    assert all(d.status == "accepted" for d in again.decisions)
    for violation in again.violations.violations:
        assert violation.element in before  # nothing newly violated
        assert violation.value <= before[violation.element] + 1e-5  # nothing made worse


def test_a_three_winding_transformer_limits_a_trade_through_it():
    """pandapower's multi-voltage example: a trade from the transformer's 0.4 kV side to its
    10 kV side runs through two of its windings."""
    net = pn.example_multivoltage()
    trafo = net.trafo3w.iloc[0]
    lenient = Limits(vm_min_pu=0.8, max_line_loading_percent=200.0,
                     max_trafo_loading_percent=200.0, max_trafo3w_loading_percent=30.0)  # fmt: skip
    trade = TradeRequest(1, int(trafo["lv_bus"]), int(trafo["mv_bus"]), 10_000.0)
    result = check_trades(compile_net(net), Injections.from_net(net), [trade], lenient)
    decision = result.decision(1)
    assert decision.status == "curtailed" and 0 < decision.granted_kw < 10_000.0
    binding = decision.binding
    assert (binding.element, binding.kind, binding.limit) == ("trafo3w 0", "trafo3w_loading", 30.0)
    assert result.violations.violations == ()


@pytest.mark.parametrize("phases", [None, ("a", "b", "abc", "c", "a", "b")])
def test_trade_snapshots_are_the_sums_np_add_at_makes_bit_for_bit(phases):
    """A trade case's snapshots add each unit's grant at its columns in layers (a town has
    thousands of units a row); a column that several units share (a home's export and its
    trades, a buyer of two) sums its additions in np.add.at's order, so every bit is as
    before, negative grants (probes) and signed zeros included."""
    from grid_models.feasibility import _TradeCase
    from tests.grid_models.conftest import radial_feeder

    net, bus = radial_feeder(6, 0.15)
    model = compile_net(net)
    if phases is not None:
        from grid_models.unbalanced import compile_unbalanced

        model = compile_unbalanced(net, phases)
    load_p = np.array([-0.004, 0.002, -0.006, -0.001, 0.003, -0.002])
    base = Injections(load_p, np.full(6, 0.0005), np.zeros(0), np.zeros(0))
    pairs = [(1, 2), (3, 2), (3, 5), (1, 5), (6, 4), (3, 4), (1, 2)]
    trades = [TradeRequest(i, bus[s], bus[b], 1.5 + i, *(
        (phases[s - 1], phases[b - 1]) if phases else ())) for i, (s, b) in enumerate(pairs)]
    case = _TradeCase(model, base, trades, True)
    rng = np.random.default_rng(3)
    grants = rng.integers(-2000, 9000, (5, len(case.units))).astype(np.int64)
    grants[0] = 0
    expected = np.repeat(case.s_base[None], len(grants), axis=0)
    power = grants * case.per_watt
    for w in range(case.into[0].shape[1]):  # the sums as np.add.at made them
        np.add.at(expected, (slice(None), case.into[0][:, w]), power * case.into[1][:, w])
        drawn = case.out_of[0][:, w] >= 0
        np.add.at(expected, (slice(None), case.out_of[0][drawn, w]),
                  -power[:, drawn] * case.out_of[1][drawn, w])
    assert len(case._layers) > 1  # some column is shared
    assert case.rows(grants).s.tobytes() == expected.tobytes()
