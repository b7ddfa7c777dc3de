"""The trades the grid cut, per limiting element: what the report's and the dashboard's
curtailment tables show, tallied from trades.csv rows (read back, or as the recorder makes
them)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

CUT = ("curtailed", "rejected")


@dataclass
class CutElement:
    kind: str  # the binding constraint: voltage_high, line_loading, ...
    element: str
    curtailed: int = 0
    rejected: int = 0
    lost_kwh: float = 0.0  # traded but not granted
    worst_value: float = math.nan  # the lowest voltage for voltage_low, else the highest
    limit: float = math.nan


class Curtailment:
    """A running tally of trades.csv rows."""

    def __init__(self) -> None:
        self.trades = 0
        self.elements: dict[tuple[str, str], CutElement] = {}

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.trades += 1
            status = str(row["status"]).strip().lower()
            if status not in CUT:
                continue
            kind = str(row["constraint_kind"]).strip() or "unspecified"
            element = str(row["constraint_element"]).strip() or "(none)"
            cut = self.elements.setdefault((kind, element), CutElement(kind, element))
            if status == "curtailed":
                cut.curtailed += 1
            else:
                cut.rejected += 1
            granted = cell_number(row["granted_kwh"])
            cut.lost_kwh += max(0.0, cell_number(row["energy_kwh"]) - (
                0.0 if math.isnan(granted) else granted))
            value = cell_number(row["constraint_value"])
            limit = cell_number(row["constraint_limit"])
            if not math.isnan(value):
                pick = min if kind == "voltage_low" else max
                cut.worst_value = value if math.isnan(cut.worst_value) else pick(
                    cut.worst_value, value)
            if not math.isnan(limit):
                cut.limit = limit if math.isnan(cut.limit) else max(cut.limit, limit)

    @property
    def cut(self) -> int:
        return sum(e.curtailed + e.rejected for e in self.elements.values())

    def table(self) -> list[CutElement]:
        """The limiting elements, the most energy lost first."""
        return sorted(self.elements.values(),
                      key=lambda e: (e.lost_kwh, e.curtailed, e.rejected), reverse=True)

    def as_record(self) -> dict[str, Any]:
        """JSON-ready (NaN as null), for the page."""
        return {"trades": self.trades, "cut": self.cut, "elements": [
            {k: None if isinstance(v, float) and math.isnan(v) else v
             for k, v in asdict(e).items()} for e in self.table()]}


def cell_number(value: Any) -> float:
    """A CSV cell as a float: NaN when empty."""
    if value is None or value == "":
        return math.nan
    return float(value)
