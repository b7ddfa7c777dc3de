"""The run folder's records, written as the run's events arrive.

An interval's rows (intervals.csv, trades.csv) are written and flushed when the interval is
settled, its last event; the bench's and the ledger's rows (measurements, setpoints, steps,
blocks, alarms) as they come, flushed with the interval's; homes.csv (running totals per
home), buses.csv and lines.csv (each bus's and line's extremes) are rewritten whole,
atomically, at every day's end and at the end of the run. A crash or a power cut so loses at
most the rows of the intervals not yet settled, and a long run's files can be read while it
runs. At the end, the intervals that never settled (a stopped run) are written as far as they
got. feeder.json, the feeder's one-line diagram, is written at the start.

Row listeners (the dashboard) get every row as it is made, and the whole-file tables at every
interval: the CSV files and the live page so show the same rows.
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from grid_models.phases import PHASE_NAMES
from grid_models.violations import ELEMENT_KINDS
from testbed.events import (
    BlockCommitted,
    Event,
    GridSolved,
    IntervalCleared,
    IntervalOutcome,
    IntervalSettled,
    Measured,
    OrdersPlaced,
    RunFinished,
    RunStarted,
    SetpointsSent,
    StepPaced,
    alarm,
)
from testbed.outcomes.key_figures import BASELINE, upstream_kwh
from testbed.records.columns import (
    ALARMS,
    BLOCKS,
    BUSES,
    HOMES,
    INTERVALS,
    LINES,
    MEASUREMENTS,
    SETPOINTS,
    STEPS,
    TRADES,
    CsvFile,
)

UNAVOIDABLE_LISTED = 50  # violations named one by one in the summary; all are counted
VIOLATION_KINDS = (*ELEMENT_KINDS, "not_converged")
HOMES_EVERY_INTERVALS = 96  # homes.csv is rewritten this often (a day of 15-minute intervals)
FEEDER_FILE = "feeder.json"
APPENDED = (INTERVALS, TRADES, MEASUREMENTS, SETPOINTS, STEPS, BLOCKS, ALARMS)
RowListener = Callable[[CsvFile, list[dict[str, Any]], bool], None]
"""Called with a file's new rows; True: they replace the file's rows (a whole-file table)."""


def iso_utc(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


class _Csv:
    """One CSV file of the run folder, written row by row."""

    def __init__(self, folder: Path, spec: CsvFile) -> None:
        self.file: IO[str] = (folder / spec.name).open("w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=spec.names, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.writer.writerows(rows)

    def close(self) -> None:
        self.file.close()


class Recorder:
    """Subscribes to a run's events; writes its CSV files and keeps the summary's figures."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.run: RunStarted | None = None
        self.pending: dict[int, dict[str, Any]] = defaultdict(dict)  # k -> what came so far
        self.n_intervals = self.n_orders = self.n_trades = 0
        self.traded_wh = self.granted_wh = self.delivered_wh = 0
        self.prices: list[int] = []
        self.vm_min_pu = self.vm_max_pu = self.max_line_loading_percent = None
        self.phase_extremes: dict[str, float | None] = {}  # per-phase figures, when unbalanced
        self.curtailed_kwh: Counter[str] = Counter()  # cause -> energy the operator curtailed
        self.violation_intervals: Counter[str] = Counter()  # kind -> intervals with one
        self.avoidable_violations = 0
        self.unavoidable: list[dict[str, Any]] = []  # the first few, named, with their cause
        self.unavoidable_by_cause: Counter[str] = Counter()
        self.paid: dict[str, int] = defaultdict(int)  # payment kind -> total
        self.listeners: list[RowListener] = []
        self.commit_ms: dict[int, float] = {}  # k -> slowest commit of a block timed in it
        self._files: dict[str, _Csv] = {}
        # alarms may come from the watchdog's thread, and from the bench's signal handler in
        # the main thread while it is writing here: so reentrant
        self._lock = threading.RLock()

    def __call__(self, event: Event) -> None:
        handler = self._HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        if self.run is not None and (raised := alarm(event, self.run.start_s)) is not None:
            self._append(ALARMS, [{"time_s": round(raised.t_s, 3), "source": raised.source,
                                   "kind": raised.kind, "message": raised.message}])

    def _append(self, spec: CsvFile, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            if spec.name in self._files:
                self._files[spec.name].write(rows)
        for listener in self.listeners:
            listener(spec, rows, False)

    # -- events -------------------------------------------------------------------------------

    def _started(self, e: RunStarted) -> None:
        self.run = e
        self.out.mkdir(parents=True, exist_ok=True)
        self._files = {spec.name: _Csv(self.out, spec) for spec in APPENDED}
        (self.out / FEEDER_FILE).write_text(json.dumps(e.feeder_map.as_record()) + "\n")
        self.bus_vm_min = np.full(len(e.feeder_map.bus), np.nan)
        self.bus_vm_max = np.full(len(e.feeder_map.bus), np.nan)
        n_lines = sum(b.kind == "line" for b in e.feeder_map.branches)
        self.line_max_loading = np.full(n_lines, np.nan)
        n = len(e.homes)
        self.sold_wh, self.bought_wh = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.delivered_sold_wh = np.zeros(n, np.int64)
        self.delivered_bought_wh = np.zeros(n, np.int64)
        self.net_payment = np.zeros(n, np.int64)
        self.bill_units, self.baseline_bill_units = np.zeros(n, np.int64), np.zeros(n, np.int64)

    def _orders(self, e: OrdersPlaced) -> None:
        self.pending[e.k]["orders"] = e
        self.n_orders += len(e.orders)

    def _cleared(self, e: IntervalCleared) -> None:
        self.pending[e.k]["cleared"] = e
        for t in e.trades:
            self.sold_wh[t.seller] += t.granted_wh
            self.bought_wh[t.buyer] += t.granted_wh

    def _grid(self, e: GridSolved) -> None:
        self.pending[e.k]["grid"] = e
        if e.vm_pu:  # empty when the power flow did not converge
            self.bus_vm_min = np.fmin(self.bus_vm_min, e.vm_pu)
            self.bus_vm_max = np.fmax(self.bus_vm_max, e.vm_pu)
        if e.line_loading_percent:
            self.line_max_loading = np.fmax(self.line_max_loading, e.line_loading_percent)

    def _settled(self, e: IntervalSettled) -> None:
        cleared: IntervalCleared | None = self.pending[e.k].get("cleared")
        for t, wh in zip(cleared.trades if cleared else (), e.delivered_wh):
            self.delivered_sold_wh[t.seller] += wh
            self.delivered_bought_wh[t.buyer] += wh
        for p in e.payments:
            self.paid[p.kind] += p.amount_units
            if p.payer is not None:
                self.net_payment[p.payer] -= p.amount_units
            if p.payee is not None:
                self.net_payment[p.payee] += p.amount_units
        self.pending[e.k]["settled"] = e
        self._write(e.k)
        with self._lock:
            for f in self._files.values():
                f.file.flush()
        self._write_tables(to_file=self.n_intervals % HOMES_EVERY_INTERVALS == 0)

    def _outcome(self, e: IntervalOutcome) -> None:
        self.pending[e.k]["outcome"] = e
        self.bill_units += e.bill_units
        self.baseline_bill_units += e.baseline_bill_units

    def _committed(self, e: BlockCommitted) -> None:
        """A block counts for the interval its block time falls in (during interval k: the
        orders and clearing of k + 1, the readings and settlement of k - 1), so each row's
        blocks are all in before it is written, at k's settlement."""
        if self.run is None:
            return
        k = min(max((e.timestamp - self.run.start_s) // self.run.interval_s, 0),
                self.run.intervals - 1)
        self.commit_ms[k] = max(self.commit_ms.get(k, 0.0), e.commit_ms)

    def _measured(self, e: Measured) -> None:
        assert self.run is not None
        self._append(MEASUREMENTS, [{
            "time_s": round(e.t_s, 3), "device": self.run.homes[e.home].name, "p_kw": e.p_kw,
            "q_kvar": e.q_kvar, "v_v": e.v_v, "energy_import_kwh": e.import_kwh,
            "energy_export_kwh": e.export_kwh,
        }])

    def _setpoints(self, e: SetpointsSent) -> None:
        assert self.run is not None
        self._append(SETPOINTS, [{
            "time_s": round(e.t_s, 3), "home": self.run.homes[e.home].name,
            "inverter_kw": e.inverter_kw, "load_kw": e.load_kw,
            "v_pu": "" if e.v_pu is None else e.v_pu,
        }])

    def _paced(self, e: StepPaced) -> None:
        self._append(STEPS, [{"time_s": round(e.t_s, 3), "lateness_ms": round(e.lateness_ms, 4),
                              "missed": str(e.missed).lower()}])

    def _block(self, e: BlockCommitted) -> None:
        self._committed(e)
        self._append(BLOCKS, [{"height": e.height, "block_time": iso_utc(e.timestamp),
                               "transactions": e.transactions,
                               "commit_ms": round(e.commit_ms, 3), "node": e.node}])

    def _finished(self, e: RunFinished) -> None:
        for k in sorted(self.pending):
            self._write(k)
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files = {}
        if self.run is not None:
            self._write_tables(to_file=True)

    _HANDLERS: ClassVar[dict[type, Any]] = {
        RunStarted: _started, OrdersPlaced: _orders, IntervalCleared: _cleared,
        GridSolved: _grid, IntervalSettled: _settled, IntervalOutcome: _outcome,
        Measured: _measured, SetpointsSent: _setpoints, StepPaced: _paced,
        BlockCommitted: _block, RunFinished: _finished,
    }

    # -- rows -----------------------------------------------------------------------------------

    def _write(self, k: int) -> None:
        """Interval k's rows, as far as the interval got; then it is forgotten."""
        assert self.run is not None
        got = self.pending.pop(k)
        start = iso_utc(self.run.start_s + k * self.run.interval_s)
        orders: OrdersPlaced | None = got.get("orders")
        cleared: IntervalCleared | None = got.get("cleared")
        grid: GridSolved | None = got.get("grid")
        settled: IntervalSettled | None = got.get("settled")
        outcome: IntervalOutcome | None = got.get("outcome")
        trades = cleared.trades if cleared else ()
        traded = sum(t.energy_wh for t in trades)
        granted = sum(t.granted_wh for t in trades)
        delivered = sum(settled.delivered_wh) if settled else None
        self.n_intervals += 1
        self.n_trades += len(trades)
        self.traded_wh += traded
        self.granted_wh += granted
        self.delivered_wh += delivered or 0
        if cleared is not None and cleared.price_per_kwh is not None:
            self.prices.append(cleared.price_per_kwh)
        if grid is not None:
            self._grid_figures(grid, start)
        self._append(INTERVALS, [{
            "interval_start": start,
            "clearing_price": (cleared.price_per_kwh if cleared and cleared.price_per_kwh
                               is not None else ""),
            "bid_kwh": _side_wh(orders, "bid") / 1000,
            "offer_kwh": _side_wh(orders, "offer") / 1000,
            "traded_kwh": traded / 1000, "granted_kwh": granted / 1000,
            "curtailed_kwh": (traded - granted) / 1000,
            "delivered_kwh": delivered / 1000 if delivered is not None else "",
            "vm_min_pu": grid.vm_min_pu if grid else "",
            "vm_max_pu": grid.vm_max_pu if grid else "",
            **(_phase_figures(grid) if grid else {}),
            "max_line_loading_percent": grid.max_line_loading_percent if grid else "",
            "export_limited_kwh": grid.export_limited_kw * self._hours if grid else "",
            "volt_watt_kwh": grid.volt_watt_kw * self._hours if grid else "",
            "violations": "; ".join(f"{v.kind} {v.element}" + (f" ({v.cause})" if v.cause else "")
                                    for v in grid.violations) if grid else "",
            **self._upstream(outcome),
            "commit_latency_max_ms": (round(self.commit_ms.pop(k), 3) if k in self.commit_ms
                                      else ""),
        }])
        names = [h.name for h in self.run.homes]
        delivered_wh = settled.delivered_wh if settled else ()
        self._append(TRADES, [
            {
                "interval_start": start, "seller": names[t.seller], "buyer": names[t.buyer],
                "energy_kwh": t.energy_wh / 1000, "granted_kwh": t.granted_wh / 1000,
                "delivered_kwh": delivered_wh[i] / 1000 if settled else "",
                "price": t.price_per_kwh, "status": t.status,
                "constraint_kind": t.binding.kind if t.binding else "",
                "constraint_element": t.binding.element if t.binding else "",
                "constraint_value": t.binding.value if t.binding else "",
                "constraint_limit": t.binding.limit if t.binding else "",
            }
            for i, t in enumerate(trades)
        ])

    def _upstream(self, outcome: IntervalOutcome | None) -> dict[str, float | str]:
        """An interval's energy through the transformer, with the market and without it."""
        assert self.run is not None
        kws = ((None, None) if outcome is None
               else (outcome.upstream_kw, outcome.baseline_upstream_kw))
        cells: dict[str, float | str] = {}
        for prefix, kw in zip(("", BASELINE), kws):
            energy = ("", "") if kw is None else (
                round(kwh, 4) for kwh in upstream_kwh(kw, self.run.interval_s))
            cells[prefix + "upstream_import_kwh"], cells[prefix + "upstream_export_kwh"] = energy
        return cells

    def _write_tables(self, to_file: bool) -> None:
        """The whole-file tables (homes, buses, lines) to the listeners; to their files when
        ``to_file``."""
        if not (to_file or self.listeners):
            return
        for spec, rows in ((HOMES, self._home_rows()), (BUSES, self._bus_rows()),
                           (LINES, self._line_rows())):
            if to_file:
                tmp = self.out / (spec.name + ".tmp")
                with tmp.open("w", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=spec.names)
                    writer.writeheader()
                    writer.writerows(rows)
                os.replace(tmp, self.out / spec.name)
            for listener in self.listeners:
                listener(spec, rows, True)

    def _home_rows(self) -> list[dict[str, Any]]:
        assert self.run is not None
        return [
            {
                "home": h.name, "bus": h.bus, "role": h.role, "pv_kwp": h.pv_kwp,
                "battery_kwh": h.battery_kwh, "physical": str(h.physical).lower(),
                "phase": h.phase,
                "sold_kwh": self.sold_wh[i] / 1000, "bought_kwh": self.bought_wh[i] / 1000,
                "delivered_sold_kwh": self.delivered_sold_wh[i] / 1000,
                "delivered_bought_kwh": self.delivered_bought_wh[i] / 1000,
                "net_payment": int(self.net_payment[i]),
                "bill_units": int(self.bill_units[i]),
                "baseline_bill_units": int(self.baseline_bill_units[i]),
            }
            for i, h in enumerate(self.run.homes)
        ]

    def _bus_rows(self) -> list[dict[str, Any]]:
        assert self.run is not None
        m = self.run.feeder_map
        return [{"bus": bus, "name": name, "vm_min_pu": _cell(low), "vm_max_pu": _cell(high)}
                for bus, name, low, high in zip(m.bus, m.name, self.bus_vm_min,
                                                self.bus_vm_max)]

    def _line_rows(self) -> list[dict[str, Any]]:
        assert self.run is not None
        lines = [b.name for b in self.run.feeder_map.branches if b.kind == "line"]
        return [{"line": name, "max_loading_percent": _cell(loading)}
                for name, loading in zip(lines, self.line_max_loading)]

    @property
    def _hours(self) -> float:
        assert self.run is not None
        return self.run.interval_s / 3600

    def _grid_figures(self, grid: GridSolved, start: str) -> None:
        self.vm_min_pu = _extreme(min, self.vm_min_pu, grid.vm_min_pu)
        self.vm_max_pu = _extreme(max, self.vm_max_pu, grid.vm_max_pu)
        self.max_line_loading_percent = _extreme(max, self.max_line_loading_percent,
                                                 grid.max_line_loading_percent)
        for key, value in _phase_figures(grid).items():
            pick = min if key.startswith("vm_min") else max
            self.phase_extremes[key] = _extreme(pick, self.phase_extremes.get(key), value)
        for cause, kw in (("export_limit", grid.export_limited_kw),
                          ("volt_watt", grid.volt_watt_kw)):
            self.curtailed_kwh[cause] += kw * self._hours
        for kind in {v.kind for v in grid.violations}:
            self.violation_intervals[kind] += 1
        for v in grid.violations:
            if v.cause is None:
                self.avoidable_violations += 1
                continue
            self.unavoidable_by_cause[v.cause] += 1
            if len(self.unavoidable) < UNAVOIDABLE_LISTED:
                self.unavoidable.append({"interval_start": start, "kind": v.kind,
                                         "element": v.element, "value": v.value,
                                         "limit": v.limit, "cause": v.cause})

    # -- the summary ----------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """The summary's fields that the records hold."""
        assert self.run is not None
        r = self.run
        return {
            "scenario": r.scenario,
            "start": iso_utc(r.start_s),
            "interval_s": r.interval_s,
            "participants": len(r.homes),
            "intervals": self.n_intervals,
            "orders": self.n_orders,
            "trades": self.n_trades,
            "energy_traded_kwh": round(self.traded_wh / 1000, 3),
            "energy_delivered_kwh": round(self.delivered_wh / 1000, 3),
            "energy_curtailed_kwh": round((self.traded_wh - self.granted_wh) / 1000, 3),
            "energy_curtailed_export_limit_kwh": round(self.curtailed_kwh["export_limit"], 3),
            "energy_curtailed_volt_watt_kwh": round(self.curtailed_kwh["volt_watt"], 3),
            "intervals_with_violations": {kind: self.violation_intervals[kind]
                                          for kind in VIOLATION_KINDS},
            "avoidable_violations": self.avoidable_violations,
            "unavoidable_violations_by_cause": dict(sorted(self.unavoidable_by_cause.items())),
            "unavoidable_violations": self.unavoidable,
            "price_min": min(self.prices, default=None),
            "price_mean": round(float(np.mean(self.prices)), 2) if self.prices else None,
            "price_max": max(self.prices, default=None),
            "payments_total": sum(self.paid.values()),
            "grid_fees_total": self.paid["grid_fee"],
            "phases": r.phases,
            "vm_min_pu": _rounded(self.vm_min_pu, 5),
            "vm_max_pu": _rounded(self.vm_max_pu, 5),
            **({key: _rounded(value, 5 if key.startswith("vm") else 3)
                for key, value in self.phase_extremes.items()} if r.phases == "unbalanced"
               else {}),
            "max_line_loading_percent": _rounded(self.max_line_loading_percent, 3),
            "vm_limits": [r.vm_min_pu, r.vm_max_pu],
            "max_line_loading_limit": r.max_line_loading_percent,
            **({"vuf_limit_percent": r.max_vuf_percent} if r.phases == "unbalanced" else {}),
        }


def _phase_figures(grid: GridSolved) -> dict[str, float]:
    """An interval's per-phase figures (intervals.csv, the summary): none when balanced."""
    if not grid.vm_phase_min_pu and math.isnan(grid.vuf_max_percent):
        return {}
    nan = (float("nan"),) * len(PHASE_NAMES)
    figures = {}
    for p, phase in enumerate(PHASE_NAMES):
        figures[f"vm_min_{phase}_pu"] = (grid.vm_phase_min_pu or nan)[p]
        figures[f"vm_max_{phase}_pu"] = (grid.vm_phase_max_pu or nan)[p]
    figures["vuf_max_percent"] = grid.vuf_max_percent
    figures["neutral_loading_max_percent"] = grid.neutral_loading_max_percent
    return figures


def _side_wh(orders: OrdersPlaced | None, side: str) -> int:
    return sum(o.energy_wh for o in orders.orders if o.side == side) if orders else 0


def _extreme(pick: Any, so_far: float | None, value: float) -> float | None:
    """The running extreme; a NaN (a power flow that did not converge) leaves it as it is."""
    if math.isnan(value):
        return so_far
    return value if so_far is None else pick(so_far, value)


def _cell(value: float) -> float | str:
    """A float for a CSV cell; empty when never set (NaN)."""
    return "" if np.isnan(value) else round(float(value), 6)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
