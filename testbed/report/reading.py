"""Reading a run folder: summary.json, the CSV files typed by their columns' kinds
(`records/columns.py`), the feeder's diagram and the command log's last lines.

Only summary.json is required: a missing or empty CSV becomes a note saying why, and a column
that an older run folder lacks is simply absent. Bad content is one line naming the file, the
line and the column.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from grid_models.diagram import OneLine
from testbed.errors import InputError
from testbed.records import columns
from testbed.records.columns import HOMES, INTERVALS, MEASUREMENTS, TRADES, CsvFile
from testbed.records.recorder import FEEDER_FILE
from testbed.records.summary import SUMMARY_FILE

LOG_FILE = "instruments.log"
LOG_TAIL_LINES = 40
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no", ""}
# Columns the figures need: a file without them is refused, not half drawn.
REQUIRED: dict[str, tuple[str, ...]] = {
    INTERVALS.name: ("interval_start", "clearing_price", "bid_kwh", "offer_kwh", "traded_kwh",
                     "delivered_kwh", "vm_min_pu", "vm_max_pu", "max_line_loading_percent"),
    TRADES.name: ("status", "constraint_kind", "constraint_element", "energy_kwh",
                  "granted_kwh", "constraint_value", "constraint_limit"),
    HOMES.name: ("home", "physical", "sold_kwh", "bought_kwh"),
    MEASUREMENTS.name: ("device", "time_s", "p_kw", "v_v"),
}
Table = pd.DataFrame | str
"""A file's rows typed by its columns' kinds, or a note on why there are none."""


@dataclass(frozen=True)
class RunFolder:
    path: Path
    summary: dict
    tables: dict[str, Table]  # by file name, every file of records/columns.py
    feeder: OneLine | None
    log_tail: tuple[dict, ...]  # the command log's last entries

    @property
    def home_count(self) -> int:
        """The homes of the run: homes.csv's rows, else the summary's participants."""
        homes = self.tables[HOMES.name]
        if not isinstance(homes, str):
            return len(homes)
        participants = self.summary.get("participants")
        return participants if isinstance(participants, int) else 0


def read_run(run_dir: Path) -> RunFolder:
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    tables = {spec.name: read_table(run_dir, spec) for spec in columns.FILES}
    return RunFolder(run_dir, summary, tables, _read_feeder(run_dir), _log_tail(run_dir))


def read_summary(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise InputError(f"not a run folder: {run_dir} is not a directory")
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        raise InputError(f"not a run folder: {run_dir} has no {SUMMARY_FILE}")
    summary = _json(path)
    if not isinstance(summary, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(summary).__name__}")
    return summary


def read_table(run_dir: Path, spec: CsvFile) -> Table:
    """The file's columns typed by kind (number: float, NaN when empty; time: UTC
    timestamps; flag: bool; text: str), or a note when it is absent or has no rows."""
    path = run_dir / spec.name
    if not path.is_file():
        return f"no {spec.name} in the run folder"
    if path.stat().st_size == 0:
        return f"{spec.name} is empty"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable CSV ({_one_line(exc)})") from None
    missing = [c for c in REQUIRED.get(spec.name, ()) if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        return f"{spec.name} has no rows"
    for column in spec.columns:
        if column.name in frame.columns:
            frame[column.name] = _TYPED[column.kind](frame[column.name], path, column.name)
    return frame[[name for name in spec.names if name in frame.columns]]


def _numbers(raw: pd.Series, path: Path, column: str) -> pd.Series:
    raw = raw.str.strip()
    values = pd.to_numeric(raw.where(raw != ""), errors="coerce")
    bad = values.isna() & (raw != "")
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise InputError(f"{path}: line {row + 2}: {column} is not a number: {raw.iloc[row]!r}")
    return values.astype(float)


def _times(raw: pd.Series, path: Path, column: str) -> pd.Series:
    values = pd.to_datetime(raw.str.strip(), utc=True, format="ISO8601", errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise InputError(f"{path}: line {row + 2}: {column} is not an ISO 8601 time: "
                         f"{raw.iloc[row]!r}")
    return values


def _flags(raw: pd.Series, path: Path, column: str) -> pd.Series:
    words = raw.str.strip().str.lower()
    unknown = ~words.isin(TRUE_WORDS | FALSE_WORDS)
    if unknown.any():
        row = int(unknown.to_numpy().argmax())
        raise InputError(f"{path}: line {row + 2}: {column} must be true or false, not "
                         f"{raw.iloc[row]!r}")
    return words.isin(TRUE_WORDS)


def _text(raw: pd.Series, path: Path, column: str) -> pd.Series:
    return raw.str.strip()


_TYPED = {"number": _numbers, "time": _times, "flag": _flags, "text": _text}


def _read_feeder(run_dir: Path) -> OneLine | None:
    path = run_dir / FEEDER_FILE
    if not path.is_file():
        return None
    try:
        return OneLine.from_record(_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a feeder diagram ({_one_line(exc)})") from None


def _log_tail(run_dir: Path) -> tuple[dict, ...]:
    """The command log's last entries; lines that are not JSON objects are skipped (a log
    cut by a crash ends mid-line)."""
    path = run_dir / LOG_FILE
    if not path.is_file():
        return ()
    with path.open(encoding="utf-8", errors="replace") as f:
        lines = deque(f, maxlen=LOG_TAIL_LINES)
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return tuple(entries)


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
