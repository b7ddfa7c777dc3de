"""Key figures of tiny neighbourhoods worked out by hand (in the comments), through the
subscriber as a run's events reach it; the transformer's power against pandapower's runpp.

Defaults: feed-in 80, retail 300, penalty 100 per kWh; cost = Wh * price // 1000; a 900 s
interval, so 1 kW over it is 250 Wh.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pytest

from grid_models.feeders import Feeder
from grid_models.violations import DEFAULT_LIMITS
from testbed.agents.grid_gate import AcceptAll
from testbed.agents.home import Battery, Home, Kind
from testbed.events import (
    BlockCommitted,
    ClearedTrade,
    EventStream,
    IntervalCleared,
    IntervalOutcome,
    IntervalSettled,
    MeterRead,
    OrdersPlaced,
    Payment,
)
from testbed.interval.grid import Grid
from testbed.market.params import MarketParams
from testbed.neighbourhood import Neighbourhood
from testbed.outcomes.observer import Outcomes

START = 1_468_886_400  # 2016-07-19T00:00:00Z
S = 900
A, B, C = 0, 1, 2
UTILITY = None


def small_feeder(homes: int) -> Feeder:
    """An MV slack, a 0.4 MVA transformer and one 50 m cable to each home's bus."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, mv)
    lv = pp.create_bus(net, 0.4)
    pp.create_transformer(net, mv, lv, std_type="0.4 MVA 20/0.4 kV")
    for _ in range(homes):
        bus = pp.create_bus(net, 0.4)
        pp.create_line(net, lv, bus, 0.05, "NAYY 4x150 SE")
        pp.create_load(net, bus, p_mw=0.0)
    return Feeder("hand", net, {int(i): int(b) for i, b in net.load["bus"].items()}, {}, None)


class Case:
    """Homes on a small feeder, the subscriber, and what it published."""

    def __init__(self, homes: list[Home]) -> None:
        self.feeder = small_feeder(len(homes))
        buses = self.feeder.net.load["bus"].tolist()
        homes = [Home(h.name, buses[i], h.kind, h.load_kw, h.pv_kw, h.battery)
                 for i, h in enumerate(homes)]
        steps = len(homes[0].load_kw)
        self.hood = Neighbourhood(tuple(homes), np.zeros((steps, len(homes))),
                                  tuple(0.0 for _ in homes), frozenset(), ("abc",) * len(homes))
        self.events = EventStream()
        self.outcomes = Outcomes(self.hood, MarketParams(), 0, START,
                                 Grid(self.feeder, self.hood, AcceptAll(), DEFAULT_LIMITS, S),
                                 self.events)
        self.events.subscribe(self.outcomes)
        self.published: list[IntervalOutcome] = []
        self.events.subscribe(lambda e: isinstance(e, IntervalOutcome) and
                              self.published.append(e))

    def interval(self, k: int, battery_wh, trades, readings, payments) -> None:
        """One interval's events in the loop's order: orders, clearing, readings, settlement."""
        start = START + k * S
        publish = self.events.publish
        publish(OrdersPlaced(k, start, (), tuple(battery_wh)))
        publish(IntervalCleared(k, start, trades[0].price_per_kwh if trades else None,
                                tuple(trades)))
        for home, (imported, exported) in enumerate(readings):
            publish(MeterRead(k, start, home, imported, exported))
        publish(IntervalSettled(k, start, (), tuple(payments)))

    def upstream_by_runpp(self, readings) -> float:
        """The transformer's power (kW) for the homes' net consumption, by pandapower."""
        net = copy.deepcopy(self.feeder.net)
        net.load["p_mw"] = [(i - e) / 250 / 1000 for i, e in readings]
        net.load["q_mvar"] = 0.0
        pp.runpp(net)
        return float(net.res_trafo["p_hv_mw"].iloc[0]) * 1000


def trade(seller, buyer, energy_wh, granted_wh, price):
    return ClearedTrade(seller, buyer, energy_wh, granted_wh, price, None)


