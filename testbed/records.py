"""What a run leaves behind: per-interval, per-trade, per-home and per-step records, written
as CSV files and `summary.json` in the run folder (the format `testbed report` reads)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from testbed.ledger.transactions import Clearing, Payment, Side, Transaction
from testbed.market.grid_gate import CONSTRAINT_KINDS
from testbed.market.params import UTILITY
from testbed.neighbourhood import Neighbourhood
from testbed.physical import Measurement
from testbed.scenario import Scenario

KIND_NAMES = {code: name for name, code in CONSTRAINT_KINDS.items()}
INTERVAL_COLUMNS = ("interval_start", "clearing_price", "bid_kwh", "offer_kwh", "traded_kwh",
                    "granted_kwh", "curtailed_kwh", "delivered_kwh", "vm_min_pu", "vm_max_pu",
                    "max_line_loading_percent")
TRADE_COLUMNS = ("interval_start", "seller", "buyer", "energy_kwh", "granted_kwh",
                 "delivered_kwh", "price", "status", "constraint_kind", "constraint_element",
                 "constraint_value", "constraint_limit")
HOME_COLUMNS = ("home", "bus", "role", "pv_kwp", "battery_kwh", "physical", "sold_kwh",
                "bought_kwh", "delivered_sold_kwh", "delivered_bought_kwh", "net_payment")
MEASUREMENT_COLUMNS = ("time_s", "device", "p_kw", "q_kvar", "v_v", "energy_import_kwh",
                       "energy_export_kwh")


@dataclass(frozen=True)
class GridState:
    vm_min_pu: float
    vm_max_pu: float
    max_line_loading_percent: float


class Recorder:
    """Collects a run's figures as the loop produces them."""

    def __init__(self, scenario: Scenario, hood: Neighbourhood, accounts: Sequence[bytes]):
        self.scenario, self.hood = scenario, hood
        self.home_of: dict[bytes, int] = {a: i for i, a in enumerate(accounts)}
        self.order_home: dict[bytes, int] = {}
        self.intervals: dict[int, dict[str, Any]] = defaultdict(dict)
        self.trades: dict[int, list[dict[str, Any]]] = {}
        self.measurements: list[tuple] = []
        self.n_orders = 0
        n = len(hood.homes)
        self.sold_wh, self.bought_wh = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.delivered_sold_wh, self.delivered_bought_wh = (np.zeros(n, np.int64),
                                                            np.zeros(n, np.int64))
        self.net_payment = np.zeros(n, np.int64)
        self.payments_total = 0

    def start_of(self, k: int) -> str:
        t = self.scenario.start_s + k * self.scenario.market.interval_s
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

    # -- as the loop goes -----------------------------------------------------------------------

    def orders(self, k: int, txs: Sequence[Transaction]) -> None:
        row = self.intervals[k]
        row["bid_wh"] = sum(tx.body.energy_wh for tx in txs if tx.body.side == Side.BID)
        row["offer_wh"] = sum(tx.body.energy_wh for tx in txs if tx.body.side == Side.OFFER)
        self.n_orders += len(txs)
        for tx in txs:
            self.order_home[tx.txid] = self.home_of[tx.sender]

    def clearing(self, k: int, body: Clearing) -> dict[int, int]:
        """Record the trades; the granted energy each home sold (Wh), for its setpoints."""
        row = self.intervals[k]
        row["price"] = body.price if body.trades else None
        row["traded_wh"] = sum(t.energy_wh for t in body.trades)
        row["granted_wh"] = sum(t.granted_wh for t in body.trades)
        names = [h.name for h in self.hood.homes]
        sales: dict[int, int] = defaultdict(int)
        rows = []
        for t in body.trades:
            seller, buyer = self.order_home[t.offer], self.order_home[t.bid]
            sales[seller] += t.granted_wh
            self.sold_wh[seller] += t.granted_wh
            self.bought_wh[buyer] += t.granted_wh
            c = t.constraint
            rows.append({
                "interval_start": self.start_of(k), "seller": names[seller],
                "buyer": names[buyer], "energy_kwh": t.energy_wh / 1000,
                "granted_kwh": t.granted_wh / 1000, "delivered_kwh": "", "price": t.price,
                "status": "accepted" if t.granted_wh == t.energy_wh else
                ("curtailed" if t.granted_wh else "rejected"),
                "constraint_kind": KIND_NAMES.get(c.kind, c.element.split(":")[0]) if c.kind else "",
                "constraint_element": c.element if c.kind else "",
                "constraint_value": c.value_micro / 1e6 if c.kind else "",
                "constraint_limit": c.limit_micro / 1e6 if c.kind else "",
                "_seller": seller, "_buyer": buyer,
            })
        self.trades[k] = rows
        return dict(sales)

    def grid(self, k: int, state: GridState) -> None:
        self.intervals[k]["grid"] = state

    def settlement(self, k: int, delivered_wh: Sequence[int], payments: Sequence[Payment]
                   ) -> None:
        rows = self.trades.get(k, [])
        for row, wh in zip(rows, delivered_wh):
            row["delivered_kwh"] = wh / 1000
            self.delivered_sold_wh[row["_seller"]] += wh
            self.delivered_bought_wh[row["_buyer"]] += wh
        self.intervals[k]["delivered_wh"] = sum(delivered_wh)
        for p in payments:
            self.payments_total += p.amount
            if p.payer != UTILITY:
                self.net_payment[self.home_of[p.payer]] -= p.amount
            if p.payee != UTILITY:
                self.net_payment[self.home_of[p.payee]] += p.amount

    def measurement(self, t: float, device: str, m: Measurement) -> None:
        self.measurements.append((round(t, 3), device, m.p_kw, m.q_kvar, m.v_v, m.import_kwh,
                                  m.export_kwh))

    # -- at the end ---------------------------------------------------------------------------

    def write(self, out: Path, extra: dict[str, Any]) -> dict[str, Any]:
        """Write the CSV files and summary.json; returns the summary."""
        ks = sorted(self.intervals)
        rows = [self._interval_row(k) for k in ks]
        _csv(out / "intervals.csv", INTERVAL_COLUMNS, rows)
        trades = [t for k in ks for t in self.trades.get(k, [])]
        _csv(out / "trades.csv", TRADE_COLUMNS, trades)
        _csv(out / "homes.csv", HOME_COLUMNS, self._home_rows())
        _csv(out / "measurements.csv", MEASUREMENT_COLUMNS,
             [dict(zip(MEASUREMENT_COLUMNS, m)) for m in self.measurements])
        prices = [r["clearing_price"] for r in rows if r["clearing_price"] != ""]
        grids = [self.intervals[k]["grid"] for k in ks if "grid" in self.intervals[k]]
        traded = sum(r["traded_kwh"] for r in rows)
        granted = sum(r["granted_kwh"] for r in rows)
        s = self.scenario
        summary = {
            "scenario": s.name,
            "start": self.start_of(0),
            "interval_s": s.market.interval_s,
            "participants": len(self.hood.homes),
            "intervals": len(ks),
            "orders": self.n_orders,
            "trades": len(trades),
            "energy_traded_kwh": round(traded, 3),
            "energy_delivered_kwh": round(sum(r["delivered_kwh"] or 0 for r in rows), 3),
            "energy_curtailed_kwh": round(traded - granted, 3),
            "price_min": min(prices, default=None),
            "price_mean": round(float(np.mean(prices)), 2) if prices else None,
            "price_max": max(prices, default=None),
            "payments_total": self.payments_total,
            "vm_min_pu": round(min(g.vm_min_pu for g in grids), 5) if grids else None,
            "vm_max_pu": round(max(g.vm_max_pu for g in grids), 5) if grids else None,
            "max_line_loading_percent": (round(max(g.max_line_loading_percent for g in grids), 3)
                                         if grids else None),
            "vm_limits": [s.grid.vm_min_pu, s.grid.vm_max_pu],
            "max_line_loading_limit": s.grid.max_line_loading_percent,
            **extra,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _interval_row(self, k: int) -> dict[str, Any]:
        r = self.intervals[k]
        g = r.get("grid")
        traded, granted = r.get("traded_wh", 0), r.get("granted_wh", 0)
        return {
            "interval_start": self.start_of(k),
            "clearing_price": r["price"] if r.get("price") is not None else "",
            "bid_kwh": r.get("bid_wh", 0) / 1000, "offer_kwh": r.get("offer_wh", 0) / 1000,
            "traded_kwh": traded / 1000, "granted_kwh": granted / 1000,
            "curtailed_kwh": (traded - granted) / 1000,
            "delivered_kwh": r["delivered_wh"] / 1000 if "delivered_wh" in r else "",
            "vm_min_pu": g.vm_min_pu if g else "", "vm_max_pu": g.vm_max_pu if g else "",
            "max_line_loading_percent": g.max_line_loading_percent if g else "",
        }

    def _home_rows(self) -> list[dict[str, Any]]:
        hood = self.hood
        return [
            {
                "home": h.name, "bus": h.bus, "role": h.kind.name.lower(),
                "pv_kwp": hood.pv_kwp[i],
                "battery_kwh": h.battery.capacity_wh / 1000 if h.battery else 0,
                "physical": str(h.name in hood.physical).lower(),
                "sold_kwh": self.sold_wh[i] / 1000, "bought_kwh": self.bought_wh[i] / 1000,
                "delivered_sold_kwh": self.delivered_sold_wh[i] / 1000,
                "delivered_bought_kwh": self.delivered_bought_wh[i] / 1000,
                "net_payment": int(self.net_payment[i]),
            }
            for i, h in enumerate(hood.homes)
        ]


def _csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
