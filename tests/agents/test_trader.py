"""The `Trader` protocol: any object with ``decide`` trades for a home, from what the home may
know, and what it asks of its battery is cut to what the battery can do."""

from dataclasses import dataclass

import numpy as np

from testbed.agents.home import Battery, Forecast, Home, Kind, feasible_battery_wh
from testbed.agents.strategies import BY_KIND, knowledge, plan
from testbed.agents.trader import Knowledge, MarketView, Plan
from testbed.interval.orders import built_in, plans
from testbed.ledger.transactions import Order, Side
from testbed.market.params import MarketParams

P = MarketParams()
T = 1_466_467_200
DAY = 96


@dataclass
class Recording:
    """Bids its forecast load at retail and asks the battery for far more than it can do;
    remembers what it was told."""

    seen: list

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        self.seen.append(knows)
        wh = round(knows.forecast.load_kw * 250)
        return Plan(Order(knows.interval, int(Side.BID), wh, P.retail_price_per_kwh), 10**9)


BATTERY = Battery(10_000, 4_000, 1_000)


def _home(kind=Kind.BATTERY_OWNER, battery=BATTERY):
    return Home("h", 3, kind, np.full(DAY, 1.0), np.zeros(DAY), battery)


def test_a_trader_is_told_what_its_home_may_know_and_its_battery_is_kept_in_limits():
    homes, trader = [_home(), _home(Kind.HOUSEHOLD, None)], Recording([])
    soc = [9_500, 0]
    view = MarketView(120, 150, 4_000)
    decided, refused = plans(homes, [trader, trader], 3, T, P, 7, soc, view, [500, 600])
    assert refused == ()
    first, second = trader.seen
    assert (first.interval, first.balance_units, first.soc_wh, first.market) == (T, 500, 9_500,
                                                                                 view)
    assert first.battery == homes[0].battery and second.battery is None
    assert second.balance_units == 600 and first.params == P
    assert [d.battery_wh for d in decided] == [500, 0]  # room left in the battery; no battery
    assert soc == [10_000, 0]
    assert all(d.order.side == Side.BID for d in decided)


def test_battery_limits():
    b = Battery(10_000, 4_000, 1_000)  # 1,000 Wh per 15 minutes
    assert feasible_battery_wh(b, 5_000, 5_000, 900) == 1_000
    assert feasible_battery_wh(b, 5_000, -5_000, 900) == -1_000
    assert feasible_battery_wh(b, 300, -5_000, 900) == -300  # the reserve is the trader's
    assert feasible_battery_wh(b, 9_800, 700, 900) == 200
    assert feasible_battery_wh(None, 0, 700, 900) == 0


def test_built_in_traders_are_the_strategies_of_each_kind():
    homes = [_home(k, Battery(10_000, 3_000, 1_000) if k is Kind.BATTERY_OWNER else None)
             for k in Kind]
    assert built_in(homes) == tuple(BY_KIND[k] for k in Kind)
    for h in homes:  # the plan of a home is its kind's trader's on the same knowledge and draws
        a, b = np.random.default_rng(4), np.random.default_rng(4)
        knows = knowledge(h, 10, T, P, a, 5_000, MarketView())
        assert BY_KIND[h.kind].decide(knows, a) == plan(h, 10, T, P, b, 5_000)


def test_the_forecast_is_drawn_before_the_traders_own_draws():
    h = _home(Kind.PV_OWNER, None)
    rng = np.random.default_rng(1)
    knows = knowledge(h, 0, T, P, rng)
    again = np.random.default_rng(1)
    load = max(0.0, 1.0 * (1 + h.load_forecast_error * again.standard_normal()))
    again.standard_normal()  # the PV's draw
    assert knows.forecast == Forecast(load, 0.0)
    assert rng.standard_normal() == again.standard_normal()
