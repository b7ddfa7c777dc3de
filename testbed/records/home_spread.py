"""Many homes as distributions: the spread over the homes of what each traded per interval,
and the homes the grid cut most, tallied from trades.csv rows (read back, or as the recorder
makes them) as `curtailment` tallies the limiting elements.

Up to `PER_HOME_MAX_HOMES` homes the report and the page draw every home; a town's thousands
are drawn as quantiles over the homes (`QUANTILES_PERCENT`) with the worst homes named.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from testbed.records.curtailment import cell_number

PER_HOME_MAX_HOMES = 60
"""Up to this many homes, charts and tables show each home; beyond it, distributions over the
homes and the `WORST_HOMES` worst by name (a bar per home stops being readable near here)."""
QUANTILES_PERCENT = (5, 25, 50, 75, 95)
WORST_HOMES = 10


class HomeSpread:
    """A running tally of trades.csv rows, per interval and per home, for ``homes`` homes
    (those that did not trade in an interval count as zero)."""

    def __init__(self, homes: int) -> None:
        self.homes = homes
        self._net: dict[Any, dict[str, float]] = {}  # interval (as the rows give it): home: kWh
        self._done: dict[Any, list[float]] = {}  # interval: quantiles of a finished interval
        self.curtailed_kwh: dict[str, float] = defaultdict(float)

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            interval = row["interval_start"]
            if interval not in self._net:
                self._finish_all()  # rows come interval by interval: the earlier ones are done
                self._net[interval] = defaultdict(float)
            net = self._net[interval]
            granted = cell_number(row["granted_kwh"])
            granted = 0.0 if math.isnan(granted) else granted
            seller, buyer = str(row["seller"]), str(row["buyer"])
            net[seller] += granted
            net[buyer] -= granted
            lost = max(0.0, cell_number(row["energy_kwh"]) - granted)
            if lost > 0:
                self.curtailed_kwh[seller] += lost
                self.curtailed_kwh[buyer] += lost

    def _finish_all(self) -> None:
        for interval, net in self._net.items():
            self._done[interval] = self._quantiles(net)
        self._net.clear()

    def _quantiles(self, net: Mapping[str, float]) -> list[float]:
        values = np.fromiter(net.values(), float, len(net))
        values = np.concatenate([values, np.zeros(max(0, self.homes - len(values)))])
        return np.round(np.percentile(values, QUANTILES_PERCENT), 6).tolist()

    def as_record(self) -> dict[str, Any]:
        """JSON-ready, for the page: per interval (ms since the epoch, ascending) the
        quantiles of the homes' net energy sold (bought: negative), and the worst homes."""
        done = {**self._done, **{k: self._quantiles(v) for k, v in self._net.items()}}
        times = [int(pd.Timestamp(k).value // 1_000_000) for k in done]
        order = np.argsort(times, kind="stable")
        bands = list(done.values())
        return {
            "homes": self.homes, "quantiles_percent": list(QUANTILES_PERCENT),
            "interval_start": [times[i] for i in order],
            "net_sold_kwh": [[bands[i][q] for i in order] for q in range(len(QUANTILES_PERCENT))],
            "worst_curtailed": [[h, round(kwh, 6)] for h, kwh in self.worst_curtailed()],
        }

    def worst_curtailed(self) -> list[tuple[str, float]]:
        """The `WORST_HOMES` homes with the most energy the grid did not grant them."""
        return sorted(self.curtailed_kwh.items(), key=lambda hk: (-hk[1], hk[0]))[:WORST_HOMES]
