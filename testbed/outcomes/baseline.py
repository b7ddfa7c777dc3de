"""The run with the market off: the same homes, profiles, seeds and intervals, no market.

Every home's meter reads its actual load and PV plus its battery (`agents.home.metered`), as a
modelled home's meter does in the run; nothing is curtailed (no trade is refused by the grid,
so no inverter holds back), and a physical home's modelled profiles stand in for its bench.
Each battery runs its home's trader (`agents.trader`) with the interval's seeded draws
and a market that never clears a price: no market, no prices. It so charges at full power
until full and then holds its charge, which is what the run's batteries do until the first
interval trades.
"""

from __future__ import annotations

from collections.abc import Sequence

from testbed.agents.home import Home, metered, starting_charge_wh
from testbed.agents.trader import MarketView, Trader
from testbed.interval.orders import built_in, plans
from testbed.market.params import MarketParams


class Baseline:
    """The market-off counterfactual, one interval after the other (the batteries' charge
    carries over)."""

    def __init__(self, homes: Sequence[Home], params: MarketParams, seed: int, start_s: int,
                 traders: Sequence[Trader] | None = None) -> None:
        self.homes, self.params, self.seed, self.start_s = homes, params, seed, start_s
        self.traders = tuple(traders) if traders is not None else built_in(homes)
        self.soc_wh = starting_charge_wh(homes)
        self.next_k = 0

    def interval(self, k: int) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
        """Interval ``k``'s battery schedules (Wh, + charging) and meter readings
        ((imported, exported) Wh), per home."""
        assert k == self.next_k, f"baseline interval {k} out of order: expected {self.next_k}"
        self.next_k += 1
        interval_s = self.params.interval_seconds
        decisions, _ = plans(self.homes, self.traders, k, self.start_s + k * interval_s,
                          self.params, self.seed, self.soc_wh, MarketView())
        battery = tuple(d.battery_wh for d in decisions)
        return battery, tuple(metered(h, k, b, interval_s) for h, b in zip(self.homes, battery))