def pay(payer, payee, amount, kind):
    return Payment(payer, payee, amount, kind)


def test_two_homes_noon_and_evening():
    # A has 6 kW of sun on a 2 kW load at noon; B a 4 kW load; no sun in the evening.
    case = Case([
        Home("A", 0, Kind.PV_OWNER, np.array([2.0, 2.0]), np.array([6.0, 0.0])),
        Home("B", 0, Kind.HOUSEHOLD, np.array([4.0, 4.0]), np.array([0.0, 0.0])),
    ])
    # Noon: A sold B 800 Wh at 200 and exported 1000; B imported 1000. Delivered 800: B pays
    # A 800 * 200 // 1000 = 160 on chain. Off the market: A's 200 Wh beyond its sale at
    # feed-in (16), B's 200 Wh beyond its purchase at retail (60). Bills: A -176, B 220.
    noon = [(0, 1000), (1000, 0)]
    case.interval(0, [0, 0], [trade(A, B, 800, 800, 200)], noon,
                  [pay(B, A, 160, "trade")])
    # Evening, no trades: A imports 500 (150), B 1000 (300), as without the market.
    evening = [(500, 0), (1000, 0)]
    case.interval(1, [0, 0], [], evening, [])
    # Without the market: A -1000 * 80 // 1000 + 150 = 70, B 300 + 300 = 600.
    assert [(e.bill_units, e.baseline_bill_units) for e in case.published] == [
        ((-176, 220), (-80, 300)), ((150, 300), (150, 300))]
    for e, readings in zip(case.published, (noon, evening)):
        expected = case.upstream_by_runpp(readings)  # the same flows on both sides
        assert e.upstream_kw == pytest.approx(expected, abs=1e-3)
        assert e.baseline_upstream_kw == pytest.approx(expected, abs=1e-3)
    f = case.outcomes.figures(traded_kwh=0.8, trades=1, validation_cpu_s=0.25)
    # Demand 2 x (500 + 1000) = 3000 Wh, PV 1500 (all used: A's export goes to B at noon);
    # net import 0 at noon and 1500 in the evening: demand met inside 1500 of 3000.
    assert (f["demand_kwh"], f["pv_potential_kwh"]) == (3.0, 1.5)
    assert (f["self_sufficiency_percent"], f["baseline_self_sufficiency_percent"]) == (50, 50)
    assert (f["self_consumption_percent"], f["baseline_self_consumption_percent"]) == (100, 100)
    assert (f["bills_total"], f["baseline_bills_total"]) == (494, 670)
    assert (f["homes_better_off"], f["homes_worse_off"]) == (2, 0)
    assert (f["largest_loss_units"], f["largest_loss_home"]) == (0, None)
    noon_kw, evening_kw = (case.upstream_by_runpp(r) for r in (noon, evening))
    assert noon_kw > 0 and evening_kw > 0  # the feeder's losses at noon come from upstream
    assert f["upstream_import_kwh"] == pytest.approx((noon_kw + evening_kw) / 4, abs=1e-3)
    assert f["upstream_export_kwh"] == 0
    assert f["peak_import_kw"] == pytest.approx(evening_kw, abs=1e-3)
    assert f["peak_export_kw"] == 0
    assert f["validation_cpu_s_per_1000_trades"] == 250.0


