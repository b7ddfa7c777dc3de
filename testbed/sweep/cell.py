"""One cell on a worker: a `testbed simulate` run into the cell's folder, timed, and any
failure turned into a one-line reason so the sweep goes on. Also the test, run before
submitting, of whether a cell is already done."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.records.summary import SUMMARY_FILE
from testbed.scenario import Scenario

CELL_FILE = "cell.json"
"""Written last, once the run folder is whole: the cell's parameters and wall time."""
ERROR_FILE = "error.txt"
"""A failed cell's traceback, beside what its run wrote."""
SCENARIO_FILE = "scenario.json"
"""The scenario as run, written by `run_scenario` (compared to find stale cells)."""


@dataclass(frozen=True)
class CellResult:
    cell: str
    parameters: dict[str, Any]
    wall_s: float | None
    summary: dict[str, Any] | None  # None when the cell failed
    error: str | None = None  # one line
    skipped: bool = False  # done by an earlier run of the sweep


def run_cell(cell_id: str, parameters: dict[str, Any], scenario: Scenario,
             folder: Path) -> CellResult:
    """Run the cell afresh into ``folder`` (whatever an unfinished run left there is removed)."""
    from testbed.run import run_scenario

    limit_threads()
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    try:
        summary = run_scenario(scenario, folder, paced=False)
    except Exception as exc:  # noqa: BLE001 - a failed cell is reported; the others go on
        wall_s = time.perf_counter() - start
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ERROR_FILE).write_text(traceback.format_exc())
        return CellResult(cell_id, parameters, wall_s, None, one_line(exc))
    wall_s = time.perf_counter() - start
    write_json(folder / CELL_FILE, {"cell": cell_id, "parameters": parameters,
                                       "wall_s": wall_s, "host": socket.gethostname()})
    return CellResult(cell_id, parameters, wall_s, summary)


def finished(cell_id: str, parameters: dict[str, Any], scenario: Scenario,
             folder: Path) -> CellResult | None:
    """The result of an earlier run of this cell, if it ran to the end with this very
    scenario (a changed base scenario runs the cell again); else None."""
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        record = json.loads((folder / CELL_FILE).read_text())
        ran = json.loads((folder / SCENARIO_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(summary, dict) and isinstance(record, dict) and isinstance(ran, dict)):
        return None
    if summary.get("stopped") is not None or not _same_scenario(ran, scenario):
        return None
    wall_s = record.get("wall_s")
    return CellResult(cell_id, parameters, wall_s if isinstance(wall_s, float) else None,
                      summary, skipped=True)


def limit_threads() -> None:
    """One thread for BLAS and Numba in this task: a worker runs as many cells at once as it
    has threads, and the cluster is sized to the cores, so more would oversubscribe them."""
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # process-wide, and every cell wants the same
    numba.set_num_threads(1)  # Numba's count is per calling thread


def one_line(exc: BaseException) -> str:
    """The reason in one line: a user's error as it says; anything else with its type."""
    from testbed.errors import TestbedError

    text = " ".join(str(exc).split())
    if isinstance(exc, TestbedError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _same_scenario(ran: dict[str, Any], scenario: Scenario) -> bool:
    """Equal as `run_scenario` records it, but for where it was read from."""
    now = json.loads(json.dumps(dataclasses.asdict(scenario), default=str))
    return {**ran, "source": None} == {**now, "source": None}


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)
