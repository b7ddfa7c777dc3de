"""The run against its market-off baseline, as its events arrive.

Subscribed to the run's events (before the recorder): as each interval settles, its meters'
readings, the positions the grid granted and the settlement's payments give each home's bill;
the baseline's readings for the same interval give its bills without the market; one power
flow of each side's metered net consumption gives the power through the feeder's transformer.
The interval's `IntervalOutcome` is published at once, so the recorder writes it with the
interval's rows; the key figures add up to the summary at the end. Nothing here touches the
ledger: the baseline needs none, and the ledger is only observed (its blocks' bytes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from grid_models import solve_snapshots
from grid_models.flows import trafo_p_hv_mw
from testbed.agents.trader import Trader
from testbed.events import (
    BlockCommitted,
    Event,
    EventStream,
    IntervalCleared,
    IntervalOutcome,
    IntervalSettled,
    MeterRead,
    OrdersPlaced,
)
from testbed.interval.grid import Grid
from testbed.market.params import MarketParams, kw_to_wh, wh_to_kw
from testbed.neighbourhood import Neighbourhood
from testbed.outcomes.baseline import Baseline
from testbed.outcomes.key_figures import Tally, bills_units, key_figures, ledger_cost


class Outcomes:
    """Each settled interval against its baseline, and the run's key figures."""

    def __init__(self, hood: Neighbourhood, params: MarketParams, seed: int, start_s: int,
                 grid: Grid, events: EventStream, traders: Sequence[Trader] | None = None
                 ) -> None:
        self.hood, self.params, self.grid, self.events = hood, params, grid, events
        self.interval_s = params.interval_seconds
        n = len(hood.homes)
        self.baseline = Baseline(hood.homes, params, seed, start_s, traders)
        self.run, self.base = Tally(n, self.interval_s), Tally(n, self.interval_s)
        self.pending: dict[int, dict[str, Any]] = defaultdict(dict)  # k -> what came so far
        self.ledger_bytes = 0
        net = grid.feeder.net
        feeds = net.ext_grid.bus[net.ext_grid.in_service]
        # the transformers fed by the external grid: together, the feeder's exchange upstream
        self.trafos = np.flatnonzero((net.trafo.hv_bus.isin(feeds) & net.trafo.in_service)
                                     .to_numpy())

    def __call__(self, event: Event) -> None:
        handler = self._HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    # -- events -------------------------------------------------------------------------------

    def _orders(self, e: OrdersPlaced) -> None:
        self.pending[e.k]["battery"] = np.array(e.battery_wh, np.int64)

    def _cleared(self, e: IntervalCleared) -> None:
        got = self._got(e.k)
        for t in e.trades:
            got["bought"][t.buyer] += t.granted_wh
            got["sold"][t.seller] += t.granted_wh

    def _read(self, e: MeterRead) -> None:
        got = self._got(e.k)
        got["imported"][e.home], got["exported"][e.home] = e.imported_wh, e.exported_wh

    def _block(self, e: BlockCommitted) -> None:
        self.ledger_bytes += e.size_bytes

    def _settled(self, e: IntervalSettled) -> None:
        got = self._got(e.k)
        self.pending.pop(e.k)
        paid = np.zeros(len(self.hood.homes), np.int64)
        for p in e.payments:
            if p.payer is not None:
                paid[p.payer] += p.amount_units
            if p.payee is not None:
                paid[p.payee] -= p.amount_units
        bills = bills_units(got["imported"], got["exported"], got["bought"], got["sold"], paid,
                            self.params)
        battery, readings = self.baseline.interval(e.k)
        b_imported, b_exported = (np.array(r, np.int64) for r in zip(*readings))
        none = np.zeros_like(paid)
        b_bills = bills_units(b_imported, b_exported, none, none, none, self.params)
        upstream, b_upstream = self._upstream_kw(e.k, (got["imported"] - got["exported"],
                                                       b_imported - b_exported))
        homes = self.hood.homes
        demand = sum(kw_to_wh(h.load_kw[e.k], self.interval_s) for h in homes)
        pv = sum(kw_to_wh(h.pv_kw[e.k], self.interval_s) for h in homes)
        self.run.add(demand, pv, got["imported"], got["exported"], got["battery"], bills,
                     upstream)
        self.base.add(demand, pv, b_imported, b_exported, np.array(battery, np.int64),
                      b_bills, b_upstream)
        self.events.publish(IntervalOutcome(e.k, e.interval, upstream, b_upstream,
                                            tuple(bills.tolist()), tuple(b_bills.tolist())))

    _HANDLERS: ClassVar[dict[type, Any]] = {
        OrdersPlaced: _orders, IntervalCleared: _cleared, MeterRead: _read,
        BlockCommitted: _block, IntervalSettled: _settled,
    }

    def _got(self, k: int) -> dict[str, Any]:
        got = self.pending[k]
        if "imported" not in got:
            n = len(self.hood.homes)
            for key in ("imported", "exported", "bought", "sold"):
                got[key] = np.zeros(n, np.int64)
            got.setdefault("battery", np.zeros(n, np.int64))
        return got

    def _upstream_kw(self, k: int, net_wh: Sequence[np.ndarray]) -> list[float | None]:
        """The power through the feeder's transformer (kW, + from upstream) for each of the
        homes' net consumptions over interval ``k`` (Wh, + imported); reactive power from the
        profiles for every side."""
        if not self.trafos.size:
            return [None] * len(net_wh)
        q = self.hood.load_q_kvar[k]
        rows = [self.grid.injections(wh_to_kw(wh, self.interval_s), q) for wh in net_wh]
        result = solve_snapshots(self.grid.feeder, *(
            np.stack([getattr(i, name) for i in rows])
            for name in ("load_p_mw", "load_q_mvar", "sgen_p_mw", "sgen_q_mvar")))
        p_kw = trafo_p_hv_mw(self.grid.feeder, result)[:, self.trafos].sum(axis=1) * 1000
        return [float(p) if ok else None for p, ok in zip(p_kw, result.converged)]

    # -- the summary ----------------------------------------------------------------------------

    def figures(self, traded_kwh: float, trades: int, validation_cpu_s: float | None
                ) -> dict[str, Any]:
        """The key figures of the settled intervals, and what the ledger cost."""
        return {**key_figures(self.run, self.base, [h.name for h in self.hood.homes]),
                **ledger_cost(self.ledger_bytes, traded_kwh, trades, validation_cpu_s)}
