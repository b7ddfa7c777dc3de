"""Running a sweep: the cells already done are found (`plan`), the others run on the cluster
as they come (`run`), each result reported as it arrives; then the table, sweep.json and the
plots are written, with whatever finished even when the sweep is interrupted."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed.sweep.cell import CellResult, finished, one_line, run_cell
from testbed.sweep.cluster import check_shared_folder, connect, local_cores
from testbed.sweep.plots import plot
from testbed.sweep.spec import Cell, SweepSpec
from testbed.sweep.table import SweepFigures, frame, write_results

CELLS_DIR = "cells"


@dataclass(frozen=True)
class Plan:
    spec: SweepSpec
    out: Path
    done: tuple[CellResult, ...]  # by an earlier invocation, skipped
    todo: tuple[Cell, ...]

    def folder(self, cell: Cell) -> Path:
        return self.out / CELLS_DIR / cell.id


@dataclass(frozen=True)
class Outcome:
    figures: SweepFigures
    results: tuple[CellResult, ...]  # in the spec's order
    table: Path
    plots: tuple[Path, ...]


def plan(spec: SweepSpec, out: Path) -> Plan:
    """Which cells are done (their run finished with this very scenario) and which to run."""
    done, todo = [], []
    for cell in spec.cells:
        folder = out / CELLS_DIR / cell.id
        result = finished(cell.id, cell.parameters, cell.scenario, folder)
        if result is None:
            todo.append(cell)
        else:
            done.append(result)
    return Plan(spec, out, tuple(done), tuple(todo))


def run(p: Plan, *, scheduler: str | None = None, workers: int | None = None,
        on_result: Callable[[CellResult], None] = lambda result: None) -> Outcome:
    """Run the cells still to do on a local cluster of ``workers`` processes (default: one per
    core) or on the cluster whose scheduler is at ``scheduler``."""
    (p.out / CELLS_DIR).mkdir(parents=True, exist_ok=True)
    cluster = scheduler or f"local, {workers or local_cores()} workers"
    ran: dict[str, CellResult] = {}
    start = time.perf_counter()
    try:
        if p.todo:
            with connect(scheduler, workers) as client:
                check_shared_folder(client, p.out)
                _submit_and_gather(client, p, ran, on_result)
    finally:  # interrupted or not, what finished is written
        outcome = _write(p, ran, cluster, time.perf_counter() - start)
    return outcome


def _submit_and_gather(client: object, p: Plan, ran: dict[str, CellResult],
                       on_result: Callable[[CellResult], None]) -> None:
    from distributed import as_completed

    tag = uuid.uuid4().hex[:8]  # keys of two sweeps on one scheduler never meet
    futures = {
        client.submit(run_cell, c.id, c.parameters, c.scenario, p.folder(c),  # type: ignore[attr-defined]
                      key=f"cell-{c.id}-{tag}", pure=False, retries=0): c
        for c in p.todo
    }
    try:
        for future in as_completed(futures):
            result = _result(future, futures[future])
            ran[result.cell] = result
            on_result(result)
    except BaseException:
        client.cancel(list(futures))  # type: ignore[attr-defined]
        raise


def _result(future: object, cell: Cell) -> CellResult:
    """The cell's own result, or why its worker could not give one."""
    from distributed import KilledWorker

    if future.status == "finished":  # type: ignore[attr-defined]
        return future.result()  # type: ignore[attr-defined]
    exc = future.exception()  # type: ignore[attr-defined]
    reason = ("its worker died running it (killed, out of memory or crashed)"
              if isinstance(exc, KilledWorker) else f"on its worker: {one_line(exc)}")
    return CellResult(cell.id, cell.parameters, None, None, reason)


def _write(p: Plan, ran: dict[str, CellResult], cluster: str, wall_s: float) -> Outcome:
    earlier = {r.cell: r for r in p.done}
    results = tuple(ran.get(c.id) or earlier[c.id] for c in p.spec.cells
                    if c.id in ran or c.id in earlier)
    figures = SweepFigures(
        name=p.spec.name, spec=p.spec.source, scenario=p.spec.base, cluster=cluster,
        cells=len(p.spec.cells), ran=len(ran), skipped=len(p.done),
        failed=sum(r.error is not None for r in results),
        wall_s=round(wall_s, 3),
        cells_wall_s=round(sum(r.wall_s or 0.0 for r in ran.values()), 3),
    )
    table = write_results(p.out, results, figures)
    return Outcome(figures, results, table, tuple(plot(frame(results), p.out)))