def test_three_homes_curtailment_battery_and_a_shortfall():
    # A: PV 8 kW on a 0.4 kW load at noon, 0.4 kW later (a cloud). B: 4 kW load. C: a 2 kW
    # load and a battery (2 kWh, 2 kW: 500 Wh per interval; starts half full).
    case = Case([
        Home("A", 0, Kind.PV_OWNER, np.array([0.4, 0.4]), np.array([8.0, 0.4])),
        Home("B", 0, Kind.HOUSEHOLD, np.array([4.0, 4.0]), np.array([0.0, 0.0])),
        Home("C", 0, Kind.BATTERY_OWNER, np.array([2.0, 2.0]), np.array([0.0, 0.0]),
             Battery(2000, 2000, 200)),
    ])
    # Noon: A sells B 1000 and C 900 at 150; the grid grants C's trade 600 only, so A's
    # inverter holds its export at 1600 (300 Wh of its 1900 surplus held back). C charges
    # 500 and imports 1000. Settlement: delivered 1000 and 600; B pays A 150, C pays A 90.
    # Off the market: C's 400 Wh beyond its grant at retail (120). Bills: A -240, B 150,
    # C 210.
    noon = [(0, 1600), (1000, 0), (1000, 0)]
    case.interval(0, [0, 0, 500],
                  [trade(A, B, 1000, 1000, 150), trade(A, C, 900, 600, 150)], noon,
                  [pay(B, A, 150, "trade"), pay(C, A, 90, "trade")])
    # The cloud: A sold B 1000 at 150 but its PV only covers its own load, so it exports
    # nothing; C's battery discharges 500 and covers C's load. Delivered 0: B pays the 1000
    # at retail (300) on chain, A the penalty on 1000 (100). Bills: A 100, B 300, C 0.
    cloud = [(0, 0), (1000, 0), (0, 0)]
    case.interval(1, [0, 0, -500], [trade(A, B, 1000, 1000, 150)], cloud,
                  [pay(B, UTILITY, 300, "retail"), pay(A, UTILITY, 100, "penalty")])
    # Without the market nothing is held back: A exports 1900 (-152), then nothing; C's
    # battery, seeing no prices, charges at full power until full: 500, then 500 (full), so C
    # imports 1000 (300) twice; B pays 300 twice.
    assert [(e.bill_units, e.baseline_bill_units) for e in case.published] == [
        ((-240, 150, 210), (-152, 300, 300)), ((100, 300, 0), (0, 300, 300))]
    base_noon, base_cloud = [(0, 1900), (1000, 0), (1000, 0)], [(0, 0), (1000, 0), (1000, 0)]
    for e, run, base in zip(case.published, (noon, cloud), (base_noon, base_cloud)):
        assert e.upstream_kw == pytest.approx(case.upstream_by_runpp(run), abs=1e-3)
        assert e.baseline_upstream_kw == pytest.approx(case.upstream_by_runpp(base), abs=1e-3)
    for size in (1000, 2000):
        case.events.publish(BlockCommitted(1, "00", START, 3, size, 1.0))
    f = case.outcomes.figures(traded_kwh=2.5, trades=3, validation_cpu_s=0.3)
    # Demand 2 x (100 + 1000 + 500) = 3200 Wh; PV potential 2000 + 100 = 2100.
    # With the market: net import 2000 - 1600 = 400, then 1000; batteries +500, then -500.
    # Demand met inside: 1600 - 400, then 1600 - 1000; PV used: 1600 + 500 - 400 (the 300 Wh
    # held back were not used), then 1600 - 500 - 1000 (A's own 100 Wh; C's battery covered
    # 500). Without: net import 100, then 2000 (C's battery charging from upstream); batteries
    # +500 twice. Met inside: 1500, then none; PV used: 2000, then 100: all of it.
    assert (f["demand_kwh"], f["pv_potential_kwh"]) == (3.2, 2.1)
    assert (f["self_sufficiency_percent"], f["baseline_self_sufficiency_percent"]) == (
        56.25, 46.875)
    assert (f["self_consumption_percent"], f["baseline_self_consumption_percent"]) == (
        85.714, 100)
    assert (f["battery_net_charge_kwh"], f["baseline_battery_net_charge_kwh"]) == (0, 1.0)
    # A: -140 against -152, 12 worse; B 450 against 600; C 210 against 600.
    assert (f["bills_total"], f["baseline_bills_total"]) == (520, 1048)
    assert (f["homes_better_off"], f["homes_worse_off"]) == (2, 1)
    assert (f["largest_loss_units"], f["largest_loss_home"]) == (12, "A")
    assert (f["ledger_bytes"], f["ledger_bytes_per_kwh_traded"]) == (3000, 1200.0)
    assert f["validation_cpu_s_per_1000_trades"] == 100.0
