"""The sweep's plots, from its table: hosting capacity per feeder (PV share against grid
violations, curtailed energy and the highest voltage) and the market (traded and delivered
energy, price) against PV share. Columns are plotted when the table has them, so fields the
summary gains (violations by element kind, curtailment by cause) appear without a change here.

Energy and counts are per simulated day, so cells of different lengths compare; each line is
the mean over the cells that share its x (seeds, start days), and each cell is a faint dot. A
line per battery share, and per power flow (balanced, unbalanced) when the sweep has both: a
utility sees how far a balanced study misjudges a feeder's hosting capacity.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

HOSTING_PNG = "hosting_capacity.png"
MARKET_PNG = "market.png"
DPI = 110
STYLES = ("-", "--", ":", "-.")  # one per battery share
PANEL_SIZE = (5.0, 3.4)  # inches


def plot(table: pd.DataFrame, out: Path) -> list[Path]:
    """Write the plots the table's successful cells allow; returns their paths."""
    return [_save(fig, out / name) for name, fig in (
        (HOSTING_PNG, hosting_figure(table)), (MARKET_PNG, market_figure(table)))
        if fig is not None]


def hosting_figure(table: pd.DataFrame) -> Figure | None:
    """A row of panels per feeder: violations, curtailed energy, highest voltage."""
    table = _successful(table)
    violations = _numeric(table, lambda c: "violation" in c)
    curtailed = _numeric(table, lambda c: "curtailed" in c)
    panels = [(cols, title, per_day) for cols, title, per_day in (
        (violations, "Intervals with violations per day", True),
        (curtailed, "Curtailed energy (kWh per day)", True),
        (_numeric(table, lambda c: c == "vm_max_pu"), "Highest voltage (pu)", False),
    ) if cols]
    if table.empty or not panels:
        return None
    feeders = list(dict.fromkeys(table["feeder"]))
    fig = Figure(figsize=(PANEL_SIZE[0] * len(panels), PANEL_SIZE[1] * len(feeders)))
    axes = fig.subplots(len(feeders), len(panels), squeeze=False)
    for row, feeder in zip(axes, feeders):
        cells = table[table["feeder"] == feeder]
        for ax, (columns, title, per_day) in zip(row, panels):
            for j, column in enumerate(columns):
                _lines(ax, cells, column, per_day, label=column, color=f"C{j}")
            if not per_day:
                _upper_limit(ax, cells)
            ax.set(title=f"{feeder}\n{title}", xlabel="PV share")
            ax.legend(fontsize="x-small")
    return fig


def market_figure(table: pd.DataFrame) -> Figure | None:
    """Traded and delivered energy, and the clearing price, a line per feeder."""
    table = _successful(table)
    energy = [c for c in ("energy_traded_kwh", "energy_delivered_kwh") if c in table]
    price = "price_mean" in table
    if table.empty or not (energy or price):
        return None
    fig = Figure(figsize=(PANEL_SIZE[0] * 2, PANEL_SIZE[1]))
    ax_energy, ax_price = fig.subplots(1, 2)
    for i, feeder in enumerate(dict.fromkeys(table["feeder"])):
        cells = table[table["feeder"] == feeder]
        color = f"C{i}"
        for column, style in zip(energy, ("-", "--")):
            _lines(ax_energy, cells, column, True, label=f"{feeder}: {column}", color=color,
                   style=style)
        if price:
            _lines(ax_price, cells, "price_mean", False, label=feeder, color=color, style="-")
            if {"price_min", "price_max"} <= set(cells):
                band = cells.groupby("pv_share")[["price_min", "price_max"]].mean()
                ax_price.fill_between(band.index, band["price_min"], band["price_max"],
                                      color=color, alpha=0.12, label=f"{feeder}: min-max")
    ax_energy.set(title="Energy traded (solid) and delivered (dashed)", xlabel="PV share",
                  ylabel="kWh per day")
    ax_price.set(title="Clearing price", xlabel="PV share", ylabel="per kWh")
    for ax in (ax_energy, ax_price):
        ax.legend(fontsize="x-small")
    return fig


def _successful(table: pd.DataFrame) -> pd.DataFrame:
    """The cells that ran, in PV share order (none: an empty table)."""
    if "pv_share" not in table or "feeder" not in table:
        return table.iloc[0:0]
    ok = table[table["error"].isna()] if "error" in table else table
    return ok.sort_values("pv_share")


def _lines(ax: Axes, cells: pd.DataFrame, column: str, per_day: bool, label: str,
           color: str | None = None, style: str | None = None) -> None:
    """The mean of ``column`` against PV share, each cell a dot: one line in ``style``, or
    without one, a line per battery share and power flow, each in its own style."""
    values = cells[column] / cells["days"] if per_day and "days" in cells else cells[column]
    frame = cells.assign(_y=values)
    keys = [k for k in ("battery_share", "phases") if style is None and k in frame
            and frame[k].nunique() > 1]
    groups = list(frame.groupby(keys, sort=False)) if keys else [((), frame)]
    for i, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        suffix = "".join(f", battery share {v:g}" if k == "battery_share" else f", {v}"
                         for k, v in zip(keys, key))
        mean = group.groupby("pv_share")["_y"].mean()
        line, = ax.plot(mean.index, mean.to_numpy(), style or STYLES[i % len(STYLES)],
                        marker="o", color=color, label=label + suffix)
        ax.scatter(group["pv_share"], group["_y"], color=line.get_color(), alpha=0.3, s=10)


def _upper_limit(ax: Axes, cells: pd.DataFrame) -> None:
    """The voltage band's upper limit, when the summary records it."""
    limits = cells.get("vm_limits")
    if limits is None:
        return
    uppers = {float(v[1]) for v in limits if hasattr(v, "__len__") and len(v) == 2}
    for upper in sorted(uppers):
        ax.axhline(upper, color="#c0392b", linestyle=":", label=f"limit {upper:g} pu")


def _numeric(table: pd.DataFrame, wanted) -> list[str]:
    return [c for c in table.columns
            if wanted(c) and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path
