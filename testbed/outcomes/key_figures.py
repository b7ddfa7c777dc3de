"""The key figures of a run against its market-off baseline, each defined once, here.

Energy in Wh as the meters signed it, money in currency units, power in kW. One side is the
run with its market, the other its baseline (`baseline`); both are added up over the same
settled intervals by the same rules:

- **A home's bill** for an interval: what it paid on chain (its settlement payments, less the
  ones it received) plus its energy outside its market positions at the utility's tariffs:
  its import beyond the purchases the grid granted it at retail, less its export beyond the
  sales the grid granted it at feed-in, each rounded down as `params.cost` rounds (the
  settlement leaves that energy to the utility's ordinary business). In the baseline a home
  holds no positions and pays nothing on chain: its import at retail, less its export at
  feed-in.
- **Net import** of the neighbourhood in an interval: its meters' imports less their exports,
  when positive (a neighbour's export in the same interval is used inside the neighbourhood).
- **Self-sufficiency**: the share of the homes' demand (their loads) met inside the
  neighbourhood, by its PV and its batteries: in each interval, demand less net import (none
  when batteries charging from upstream make net import exceed demand).
- **Self-consumption**: the share of the PV the panels could produce (their profiles) used
  inside the neighbourhood: in each interval, demand plus the batteries' net charging less net
  import (that is PV generated less net export, exports counted as PV first; none below
  zero). PV that curtailment held back is not used.
- **Batteries' net charge**: the energy the batteries' schedules put in, less what they took
  out, over the run: stored energy a side ends with (or drew from the starting charge).
- **Upstream import and export**: the power the feeder draws through its transformer (the
  power flow of the homes' metered net consumption, so the feeder's losses are included),
  over each interval; the peaks are the largest interval averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from testbed.market.params import MarketParams, cost

BASELINE = "baseline_"
"""The prefix of a figure's baseline: `bills_total` with the market, `baseline_bills_total`
without it."""

SIDE_FIGURES = (
    "self_sufficiency_percent", "self_consumption_percent", "battery_net_charge_kwh",
    "upstream_import_kwh", "upstream_export_kwh", "peak_import_kw", "peak_export_kw",
    "bills_total",
)
"""The figures reported for both sides."""


def bills_units(imported_wh: np.ndarray, exported_wh: np.ndarray, bought_wh: np.ndarray,
                sold_wh: np.ndarray, paid_units: np.ndarray, params: MarketParams
                ) -> np.ndarray:
    """Each home's bill for one interval (+ it paid): ``paid_units`` on chain plus its import
    beyond ``bought_wh`` at retail, less its export beyond ``sold_wh`` at feed-in (granted
    positions, per home)."""
    off_import = imported_wh - np.minimum(imported_wh, bought_wh)
    off_export = exported_wh - np.minimum(exported_wh, sold_wh)
    return (paid_units + cost(off_import, params.retail_price_per_kwh)
            - cost(off_export, params.feed_in_price_per_kwh))


def upstream_kwh(upstream_kw: float, interval_s: int) -> tuple[float, float]:
    """(import, export) kWh of an interval drawing ``upstream_kw`` (+ from upstream)."""
    kwh = upstream_kw * interval_s / 3600
    return max(kwh, 0.0), max(-kwh, 0.0)


class Tally:
    """One side's sums over the settled intervals."""

    def __init__(self, homes: int, interval_s: int) -> None:
        self.interval_s = interval_s
        self.demand_wh = self.pv_wh = self.battery_wh = self.met_inside_wh = self.pv_used_wh = 0
        self.import_kwh = self.export_kwh = self.peak_import = self.peak_export = 0.0
        self.unsolved = 0  # intervals without a power flow at the transformer
        self.bill_units = np.zeros(homes, np.int64)

    def add(self, demand_wh: int, pv_wh: int, imported_wh: np.ndarray,
            exported_wh: np.ndarray, battery_wh: np.ndarray, bill_units: np.ndarray,
            upstream_kw: float | None) -> None:
        """One interval: the homes' demand and PV potential (Wh), and per home its meter's
        import and export, its battery's schedule (Wh) and its bill; the transformer's power
        (kW, None when its power flow did not converge)."""
        net_import = max(int(imported_wh.sum() - exported_wh.sum()), 0)
        battery = int(battery_wh.sum())
        self.demand_wh += demand_wh
        self.pv_wh += pv_wh
        self.battery_wh += battery
        self.met_inside_wh += max(demand_wh - net_import, 0)
        self.pv_used_wh += max(demand_wh + battery - net_import, 0)
        self.bill_units += bill_units
        if upstream_kw is None:
            self.unsolved += 1
            return
        imported, exported = upstream_kwh(upstream_kw, self.interval_s)
        self.import_kwh += imported
        self.export_kwh += exported
        self.peak_import = max(self.peak_import, upstream_kw)
        self.peak_export = max(self.peak_export, -upstream_kw)

    @property
    def self_sufficiency_percent(self) -> float | None:
        return round(100 * self.met_inside_wh / self.demand_wh, 3) if self.demand_wh else None

    @property
    def self_consumption_percent(self) -> float | None:
        return round(100 * self.pv_used_wh / self.pv_wh, 3) if self.pv_wh else None

    @property
    def battery_net_charge_kwh(self) -> float:
        return round(self.battery_wh / 1000, 3)

    def _upstream(self, value: float) -> float | None:
        return None if self.unsolved else round(value, 3)

    @property
    def upstream_import_kwh(self) -> float | None:
        return self._upstream(self.import_kwh)

    @property
    def upstream_export_kwh(self) -> float | None:
        return self._upstream(self.export_kwh)

    @property
    def peak_import_kw(self) -> float | None:
        return self._upstream(self.peak_import)

    @property
    def peak_export_kw(self) -> float | None:
        return self._upstream(self.peak_export)

    @property
    def bills_total(self) -> int:
        return int(self.bill_units.sum())


def key_figures(run: Tally, baseline: Tally, homes: Sequence[str]) -> dict[str, Any]:
    """The summary's figures of both sides, and who gained and lost by the market."""
    figures: dict[str, Any] = {
        "demand_kwh": round(run.demand_wh / 1000, 3),
        "pv_potential_kwh": round(run.pv_wh / 1000, 3),
    }
    for name in SIDE_FIGURES:
        figures[name] = getattr(run, name)
        figures[BASELINE + name] = getattr(baseline, name)
    loss = run.bill_units - baseline.bill_units
    worst = int(np.argmax(loss)) if len(loss) else 0
    figures.update({
        "homes_better_off": int((loss < 0).sum()),
        "homes_worse_off": int((loss > 0).sum()),
        "largest_loss_units": max(int(loss[worst]), 0) if len(loss) else 0,
        "largest_loss_home": homes[worst] if len(loss) and loss[worst] > 0 else None,
    })
    return figures


def ledger_cost(ledger_bytes: int, traded_kwh: float, trades: int,
                validation_cpu_s: float | None) -> dict[str, Any]:
    """What the ledger cost: its bytes per kWh traded, and the CPU time of validating it from
    genesis per 1000 trades (None when nothing traded, or the ledger was not validated)."""
    cpu = validation_cpu_s
    return {
        "ledger_bytes": ledger_bytes,
        "ledger_bytes_per_kwh_traded": round(ledger_bytes / traded_kwh, 1) if traded_kwh
        else None,
        "validation_cpu_s": None if cpu is None else round(cpu, 3),
        "validation_cpu_s_per_1000_trades": round(1000 * cpu / trades, 4)
        if trades and cpu is not None else None,
    }
