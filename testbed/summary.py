"""The summary table printed at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROWS = (
    ("participants", "homes"), ("intervals", "market intervals"), ("orders", "signed orders"),
    ("trades", "trades"), ("energy_traded_kwh", "traded kWh"),
    ("energy_delivered_kwh", "delivered kWh"), ("energy_curtailed_kwh", "curtailed kWh"),
    ("price_min", "price min /kWh"), ("price_mean", "price mean /kWh"),
    ("price_max", "price max /kWh"), ("payments_total", "payments"),
    ("money_conservation_error", "money conservation error"), ("blocks", "blocks"),
    ("ledger_valid", "ledger valid"), ("vm_min_pu", "lowest voltage (pu)"),
    ("vm_max_pu", "highest voltage (pu)"), ("max_line_loading_percent", "max line loading %"),
    ("step_jitter_p50_ms", "step jitter p50 (ms)"), ("step_jitter_p99_ms", "step jitter p99 (ms)"),
    ("deadline_misses", "deadline misses"),
)


def print_summary(summary: dict[str, Any], out: Path) -> None:
    table = Table(title=f"{summary['scenario']} from {summary['start']}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, label in ROWS:
        value = summary.get(key)
        if value is not None:
            table.add_row(label, f"{value:,}" if isinstance(value, int) and not isinstance(
                value, bool) else str(value))
    console = Console()
    console.print(table)
    console.print(f"run folder: {out}\nreport: {out / 'report' / 'index.html'}")
