"""A ZIP trader (Cliff 1997): shade the utility's tariff by a margin, learn it from each price.

Edit `decide`: it gets what the home knows (knows.forecast, .balance_units, .battery,
.soc_wh, .market.last_price, .params) and returns Plan(order or None, battery_wh).
"""

from testbed.agents.trader import Plan
from testbed.ledger.transactions import Order, Side


class ZipTrader:
    def __init__(self, margin=0.2, rate=0.3):
        self.margin, self.rate, self.quote, self.side = margin, rate, None, None

    def decide(self, knows, rng):
        p, f, last = knows.params, knows.forecast, knows.market.last_price
        if self.quote is not None and last is not None:  # learn from the last clearing
            traded = self.quote >= last if self.side == Side.BID else self.quote <= last
            greedier = -1 if self.side == Side.BID else 1  # a buyer bids less to gain more
            target = last * (1 + greedier * 0.05 * (1 if traded else -1))
            self.quote += self.rate * (target - self.quote)
        wh = round(abs(f.load_kw - f.pv_kw) * p.interval_seconds / 3.6)
        side = Side.BID if f.load_kw > f.pv_kw else Side.OFFER
        if side != self.side:  # start from the utility's tariff, shaded by the margin
            tariff = p.retail_price_per_kwh if side == Side.BID else p.feed_in_price_per_kwh
            self.quote = tariff * (1 - self.margin if side == Side.BID else 1 + self.margin)
        self.side = side
        self.quote = min(max(self.quote, p.feed_in_price_per_kwh), p.retail_price_per_kwh)
        if wh < 10:
            return Plan(None)
        return Plan(Order(knows.interval, side, min(wh, p.max_energy_wh), round(self.quote)))
