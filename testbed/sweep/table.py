"""The sweep's results: one Parquet table, a row per cell (its id, its parameters, its wall time
and failure reason, then whatever its summary holds, nested values flattened as
``key.subkey``, lists of records kept as JSON text), and `sweep.json`, the sweep's own figures (cells,
timing, speed-up)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from testbed.sweep.cell import CellResult, write_json

TABLE_FILE = "sweep.parquet"
SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class SweepFigures:
    """What `sweep.json` holds and the command prints at the end."""

    name: str
    spec: str
    scenario: str  # the base scenario
    cluster: str  # "local, N workers" or the scheduler's address
    cells: int
    ran: int  # in this invocation, failed ones included
    skipped: int  # done by an earlier invocation
    failed: int
    wall_s: float  # this invocation, from the cluster's start to the last cell's end
    cells_wall_s: float  # the sum of the wall times of the cells run in this invocation

    @property
    def speedup(self) -> float | None:
        """The sum of the cells' times against the sweep's: what running them on the cluster
        saved against running them one after the other (each warm, as on a worker)."""
        return self.cells_wall_s / self.wall_s if self.ran and self.wall_s > 0 else None


def frame(results: Sequence[CellResult]) -> pd.DataFrame:
    """A row per cell, in the order given. A field that holds records in any cell is JSON text
    in every cell (an empty list too: one column, one type)."""
    as_text = {k for r in results for k, v in (r.summary or {}).items() if _records(v)}
    rows = []
    for r in results:
        summary = {k: json.dumps(v) if k in as_text else v
                   for k, v in (r.summary or {}).items() if k not in r.parameters}
        rows.append({"cell": r.cell, **r.parameters, "wall_s": r.wall_s, "error": r.error,
                     **summary})
    return pd.json_normalize(rows, sep=".") if rows else pd.DataFrame()


def _records(value: object) -> bool:
    """A list of records (e.g. the unavoidable violations): one JSON text in its cell."""
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def write_results(out: Path, results: Sequence[CellResult], figures: SweepFigures) -> Path:
    """Write the table and sweep.json atomically; returns the table's path."""
    table = out / TABLE_FILE
    tmp = table.with_name(table.name + ".tmp")
    frame(results).convert_dtypes().to_parquet(tmp, index=False)  # integers stay integers
    os.replace(tmp, table)
    write_json(out / SWEEP_FILE, {**asdict(figures), "speedup": figures.speedup})
    return table
