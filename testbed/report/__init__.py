"""A run's report, rebuilt from its run folder: the interactive page (the same page the live
dashboard serves) and the PNG figures for papers, in `report/` beside the records.

`reading` reads the run folder, `figures` draws the PNGs, `page` writes the page.
"""

from __future__ import annotations

from pathlib import Path

from testbed.errors import InputError
from testbed.records.columns import TRADES
from testbed.records.curtailment import Curtailment
from testbed.records.home_spread import HomeSpread
from testbed.report.page import copy_assets, html_page, report_model
from testbed.report.png_figures import PLOTS, draw
from testbed.report.reading import read_run

REPORT_DIR = "report"
INDEX = "index.html"
ASSETS_DIR = "assets"

__all__ = ["INDEX", "PLOTS", "REPORT_DIR", "build_report"]


def build_report(run_dir: Path) -> Path:
    """Write the figures and index.html into run_dir/report/ and return the index's path."""
    run = read_run(Path(run_dir))
    out = run.path / REPORT_DIR
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder: move it to build the report")
    out.mkdir(exist_ok=True)
    cut = Curtailment()
    spread = HomeSpread(run.home_count)
    trades = run.tables[TRADES.name]
    if not isinstance(trades, str):
        rows = trades.to_dict("records")
        cut.add(rows)
        spread.add(rows)
    drawn = draw(run, cut, spread, out)
    copy_assets(out / ASSETS_DIR)
    index = out / INDEX
    index.write_text(html_page(report_model(run, cut, spread, drawn), ASSETS_DIR),
                     encoding="utf-8")
    return index
