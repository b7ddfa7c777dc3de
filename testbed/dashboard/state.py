"""The live page's model, folded from the run's events and the recorder's rows.

`LiveState` is only touched by the dashboard's server thread: the run's thread puts events and
rows into an inbox and moves on. It holds what a page opened now needs (`snapshot`), what
changed since the last push (`delta`), and the latest values for scripts (`latest_values`).
Tables are the recorder's rows column by column, converted as a finished run's page converts
its CSV files, so the live page and the report draw the same values.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, ClassVar

from grid_models.diagram import drawn_record
from testbed.events import (
    BlockCommitted,
    CommandLogged,
    GridSolved,
    IntervalCleared,
    OrdersPlaced,
    RunFinished,
    RunStarted,
    WatchdogKicked,
)
from testbed.records import columns
from testbed.records.columns import MEASUREMENTS, SETPOINTS, STEPS, TRADES
from testbed.records.curtailment import Curtailment
from testbed.records.home_spread import HomeSpread
from testbed.report.page import SHOWN_TABLES, row_cell, schema

LOG_LINES = 40
KEPT_ROWS = {MEASUREMENTS.name: 20_000, STEPS.name: 20_000, SETPOINTS.name: 20_000}
"""The bench's per-step tables keep their newest rows only (a long bench run has millions);
the run folder keeps them all."""


class LiveState:
    def __init__(self) -> None:
        self.run: dict[str, Any] = {}
        self.feeder: dict[str, Any] | None = None
        self.kinds = {spec.name: {c.name: c.kind for c in spec.columns}
                      for spec in columns.FILES}
        self.tables: dict[str, dict[str, list]] = {}
        self.latest: dict[str, Any] = {"status": "starting", "log": []}
        self.log: deque[list] = deque(maxlen=LOG_LINES)
        self.curtailment = Curtailment()
        self.spread = HomeSpread(0)
        self.summary: dict[str, Any] = {}
        self._appended: dict[str, dict[str, list]] = {}
        self._replaced: set[str] = set()
        self._latest_changed: set[str] = set()
        self._cut_changed = self._summary_changed = self._run_changed = False

    # -- folding ------------------------------------------------------------------------------

    def apply(self, item: Any) -> None:
        """One event, or a recorder's rows as ("rows", file name, rows, replace)."""
        if isinstance(item, tuple):
            self._rows(*item[1:])
            return
        handler = self._HANDLERS.get(type(item))
        if handler is not None:
            handler(self, item)

    def finish(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        self._summary_changed = True

    def _set(self, **values: Any) -> None:
        self.latest.update(values)
        self._latest_changed.update(values)

    def _started(self, e: RunStarted) -> None:
        self.run = {
            "scenario": e.scenario, "start_ms": e.start_s * 1000, "interval_s": e.interval_s,
            "intervals": e.intervals, "feeder": e.feeder, "vm_min_pu": e.vm_min_pu,
            "vm_max_pu": e.vm_max_pu, "max_line_loading_percent": e.max_line_loading_percent,
            "max_vuf_percent": e.max_vuf_percent if e.phases == "unbalanced" else None,
            "homes": [{"name": h.name, "bus": h.bus, "physical": h.physical} for h in e.homes],
        }
        self.feeder = drawn_record(e.feeder_map)
        self.spread = HomeSpread(len(e.homes))
        self._run_changed = True
        self._set(status="running")

    def _orders(self, e: OrdersPlaced) -> None:
        book: dict[str, list] = {"bid": [], "offer": []}
        for o in e.orders:
            book[o.side].append([o.energy_wh / 1000, o.price_per_kwh])
        self._set(orders={"k": e.k, "bids": book["bid"], "offers": book["offer"]})

    def _cleared(self, e: IntervalCleared) -> None:
        self._set(k=e.k, price=e.price_per_kwh)

    def _grid(self, e: GridSolved) -> None:
        self._set(grid={"k": e.k, "vm_pu": list(e.vm_pu), "vm_min_pu": e.vm_min_pu,
                        "vm_max_pu": e.vm_max_pu,
                        "max_line_loading_percent": e.max_line_loading_percent,
                        "line_loading_percent": list(e.line_loading_percent),
                        "vm_phase_pu": [list(v) for v in e.vm_phase_pu]})

    def _block(self, e: BlockCommitted) -> None:
        self._set(ledger={"height": e.height, "commit_ms": e.commit_ms, "node": e.node})

    def _watchdog(self, e: WatchdogKicked) -> None:
        self._set(watchdog={"deadline_s": e.deadline_s, "misses": e.misses,
                            "max_misses": e.max_misses, "total_misses": e.total_misses})

    def _logged(self, e: CommandLogged) -> None:
        self.log.append([e.t, e.device, e.kind, e.text])
        self._set(log=list(self.log))

    def _finished(self, e: RunFinished) -> None:
        self._set(status="finished" if e.stopped is None else f"stopped: {e.stopped}")

    _HANDLERS: ClassVar[dict[type, Any]] = {
        RunStarted: _started, OrdersPlaced: _orders, IntervalCleared: _cleared,
        GridSolved: _grid, BlockCommitted: _block, WatchdogKicked: _watchdog,
        CommandLogged: _logged, RunFinished: _finished,
    }

    def _rows(self, name: str, rows: list[dict[str, Any]], replace: bool) -> None:
        if name == TRADES.name:
            self.curtailment.add(rows)
            self.spread.add(rows)
            self._cut_changed = True
        if name not in SHOWN_TABLES:
            return
        kinds = self.kinds[name]
        converted = {c: [row_cell(kind, row.get(c, "")) for row in rows]  # as the CSV: empty
                     for c, kind in kinds.items()}
        if replace or name not in self.tables:
            self.tables[name] = converted
            self._replaced.add(name)
            self._appended.pop(name, None)
            return
        table, pending = self.tables[name], self._appended.setdefault(
            name, {c: [] for c in kinds})
        for c, values in converted.items():
            table[c].extend(values)
            pending[c].extend(values)
        keep = KEPT_ROWS.get(name)
        if keep and len(table[next(iter(kinds))]) > keep * 5 // 4:  # trimmed in batches
            for values in table.values():
                del values[:len(values) - keep]

    # -- what goes out ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole live model: what a page opened now draws first (after a `delta`, so
        the pages already open are not left without the changes it holds)."""
        return {
            "mode": "live", "schema": schema(), "run": self.run, "feeder": self.feeder,
            "tables": self.tables, "latest": self.latest, "summary": self.summary,
            "curtailment": self.curtailment.as_record(), "spread": self.spread.as_record(),
            "notes": {},
        }

    def delta(self) -> dict[str, Any] | None:
        """What changed since the last call (and since the last snapshot), or None."""
        out: dict[str, Any] = {"run": self.run, "feeder": self.feeder} if self._run_changed else {}
        tables = {name: {"replace": True, "columns": self.tables[name]}
                  for name in self._replaced}
        for name, appended in self._appended.items():
            tables[name] = {"columns": appended, "keep": KEPT_ROWS.get(name)}
        if tables:
            out["tables"] = tables
        if self._latest_changed:
            out["latest"] = {k: self.latest[k] for k in self._latest_changed}
        if self._cut_changed:
            out["curtailment"] = self.curtailment.as_record()
            out["spread"] = self.spread.as_record()
        if self._summary_changed:
            out["summary"] = self.summary
        self._appended, self._replaced, self._latest_changed = {}, set(), set()
        self._cut_changed = self._summary_changed = self._run_changed = False
        return out or None

    def latest_values(self) -> dict[str, Any]:
        """GET /api/state: the latest values, small enough for a script to poll."""
        intervals = self.tables.get(columns.INTERVALS.name, {})
        latest = {k: v for k, v in self.latest.items() if k not in ("log", "grid")}
        grid = self.latest.get("grid")
        if grid is not None:
            latest["grid"] = {k: v for k, v in grid.items()
                              if k not in ("vm_pu", "line_loading_percent", "vm_phase_pu")}
        return {
            "scenario": self.run.get("scenario"), **latest,
            "intervals_settled": len(intervals.get("interval_start", ())),
            "last_interval": {c: v[-1] for c, v in intervals.items()} if intervals.get(
                "interval_start") else None,
            "alarms": len(self.tables.get(columns.ALARMS.name, {}).get("time_s", ())),
            "summary": self.summary or None,
        }


def encode(value: Any) -> str:
    """JSON of a model, one column at a time: each call is short, so the run's thread is never
    held off the interpreter for long by one big encoding (json's encoder holds it per call)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
