"""The built-in traders (`Trader`), one per kind of home, driven by the home's forecast.

* household: bids its forecast need at a limit price drawn between the mid price and retail;
* PV owner: offers its forecast surplus at a limit drawn between feed-in and the mid price,
  and bids like a household when its forecast is a deficit;
* battery owner (a household with a battery): charges (buys, limit: the typical price) after
  cheap intervals and discharges (sells, above the typical price) after dear ones, within its
  state of charge and power limits; the battery follows that schedule, so the meter sees it.

Each is pure in (knowledge, rng): same inputs, same orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from testbed.agents.home import Home, Kind, forecast_of
from testbed.agents.trader import NOTHING_PUBLISHED, Knowledge, MarketView, Plan, Trader
from testbed.ledger.transactions import Order, Side
from testbed.market.params import MarketParams, kw_to_wh

MIN_ORDER_WH = 10  # smaller positions are not worth an order


def _order(interval: int, side: Side, energy_wh: int, price: int, p: MarketParams) -> Order | None:
    if energy_wh < MIN_ORDER_WH:
        return None
    return Order(interval, int(side), min(energy_wh, p.max_energy_wh), price)


def _mid(p: MarketParams) -> int:
    return (p.feed_in_price_per_kwh + p.retail_price_per_kwh) // 2


def _bid_price(p: MarketParams, rng: np.random.Generator) -> int:
    return int(rng.integers(_mid(p), p.retail_price_per_kwh + 1))


def _offer_price(p: MarketParams, rng: np.random.Generator) -> int:
    return int(rng.integers(p.feed_in_price_per_kwh, _mid(p) + 1))


@dataclass(frozen=True)
class Household:
    """Bids the forecast load."""

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        p = knows.params
        need = kw_to_wh(knows.forecast.load_kw, p.interval_seconds)
        return Plan(_order(knows.interval, Side.BID, need, _bid_price(p, rng), p))


@dataclass(frozen=True)
class PvOwner:
    """Offers the forecast surplus of PV over load, or bids the deficit."""

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        p, load, pv = knows.params, knows.forecast.load_kw, knows.forecast.pv_kw
        if pv > load:
            surplus = kw_to_wh(pv - load, p.interval_seconds)
            return Plan(_order(knows.interval, Side.OFFER, surplus, _offer_price(p, rng), p))
        need = kw_to_wh(load - pv, p.interval_seconds)
        return Plan(_order(knows.interval, Side.BID, need, _bid_price(p, rng), p))


@dataclass(frozen=True)
class BatteryOwner:
    """Buy low, sell high: after an interval cleared at or below the typical price (or
    before any), charge at full power with a bid limited to the typical price; otherwise
    discharge and offer the surplus a third of the way from the typical price to retail.
    Always within the state-of-charge and power limits; the household's need rides along."""

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        p, battery, soc_wh, market = knows.params, knows.battery, knows.soc_wh, knows.market
        if battery is None:  # nothing to schedule: a household
            return Household().decide(knows, rng)
        need = kw_to_wh(knows.forecast.load_kw, p.interval_seconds)
        step_wh = battery.power_w * p.interval_seconds // 3600
        typical = market.typical_price or _mid(p)
        if market.last_price is None or market.last_price <= typical:
            charge = min(step_wh, battery.capacity_wh - soc_wh)
            return Plan(_order(knows.interval, Side.BID, need + charge, typical, p), charge)
        discharge = max(0, min(step_wh, soc_wh - battery.reserve_wh))
        position = need - discharge
        if position < 0:
            high = typical + (p.retail_price_per_kwh - typical) // 3
            return Plan(_order(knows.interval, Side.OFFER, -position, high, p), -discharge)
        return Plan(_order(knows.interval, Side.BID, position, _bid_price(p, rng), p),
                    -discharge)


BY_KIND: dict[Kind, Trader] = {
    Kind.HOUSEHOLD: Household(),
    Kind.PV_OWNER: PvOwner(),
    Kind.BATTERY_OWNER: BatteryOwner(),
}
"""Each kind of home's built-in trader."""


def knowledge(home: Home, step: int, interval: int, p: MarketParams, rng: np.random.Generator,
              soc_wh: int = 0, market: MarketView = NOTHING_PUBLISHED, balance_units: int = 0
              ) -> Knowledge:
    """What ``home`` knows before interval ``interval`` (profile step ``step``): its forecast
    drawn from ``rng`` first, so a trader's own draws follow it."""
    return Knowledge(interval, p, forecast_of(home, step, rng), balance_units, home.battery,
                     soc_wh, market)


def plan(home: Home, step: int, interval: int, p: MarketParams, rng: np.random.Generator,
         soc_wh: int = 0, market: MarketView = NOTHING_PUBLISHED) -> Plan:
    """The built-in trader of ``home``'s kind for interval ``interval`` (step ``step``)."""
    return BY_KIND[home.kind].decide(knowledge(home, step, interval, p, rng, soc_wh, market),
                                     rng)
