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
from testbed.ledger.transactions import Order
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


class Trader(Protocol):
    """A home's trading agent."""

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        """The plan for ``knows.interval``; ``rng`` is the run's seeded source for the
        interval (a trader that draws from it is reproducible)."""
        ...
