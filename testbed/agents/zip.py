"""ZIP: the Zero-Intelligence-Plus trader (Cliff 1997, HP Labs HPL-97-141), in this market.

Each home quotes its limit price shaded by a profit margin: a seller (PV surplus) asks
``feed_in * (1 + margin)``, a buyer bids ``retail * (1 - margin)`` (the utility's tariffs are
what it gets without the market). After each interval it learns from the clearing price q:
a quote that traded moves towards more profit (a target just beyond q), one that did not, or
an interval with no trade, towards q or past it (Widrow-Hoff with momentum: the quote moves by
``beta`` of the gap to the target, smoothed by ``gamma``). One margin per side, since a home
with PV sells at noon and buys at night. Its battery stays idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from testbed.agents.strategies import MIN_ORDER_WH
from testbed.agents.trader import Knowledge, Plan
from testbed.ledger.transactions import Order, Side
from testbed.market.params import kw_to_wh


@dataclass
class Zip:
    """A ZIP trader; ``beta`` (learning rate) and ``gamma`` (momentum) as in Cliff's paper."""

    beta: float = 0.3
    gamma: float = 0.05
    margins: dict[int, float] = field(default_factory=dict)  # side -> margin
    quotes: dict[int, float] = field(default_factory=dict)  # side -> last quote
    changes: dict[int, float] = field(default_factory=dict)  # side -> last change
    last_side: int | None = None

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        p = knows.params
        if self.last_side is not None:
            self._learn(self.last_side, knows.market.last_price, p.feed_in_price_per_kwh,
                        p.retail_price_per_kwh, rng)
        net_kw = knows.forecast.load_kw - knows.forecast.pv_kw
        side = int(Side.BID if net_kw > 0 else Side.OFFER)
        energy_wh = min(kw_to_wh(abs(net_kw), p.interval_seconds), p.max_energy_wh)
        margin = self.margins.setdefault(side, float(rng.uniform(0.05, 0.35)))
        limit = p.retail_price_per_kwh if side == Side.BID else p.feed_in_price_per_kwh
        quote = limit * (1 - margin) if side == Side.BID else limit * (1 + margin)
        price = int(np.clip(round(quote), p.feed_in_price_per_kwh, p.retail_price_per_kwh))
        self.quotes[side], self.last_side = float(price), side
        if energy_wh < MIN_ORDER_WH:
            self.last_side = None
            return Plan(None)
        return Plan(Order(knows.interval, side, energy_wh, price))

    def _learn(self, side: int, cleared: int | None, feed_in: int, retail: int,
               rng: np.random.Generator) -> None:
        quote = self.quotes[side]
        up, down = rng.uniform(1.0, 1.05), rng.uniform(0.95, 1.0)
        shift = rng.uniform(0.0, 0.05) * (retail - feed_in)
        buyer = side == Side.BID
        traded = cleared is not None and (quote >= cleared if buyer else quote <= cleared)
        anchor = quote if cleared is None else cleared
        if traded == buyer:  # a buyer that traded, a seller that did not: quote lower
            target = anchor * down - shift
        else:
            target = anchor * up + shift
        change = self.gamma * self.changes.get(side, 0.0) + (1 - self.gamma) * self.beta * (
            target - quote)
        self.changes[side] = change
        quote = float(np.clip(quote + change, feed_in, retail))
        self.margins[side] = 1 - quote / retail if buyer else quote / feed_in - 1
