"""The run's summary (`summary.json`): every field defined once, with its label, in the order
the summary, the printed table, the report and the dashboard show it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grid_models.phases import PHASE_NAMES

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    printed: bool = True  # in the table printed at the end of a run


FIELDS = (
    Field("scenario", "Scenario", printed=False),
    Field("start", "Start (UTC)", printed=False),
    Field("interval_s", "Market interval (s)", printed=False),
    Field("participants", "Participants"),
    Field("intervals", "Intervals"),
    Field("orders", "Orders"),
    Field("trades", "Trades"),
    Field("energy_traded_kwh", "Energy traded (kWh)"),
    Field("energy_delivered_kwh", "Energy delivered (kWh)"),
    Field("energy_curtailed_kwh", "Energy curtailed by the market gate (kWh)"),
    Field("energy_curtailed_export_limit_kwh", "Energy curtailed by export limits (kWh)"),
    Field("energy_curtailed_volt_watt_kwh", "Energy curtailed by volt-watt (kWh)"),
    Field("intervals_with_violations", "Intervals with violations, by kind"),
    Field("avoidable_violations", "Violations a device could have prevented"),
    Field("unavoidable_violations_by_cause", "Unavoidable violations, by cause"),
    Field("unavoidable_violations", "Unavoidable violations (the first 50)", printed=False),
    Field("price_min", "Price min (per kWh)"),
    Field("price_mean", "Price mean (per kWh)"),
    Field("price_max", "Price max (per kWh)"),
    Field("payments_total", "Payments total"),
    Field("grid_fees_total", "Grid fees total (currency units)"),
    Field("phases", "Power flow (balanced or unbalanced)"),
    Field("vm_min_pu", "Voltage min (pu)"),
    Field("vm_max_pu", "Voltage max (pu)"),
    *(Field(f"vm_{end}_{phase}_pu", f"Phase {phase} voltage {end} (pu)")
      for phase in PHASE_NAMES for end in ("min", "max")),
    Field("vuf_max_percent", "Voltage unbalance factor max (%)"),
    Field("max_line_loading_percent", "Max line loading (%)"),
    Field("neutral_loading_max_percent", "Max neutral loading (%)"),
    Field("vm_limits", "Voltage limits (pu)", printed=False),
    Field("max_line_loading_limit", "Line loading limit (%)", printed=False),
    Field("vuf_limit_percent", "Voltage unbalance limit (%)", printed=False),
    Field("demand_kwh", "Homes' demand (kWh)", printed=False),
    Field("pv_potential_kwh", "PV the panels could produce (kWh)", printed=False),
    Field("self_sufficiency_percent", "Self-sufficiency (%)"),
    Field("baseline_self_sufficiency_percent", "Self-sufficiency without the market (%)"),
    Field("self_consumption_percent", "Self-consumption of PV (%)"),
    Field("baseline_self_consumption_percent", "Self-consumption without the market (%)"),
    Field("battery_net_charge_kwh", "Batteries' net charge (kWh)"),
    Field("baseline_battery_net_charge_kwh", "Batteries' net charge without the market (kWh)"),
    Field("upstream_import_kwh", "Imported from upstream (kWh)"),
    Field("baseline_upstream_import_kwh", "Imported from upstream without the market (kWh)"),
    Field("upstream_export_kwh", "Exported upstream (kWh)"),
    Field("baseline_upstream_export_kwh", "Exported upstream without the market (kWh)"),
    Field("peak_import_kw", "Peak import at the transformer (kW)"),
    Field("baseline_peak_import_kw", "Peak import without the market (kW)"),
    Field("peak_export_kw", "Peak export at the transformer (kW)"),
    Field("baseline_peak_export_kw", "Peak export without the market (kW)"),
    Field("bills_total", "Homes' bills, total (currency units)"),
    Field("baseline_bills_total", "Homes' bills without the market (currency units)"),
    Field("homes_better_off", "Homes better off"),
    Field("homes_worse_off", "Homes worse off"),
    Field("largest_loss_units", "Largest loss of a home (currency units)"),
    Field("largest_loss_home", "Home with the largest loss"),
    Field("ledger_bytes", "Ledger size (bytes)", printed=False),
    Field("ledger_bytes_per_kwh_traded", "Ledger bytes per kWh traded"),
    Field("validation_cpu_s", "Validation CPU time (s)", printed=False),
    Field("validation_cpu_s_per_1000_trades", "Validation CPU per 1000 trades (s)"),
    Field("money_conservation_error", "Money conservation error"),
    Field("blocks", "Blocks"),
    Field("transactions", "Ledger transactions", printed=False),
    Field("ledger_valid", "Ledger valid"),
    Field("head_height", "Head height", printed=False),
    Field("head_hash", "Head hash (testbed verify --head)", printed=False),
    Field("public_keys", "Keys anyone can use (development only)"),
    Field("validators", "Validators"),
    Field("commit_latency_p50_ms", "Commit latency p50 (ms)"),
    Field("commit_latency_p99_ms", "Commit latency p99 (ms)"),
    Field("step_jitter_p50_ms", "Step jitter p50 (ms)"),
    Field("step_jitter_p99_ms", "Step jitter p99 (ms)"),
    Field("deadline_misses", "Deadline misses"),
    Field("control_steps", "Control steps", printed=False),
    Field("stopped", "Stopped early", printed=False),
)
LABELS = {f.key: f.label for f in FIELDS}


def ordered(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in the fields' order; a key that is not a field is a bug."""
    unknown = set(values) - LABELS.keys()
    if unknown:
        raise KeyError(f"not summary fields: {sorted(unknown)}")
    return {f.key: values[f.key] for f in FIELDS if f.key in values}


def write_summary(out: Path, values: dict[str, Any]) -> dict[str, Any]:
    """Write summary.json atomically (a reader never sees half a file); returns it."""
    summary = ordered(values)
    tmp = out / (SUMMARY_FILE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, out / SUMMARY_FILE)
    return summary


def print_summary(summary: dict[str, Any], out: Path) -> None:
    """The printed fields as a table, then where the run folder and its report are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['scenario']} from {summary['start']}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for f in FIELDS:
        value = summary.get(f.key)
        if f.printed and value is not None:
            table.add_row(f.label, f"{value:,}" if isinstance(value, int) and not isinstance(
                value, bool) else str(value))
    console = Console()
    console.print(table)
    console.print(f"run folder: {out}\nreport: {out / 'report' / 'index.html'}")
