"""The `Trader` protocol: what a home decides for an interval, from what it may know.

A home knows its own forecast, balance and battery, the market's parameters (on the chain
since genesis) and what the chain has published: the clearing prices and traded volumes of
the intervals so far. It decides at most one order for the interval (side, energy, price) and
its battery's schedule. How the order reaches the chain is not the trader's business: the
home's signer sends it in plaintext in a public market and sealed (commit, then reveal after
gate closure) in a private one, cut to what the balance can escrow.

A trader is any object with ``decide``; the built-in ones are in `strategies`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from testbed.agents.home import Battery, Forecast
from testbed.ledger.transactions import Order, Side
from testbed.market.params import MarketParams


@dataclass(frozen=True)
class MarketView:
    """What the chain has published, as a home remembers it: the last clearing price and the
    typical one (the mean of the clearing prices so far), and the energy the last clearing
    granted; None before any interval traded."""

    last_price: int | None = None
    typical_price: int | None = None
    last_volume_wh: int | None = None


NOTHING_PUBLISHED = MarketView()
"""What a home knows of the market before any interval traded."""


def market_view(prices: list[int], last_volume_wh: int | None) -> MarketView:
    """What a home remembers of the clearing prices so far (of the intervals that traded) and
    the last clearing's volume."""
    if not prices:
        return NOTHING_PUBLISHED
    return MarketView(prices[-1], sum(prices) // len(prices), last_volume_wh)


@dataclass(frozen=True)
class Knowledge:
    """Everything a home may know when it decides the interval starting at ``interval``."""

    interval: int  # the delivery interval's start, Unix seconds
    params: MarketParams
    forecast: Forecast
    balance_units: int  # free balance on the chain (escrow excluded)
    battery: Battery | None
    soc_wh: int  # the battery's charge now (0 without one)
    market: MarketView


@dataclass(frozen=True)
class Plan:
    """A trader's decision for one interval: the order (if any) and the battery's schedule
    (Wh, positive = charging)."""

    order: Order | None
    battery_wh: int = 0


def refusal(plan: Plan, knows: Knowledge) -> str | None:
    """Why the run does not take ``plan`` (an order the contract would refuse whatever the
    home's balance), or None: the check an agent's plan passes before the home signs it."""
    p, order = knows.params, plan.order
    if not isinstance(plan.battery_wh, int):
        return f"battery_wh {plan.battery_wh!r} is not a whole number of Wh"
    if order is None:
        return None
    if not isinstance(order, Order):
        return f"the order is a {type(order).__name__}, not an Order"
    if order.interval != knows.interval:
        return f"an order for interval {order.interval}, not {knows.interval}"
    if order.side not in (Side.BID, Side.OFFER):
        return f"unknown order side {order.side!r}"
    if not isinstance(order.energy_wh, int) or not 0 < order.energy_wh <= p.max_energy_wh:
        return f"energy {order.energy_wh!r} Wh outside 1..{p.max_energy_wh}"
    if not isinstance(order.price_per_kwh, int) or not (
            p.feed_in_price_per_kwh <= order.price_per_kwh <= p.retail_price_per_kwh):
        return (f"price {order.price_per_kwh!r} outside [feed-in {p.feed_in_price_per_kwh}, "
                f"retail {p.retail_price_per_kwh}]")
    return None


class Trader(Protocol):
    """A home's trading agent."""

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        """The plan for ``knows.interval``; ``rng`` is the run's seeded source for the
        interval (a trader that draws from it is reproducible)."""
        ...


class Absent:
    """The run's stand-in for a home that decides for itself (an external agent process,
    `agents.external`): the run plans nothing for it."""

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        return Plan(None)
