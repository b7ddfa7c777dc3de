"""A ZIP trader (Cliff 1997): shade the utility's tariff by a margin, learn it from each price.

Edit `decide`: it gets what the home knows (knows.forecast, .balance_units, .battery,
.soc_wh, .market.last_price, .params) and returns Plan(order or None, battery_wh).
"""

import numpy as np

from testbed.agents.trader import Knowledge, Plan
from testbed.ledger.transactions import Order, Side


class ZipTrader:
    def __init__(self, margin: float = 0.2, rate: float = 0.3) -> None:
        self.margin, self.rate = margin, rate
        self.quote: float | None = None  # price per kWh this trader asks or bids
        self.side: Side | None = None

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        p, f, last = knows.params, knows.forecast, knows.market.last_price
        if self.quote is not None and last is not None:  # learn from the last clearing
            traded = self.quote >= last if self.side == Side.BID else self.quote <= last
            greedier = -1 if self.side == Side.BID else 1  # a buyer bids less to gain more
            target = last * (1 + greedier * 0.05 * (1 if traded else -1))
            self.quote += self.rate * (target - self.quote)
        wh = round(abs(f.load_kw - f.pv_kw) * p.interval_seconds / 3.6)
        side = Side.BID if f.load_kw > f.pv_kw else Side.OFFER
        quote = self.quote
        if side != self.side or quote is None:  # start from the tariff, shaded by the margin
            tariff = p.retail_price_per_kwh if side == Side.BID else p.feed_in_price_per_kwh
            quote = tariff * (1 - self.margin if side == Side.BID else 1 + self.margin)
        self.side = side
        self.quote = quote = min(max(quote, p.feed_in_price_per_kwh), p.retail_price_per_kwh)
        if wh < 10:
            return Plan(None)
        return Plan(Order(knows.interval, side, min(wh, p.max_energy_wh), round(quote)))
