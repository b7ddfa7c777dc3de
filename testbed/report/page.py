"""The run's page: one HTML page for a finished run (`testbed report`) and for a live one (the
dashboard), drawn in the browser by the same script from one model.

The model is JSON: the run's settings, the labels of every CSV column (`records/columns.py`)
and summary field (`records/summary.py`), the tables column by column (trades.csv only as its
tallies: a town's day has hundreds of thousands), the latest values, the curtailment tally,
the spread over the homes (`records/home_spread.py`: many homes are drawn as distributions)
and the feeder's diagram (a town's by feeder: `grid_models/diagram.py`'s overview). A
finished run's page carries its model inside it; a live page gets it from the dashboard's stream and then its changes. Scripts are the
installed packages' own: Plotly's bundled plotly.min.js from the `plotly` wheel and this
package's dashboard.js, so the page works offline.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grid_models.diagram import drawn_record
from testbed.records import columns
from testbed.records.columns import HOMES, TRADES
from testbed.records.curtailment import Curtailment
from testbed.records.home_spread import (
    PER_HOME_MAX_HOMES,
    QUANTILES_PERCENT,
    WORST_HOMES,
    HomeSpread,
)
from testbed.records.summary import FIELDS
from testbed.report.png_figures import Drawn, loading_limit, unbalance_limit, voltage_limits
from testbed.report.reading import TRUE_WORDS, RunFolder, Table

ASSETS = ("dashboard.js", "dashboard.css")
PLOTLY_JS = "plotly.min.js"
MAX_ROWS_PER_SERIES = 20_000
"""Long bench tables (a control step's rows for hours) are thinned to this many rows per
device before they go into a finished run's page; the intervals are never thinned here (the
page draws min-max envelopes of them at the zoom shown)."""
THINNED = ("measurements.csv", "steps.csv", "setpoints.csv")
SHOWN_TABLES = frozenset(spec.name for spec in columns.FILES) - {TRADES.name}
"""Trades are many (a town's day, a neighbourhood's year: hundreds of thousands): the page gets
their tallies (curtailment, spread over the homes), the run folder keeps them."""


def schema() -> dict[str, Any]:
    """Every CSV column and summary field with its kind and label: the page's vocabulary."""
    return {
        "files": {spec.name: [[c.name, c.kind, c.label] for c in spec.columns]
                  for spec in columns.FILES},
        "baseline_pairs": {spec.name: [list(p) for p in spec.baseline_pairs()]
                           for spec in columns.FILES},
        "fields": [[f.key, f.label] for f in FIELDS],
        "homes": {"per_home_max": PER_HOME_MAX_HOMES, "quantiles_percent": list(QUANTILES_PERCENT),
                  "worst": WORST_HOMES},
    }


def asset_files() -> dict[str, Path]:
    """The page's scripts and style by name, each from its installed package."""
    import plotly

    static = resources.files("testbed.report") / "static"
    files = {name: Path(str(static / name)) for name in ASSETS}
    files[PLOTLY_JS] = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    return files


def copy_assets(folder: Path) -> None:
    """The page's scripts beside a written page (copies: the run folder stays portable)."""
    folder.mkdir(exist_ok=True)
    for name, source in asset_files().items():
        target = folder / name
        if not (name == PLOTLY_JS and target.exists()
                and target.stat().st_size == source.stat().st_size):
            shutil.copyfile(source, target)


