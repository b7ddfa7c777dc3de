"""Strategies: pure in (profile, step, state, rng), valid orders, batteries within limits."""

from dataclasses import replace

import numpy as np

from testbed.agents.home import Battery, Home, Kind, metered
from testbed.agents.strategies import plan
from testbed.agents.trader import MarketView
from testbed.ledger.transactions import Side
from testbed.market.params import MarketParams

P = MarketParams()
T = 1_466_467_200
STEPS_PER_DAY = 96  # a day of 15-minute steps
FLAT = np.full(STEPS_PER_DAY, 1.0)  # 1 kW all day: 250 Wh per interval
SUN = np.array([5.0 if 40 <= k < 64 else 0.0 for k in range(STEPS_PER_DAY)])


def home(kind, load=FLAT, pv=None, battery=None):
    return Home("h", 3, kind, load, np.zeros(STEPS_PER_DAY) if pv is None else pv, battery)


def orders_of(h, step, seed=1, **state):
    return plan(h, step, T, P, np.random.default_rng(seed), **state)


def test_same_inputs_same_orders():
    h = home(Kind.PV_OWNER, pv=SUN)
    assert orders_of(h, 50) == orders_of(h, 50)
    assert orders_of(h, 50, seed=1) != orders_of(h, 50, seed=2)


def test_household_bids_its_forecast_need_within_tariffs():
    needs = []
    for seed in range(50):
        order = orders_of(home(Kind.HOUSEHOLD), 10, seed).order
        assert order.side == Side.BID and order.interval == T
        mid = (P.feed_in_price_per_kwh + P.retail_price_per_kwh) // 2
        assert mid <= order.price_per_kwh <= P.retail_price_per_kwh
        needs.append(order.energy_wh)
    assert 200 < np.mean(needs) < 300  # 250 Wh with a 15 % forecast error
    assert len(set(needs)) > 10


def test_pv_owner_offers_surplus_at_noon_and_bids_at_night():
    h = home(Kind.PV_OWNER, pv=SUN)
    noon = orders_of(h, 50).order
    assert noon.side == Side.OFFER
    assert P.feed_in_price_per_kwh <= noon.price_per_kwh <= P.retail_price_per_kwh
    assert 500 < noon.energy_wh < 1600  # (5 - 1) kW for 15 minutes = 1000 Wh, with errors
    assert orders_of(h, 2).order.side == Side.BID


def test_battery_buys_low_sells_high_within_its_limits():
    battery = Battery(10_000, 3_000, 1_000)
    h = home(Kind.BATTERY_OWNER, load=np.zeros(STEPS_PER_DAY), battery=battery)
    cheap, dear = MarketView(150, 200), MarketView(250, 200)
    charge = orders_of(h, 0, soc_wh=5_000, market=cheap)
    assert charge.battery_wh == 750  # 3 kW for 15 minutes
    assert charge.order.side == Side.BID and charge.order.price_per_kwh == 200
    first = orders_of(h, 0, soc_wh=5_000)  # no price yet: charge, limit at the mid price
    assert first.battery_wh == 750 and first.order.price_per_kwh == 190
    full = orders_of(h, 0, soc_wh=10_000, market=cheap)
    assert full.battery_wh == 0 and full.order is None
    sell = orders_of(h, 0, soc_wh=5_000, market=dear)
    assert sell.battery_wh == -750 and sell.order.side == Side.OFFER
    assert sell.order.price_per_kwh == 200 + (300 - 200) // 3
    assert orders_of(h, 0, soc_wh=1_000, market=dear).battery_wh == 0  # at the reserve
    soc = 5_000
    for step in range(STEPS_PER_DAY):
        view = MarketView(100 + step * 3, 220)
        soc += orders_of(h, step, seed=step, soc_wh=soc, market=view).battery_wh
        assert battery.reserve_wh <= soc <= battery.capacity_wh


def test_meter_sees_actual_profiles_and_battery():
    h = home(Kind.PV_OWNER, pv=SUN)
    assert metered(h, 50, 0, 900) == (0, 1000)
    assert metered(h, 2, 0, 900) == (250, 0)
    assert metered(h, 2, 750, 900) == (1000, 0)


def test_without_forecast_error_orders_match_the_meter():
    h = replace(home(Kind.PV_OWNER, pv=SUN), load_forecast_error=0.0, pv_forecast_error=0.0)
    assert orders_of(h, 50).order.energy_wh == metered(h, 50, 0, 900)[1] == 1000
    assert orders_of(h, 2).order.energy_wh == metered(h, 2, 0, 900)[0] == 250
