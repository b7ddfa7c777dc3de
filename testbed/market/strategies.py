"""Participants' trading strategies for simulations, driven by SimBench profiles.

Simulation side (floats allowed): each strategy turns a *forecast* of the next interval (the
actual profile value with a seeded relative error) into at most one `Order`; the meter later
reads the *actual* profile, so deliveries differ from trades and settlement has work to do.

* household: bids its forecast need at a limit price drawn between the mid price and retail;
* PV owner: offers its forecast surplus at a limit drawn between feed-in and the mid price,
  and bids like a household when its forecast is a deficit;
* battery owner (a household with a battery): charges (buys, limit: the typical price) after
  cheap intervals and discharges (sells, above the typical price) after dear ones, within its
  state of charge and power limits; the battery follows that schedule, so the meter sees it.

Every function here is pure in (profile, step, state, rng): same inputs, same orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from testbed.ledger.transactions import Order, Role, Side
from testbed.market.params import MarketParams, kw_to_wh

LOAD_FORECAST_ERROR = 0.15  # default relative standard deviation of a home's load forecast
PV_FORECAST_ERROR = 0.25  # and of its PV forecast
MIN_ORDER_WH = 10  # smaller positions are not worth an order


class Kind(Enum):
    HOUSEHOLD = Role.CONSUMER
    PV_OWNER = Role.PROSUMER
    BATTERY_OWNER = Role.STORAGE


@dataclass(frozen=True)
class Battery:
    capacity_wh: int
    power_w: int
    reserve_wh: int  # never discharged below this


@dataclass(frozen=True)
class Home:
    """One home of the feeder: its bus, what it owns and its profiles (kW per 15 minutes)."""

    name: str
    bus: int
    kind: Kind
    load_kw: np.ndarray
    pv_kw: np.ndarray
    battery: Battery | None = None
    load_forecast_error: float = LOAD_FORECAST_ERROR
    pv_forecast_error: float = PV_FORECAST_ERROR


@dataclass(frozen=True)
class MarketView:
    """What a strategy knows of the market: the last clearing price and the typical one
    (for example the mean of the day's clearing prices so far); None before any."""

    last_price: int | None = None
    typical_price: int | None = None


@dataclass(frozen=True)
class Plan:
    """A strategy's decision for one interval: the order (if any) and the battery's schedule
    (Wh, positive = charging)."""

    order: Order | None
    battery_wh: int = 0


# --- strategies ------------------------------------------------------------------------------


def forecast(actual_kw: float, relative_error: float, rng: np.random.Generator) -> float:
    """The actual value with a seeded relative error, never negative."""
    return max(0.0, actual_kw * (1.0 + relative_error * rng.standard_normal()))


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


def _forecast_need(home: Home, step: int, p: MarketParams, rng: np.random.Generator) -> int:
    """The home's forecast consumption over the interval, in Wh."""
    load = forecast(home.load_kw[step], home.load_forecast_error, rng)
    return kw_to_wh(load, p.interval_seconds)


def household(home: Home, step: int, interval: int, p: MarketParams,
              rng: np.random.Generator) -> Plan:
    need = _forecast_need(home, step, p, rng)
    return Plan(_order(interval, Side.BID, need, _bid_price(p, rng), p))


def pv_owner(home: Home, step: int, interval: int, p: MarketParams,
             rng: np.random.Generator) -> Plan:
    load = forecast(home.load_kw[step], home.load_forecast_error, rng)
    pv = forecast(home.pv_kw[step], home.pv_forecast_error, rng)
    if pv > load:
        surplus = kw_to_wh(pv - load, p.interval_seconds)
        return Plan(_order(interval, Side.OFFER, surplus, _offer_price(p, rng), p))
    need = kw_to_wh(load - pv, p.interval_seconds)
    return Plan(_order(interval, Side.BID, need, _bid_price(p, rng), p))


def battery_owner(home: Home, step: int, interval: int, p: MarketParams,
                  rng: np.random.Generator, soc_wh: int, market: MarketView) -> Plan:
    """Buy low, sell high: after an interval cleared at or below the typical price (or
    before any), charge at full power with a bid limited to the typical price; otherwise
    discharge and offer the surplus a third of the way from the typical price to retail.
    Always within the state-of-charge and power limits; the household's need rides along."""
    battery = home.battery
    assert battery is not None
    need = _forecast_need(home, step, p, rng)
    step_wh = battery.power_w * p.interval_seconds // 3600
    typical = market.typical_price or _mid(p)
    if market.last_price is None or market.last_price <= typical:
        charge = min(step_wh, battery.capacity_wh - soc_wh)
        return Plan(_order(interval, Side.BID, need + charge, typical, p), charge)
    discharge = max(0, min(step_wh, soc_wh - battery.reserve_wh))
    position = need - discharge
    if position < 0:
        high = typical + (p.retail_price_per_kwh - typical) // 3
        return Plan(_order(interval, Side.OFFER, -position, high, p), -discharge)
    return Plan(_order(interval, Side.BID, position, _bid_price(p, rng), p), -discharge)


def plan(home: Home, step: int, interval: int, p: MarketParams, rng: np.random.Generator,
         soc_wh: int = 0, market: MarketView = MarketView()) -> Plan:
    """The home's strategy for interval ``interval`` (profile step ``step``)."""
    if home.kind is Kind.PV_OWNER:
        return pv_owner(home, step, interval, p, rng)
    if home.kind is Kind.BATTERY_OWNER:
        return battery_owner(home, step, interval, p, rng, soc_wh, market)
    return household(home, step, interval, p, rng)


def metered(home: Home, step: int, battery_wh: int, interval_seconds: int) -> tuple[int, int]:
    """(imported, exported) Wh the meter reads: actual load and PV, plus the battery."""
    load, pv = home.load_kw[step], home.pv_kw[step]
    net = kw_to_wh(load - pv, interval_seconds) - kw_to_wh(pv - load, interval_seconds)
    net += battery_wh
    return max(net, 0), max(-net, 0)
