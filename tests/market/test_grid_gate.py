"""The grid gate: unit conversions, the constraint code table, and the feeder's real power flow
curtailing a trade the contract then accepts."""

import math

import pytest

from testbed.agents.grid_gate import (
    OTHER_KIND,
    AcceptAll,
    FeederGate,
    GateDecision,
    GridTrade,
    ledger_constraint,
)
from testbed.agents.proposer import clear, clearing_body
from testbed.ledger.transactions import Constraint, Side
from testbed.market.params import kw_to_wh, wh_to_kw

from .conftest import VALIDATOR, Market, T

NOON = 172 * 96 + 48  # a summer noon in the profile year


def test_energy_power_round_trip_is_exact_or_rounds_down():
    for wh in range(0, 100_001, 7):
        assert kw_to_wh(wh_to_kw(wh, 900), 900) == wh
    assert kw_to_wh(0.0039, 900) == 0  # 0.975 Wh: never grant more than measured
    assert kw_to_wh(-1e-12, 900) == 0


def test_constraint_codes():
    assert ledger_constraint("line 24", "line_loading", 102.0451, 100.0) == Constraint(
        1, "line 24", 102045100, 100000000)
    assert ledger_constraint("trafo 0", "trafo_loading", 101.0, 100.0).kind == 2
    assert ledger_constraint("bus 7", "voltage_high", 1.1042317, 1.1) == Constraint(
        3, "bus 7", 1104232, 1100000)
    assert ledger_constraint("bus 7", "voltage_low", 0.89, 0.9).kind == 4
    assert ledger_constraint("grid", "not_converged", math.nan, math.nan) == Constraint(
        5, "grid", 0, 0)
    assert ledger_constraint("x", "thermal", 1.0, 2.0) == Constraint(
        OTHER_KIND, "thermal:x", 1000000, 2000000)
    assert ledger_constraint("line 3 neutral", "neutral_loading", 101.0, 100.0).kind == 8
    assert ledger_constraint("bus 31 phase b", "voltage_unbalance", 2.5, 2.0) == Constraint(
        9, "bus 31 phase b", 2500000, 2000000)


def test_accept_all_grants_everything():
    trades = [GridTrade(0, 1, 2, 500), GridTrade(1, 2, 3, 0)]
    assert AcceptAll().decide(trades, None, 900) == [GateDecision(500), GateDecision(0)]


@pytest.fixture(scope="module")
def sb_feeder():
    from grid_models import load_feeder
    from testbed.scenario import load_scenario

    return load_feeder(load_scenario().grid.feeder)


def test_feeder_gate_curtails_an_overload_and_the_contract_accepts_it(sb_feeder):
    buses = sorted(int(b) for b in sb_feeder.net.load.bus)
    gate, base = FeederGate(sb_feeder), sb_feeder.profiles.at(NOON)
    # 100 kWh in 15 minutes is 400 kW across the feeder: far beyond its lines.
    m = Market(["A", "B", "C", "D"], deposit=40_000,
               buses=[buses[0], buses[-1], buses[3], buses[5]])
    m.order("A", Side.BID, 100_000, 250)
    m.order("B", Side.OFFER, 100_000, 100)
    proposal = clear(m.contract, T)
    decisions = gate.decide(proposal.grid_trades, base, 900)
    (decision,) = decisions
    assert 0 < decision.granted_wh < 100_000
    assert decision.constraint.kind in (1, 2, 3, 4)
    assert decision.constraint.value_micro > decision.constraint.limit_micro
    body = clearing_body(proposal, decisions)
    m.apply(VALIDATOR, body, T - 300)
    assert m.escrow("A") == decision.granted_wh * 300 // 1000
    assert m.contract.cleared[T].trades[0].constraint == decision.constraint


def test_feeder_gate_grants_small_trades_in_full(sb_feeder):
    buses = sorted(int(b) for b in sb_feeder.net.load.bus)
    gate, base = FeederGate(sb_feeder), sb_feeder.profiles.at(NOON)
    trades = [GridTrade(0, buses[3], buses[5], 200), GridTrade(1, buses[7], buses[2], 1234)]
    assert gate.decide(trades, base, 900) == [GateDecision(200), GateDecision(1234)]
    assert gate.decide([], base, 900) == []


def test_feeder_gate_rejects_only_the_trade_off_the_feeder(sb_feeder):
    buses = sorted(int(b) for b in sb_feeder.net.load.bus)
    gate, base = FeederGate(sb_feeder), sb_feeder.profiles.at(NOON)
    trades = [GridTrade(0, buses[3], 99_999, 200), GridTrade(1, buses[7], buses[2], 1234)]
    assert gate.decide(trades, base, 900) == [
        GateDecision(0, Constraint(6, "bus 99999", 0, 0)), GateDecision(1234)]


def test_feeder_gate_on_three_phases_names_the_phase(sb_feeder):
    """The homes on phases: a trade between two homes of one phase passes where the same power
    between phases would unbalance the feeder; the refusal names the bus and its phase."""
    from grid_models import Limits

    loads = sb_feeder.net.load
    far = int(loads["bus"].iloc[loads.index.get_loc(loads.index[-1])])
    phases = ["a"] * len(loads)
    feeder = sb_feeder.with_phases(phases)
    gate = FeederGate(feeder, Limits(vm_min_pu=0.5, vm_max_pu=1.5, max_vuf_percent=0.5))
    base = sb_feeder.profiles.at(NOON)
    near = int(loads["bus"].iloc[0])
    trades = [GridTrade(0, far, near, 8_000, seller_phase="b", buyer_phase="a")]
    (decision,) = gate.decide(trades, base, 900)
    assert decision.granted_wh < 8_000
    assert decision.constraint.kind == 9  # voltage_unbalance
    assert " phase " in decision.constraint.element and decision.constraint.element.startswith(
        "bus ")