def html_page(model: dict[str, Any], assets: str) -> str:
    """The page: its model as JSON inside it, its scripts from ``assets`` (a relative URL)."""
    title = html.escape(f"{model['run'].get('scenario') or 'run'}: "
                        f"{'live' if model['mode'] == 'live' else 'report'}")
    data = json.dumps(model, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/dashboard.css">
<script src="{assets}/{PLOTLY_JS}"></script>
</head><body>
<noscript>This page draws its charts with JavaScript; the PNG figures beside it need none.
</noscript>
<script type="application/json" id="model">{data}</script>
<script src="{assets}/dashboard.js"></script>
</body></html>
"""


# -- a finished run's model ---------------------------------------------------------------------


def report_model(run: RunFolder, cut: Curtailment, spread: HomeSpread,
                 drawn: list[Drawn]) -> dict[str, Any]:
    s = run.summary
    limits = voltage_limits(s)
    return {
        "mode": "report",
        "schema": schema(),
        "run": {
            "scenario": s.get("scenario", run.path.name), "folder": str(run.path.resolve()),
            "start_ms": _ms(s.get("start")), "homes": _homes(run.tables[HOMES.name]),
            "interval_s": s.get("interval_s"), "intervals": s.get("intervals"),
            "vm_min_pu": limits[0] if limits else None,
            "vm_max_pu": limits[1] if limits else None,
            "max_line_loading_percent": loading_limit(s),
            "max_vuf_percent": unbalance_limit(s),
        },
        "summary": {k: _plain(v) for k, v in s.items()},
        "flagged": [k for k, v in s.items() if alarming(k, v, s)],
        "tables": {name: table_columns(table, name) for name, table in run.tables.items()
                   if name in SHOWN_TABLES},
        "notes": {name: table for name, table in run.tables.items() if isinstance(table, str)},
        "curtailment": cut.as_record(),
        "spread": spread.as_record(),
        "feeder": drawn_record(run.feeder) if run.feeder else None,
        "latest": {"log": [[e.get("t"), e.get("device"), e.get("kind"), e.get("text")]
                           for e in run.log_tail], "status": _status(s)},
        "figures": [{"title": d.title, "image": d.image, "note": d.note} for d in drawn],
        "files": [[p.name, p.stat().st_size] for p in sorted(run.path.iterdir()) if p.is_file()],
    }


def table_columns(table: Table, name: str) -> dict[str, list] | None:
    """A typed table column by column, JSON-ready: numbers (null when empty), times as
    milliseconds since the epoch, flags, text; None when the table has no rows."""
    if isinstance(table, str):
        return None
    if name in THINNED:
        table = _thinned(table)
    columns = {}
    for column, values in table.items():
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            columns[column] = (values.astype("int64") // 1_000_000).tolist()
        elif values.dtype == float:
            array = values.to_numpy()
            columns[column] = np.where(np.isnan(array), None, array).tolist()
        else:
            columns[column] = values.tolist()
    return columns


def row_cell(kind: str, value: Any) -> Any:
    """A recorder row's cell as ``table_columns`` gives it: the live page's rows so match a
    finished run's."""
    if kind == "number":
        number = math.nan if value == "" or value is None else float(value)
        return None if math.isnan(number) else number
    if kind == "time":
        return int(pd.Timestamp(value).value // 1_000_000)
    if kind == "flag":
        return value is True or str(value).lower() in TRUE_WORDS
    return str(value)


def _thinned(table: pd.DataFrame) -> pd.DataFrame:
    key = "device" if "device" in table else "home" if "home" in table else None
    groups = [table] if key is None else [g for _, g in table.groupby(key, sort=False)]
    longest = max(len(g) for g in groups)
    if longest <= MAX_ROWS_PER_SERIES:
        return table
    stride = math.ceil(longest / MAX_ROWS_PER_SERIES)
    return pd.concat([g.iloc[::stride] for g in groups]).sort_index()


def alarming(key: str, value: object, summary: dict) -> bool:
    """True for figures a reader should not miss: an invalid ledger, a limit exceeded."""
    if not isinstance(value, (int, float)):
        return False
    limits = voltage_limits(summary)
    limit = loading_limit(summary)
    vuf = unbalance_limit(summary)
    return (
        (key == "ledger_valid" and value is False)
        or (key == "vuf_max_percent" and vuf is not None and value > vuf)
        or (key == "vm_min_pu" and limits is not None and value < limits[0])
        or (key == "vm_max_pu" and limits is not None and value > limits[1])
        or (key == "max_line_loading_percent" and limit is not None and value > limit)
    )


def _ms(iso: object) -> int | None:
    """An ISO 8601 time as milliseconds since the epoch; None when it is not one."""
    try:
        return int(pd.Timestamp(str(iso)).tz_localize(None).value // 1_000_000) if iso else None
    except ValueError:
        return None


def _homes(homes: Table) -> list[dict[str, Any]]:
    if isinstance(homes, str) or "bus" not in homes:
        return []
    return [{"name": h, "bus": None if math.isnan(b) else int(b), "physical": bool(p)}
            for h, b, p in zip(homes["home"], homes["bus"], homes["physical"])]


def _status(summary: dict) -> str:
    stopped = summary.get("stopped")
    return f"stopped: {stopped}" if stopped else "finished"


def _plain(value: Any) -> Any:
    """JSON without NaN (a summary written by hand may hold anything)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value

