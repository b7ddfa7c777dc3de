"""The report's static figures: PNG plots for papers, drawn with matplotlib from the run
folder's tables (`reading`). A table that is absent leaves its figure out with a note."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from grid_models.phases import PHASE_NAMES
from testbed.records.columns import HOMES, INTERVALS, MEASUREMENTS, TRADES
from testbed.records.curtailment import Curtailment
from testbed.records.home_spread import PER_HOME_MAX_HOMES, QUANTILES_PERCENT, HomeSpread
from testbed.report.reading import RunFolder, Table

MARKET_PNG = "market.png"
HOMES_PNG = "homes.png"
GRID_PNG = "grid.png"
CURTAILMENT_PNG = "curtailment.png"
MEASUREMENTS_PNG = "measurements.png"
LEDGER_PNG = "ledger.png"
PLOTS = (MARKET_PNG, HOMES_PNG, GRID_PNG, CURTAILMENT_PNG, MEASUREMENTS_PNG, LEDGER_PNG)

DPI = 110
DAILY_AFTER_DAYS = 3  # longer runs are plotted per day so a year stays readable
TOP_ELEMENTS = 10  # bars in the curtailment plot
MAX_POINTS_PER_DEVICE = 5000  # measurements are thinned beyond this for plotting
COLORS = {
    "price": "#1f4e79", "bid": "#2e86c1", "offer": "#e67e22", "traded": "#27ae60",
    "delivered": "#34495e", "sold": "#f1c40f", "bought": "#5dade2", "voltage": "#8e44ad",
    "loading": "#16a085", "limit": "#c0392b", "curtailed": "#e74c3c", "rejected": "#7f8c8d",
    "commit": "#2c3e50", "neutral": "#2980b9", "unbalance": "#d35400",
}
PHASE_COLORS = {"a": "#8b4513", "b": "#222222", "c": "#95a5a6"}  # IEC 60445: L1, L2, L3
PHASE_BANDS = tuple((f"vm_min_{p}_pu", f"vm_max_{p}_pu") for p in PHASE_NAMES)
HOME_DELIVERED = ("delivered_sold_kwh", "delivered_bought_kwh")


@dataclass(frozen=True)
class Drawn:
    """One figure: its file, or a note on why there is none."""

    title: str
    image: str | None = None
    note: str = ""


def draw(run: RunFolder, cut: Curtailment, spread: HomeSpread, out: Path) -> list[Drawn]:
    """Every figure into ``out``; a figure no longer drawn loses its stale file."""
    intervals = _by_time(run.tables[INTERVALS.name])
    drawn = [
        _market_section(intervals, run.summary, out),
        _homes_section(run.tables[HOMES.name], spread, out),
        _grid_section(intervals, run.summary, out),
        _curtailment_section(run.tables[TRADES.name], cut, out),
        _measurements_section(run.tables[MEASUREMENTS.name], out),
        _ledger_section(intervals, run.summary, out),
    ]
    for stale in set(PLOTS) - {d.image for d in drawn}:
        (out / stale).unlink(missing_ok=True)
    return drawn


def _by_time(intervals: Table) -> Table:
    if isinstance(intervals, str):
        return intervals
    return intervals.sort_values("interval_start").set_index("interval_start")




def _per_period(intervals: pd.DataFrame, summary: dict) -> tuple[pd.DataFrame, pd.Timedelta, str]:
    """Intervals as they are, or per day for long runs: (frame, period length, period word)."""
    step = _interval_length(intervals, summary)
    span = intervals.index[-1] - intervals.index[0] + step
    if span <= pd.Timedelta(days=DAILY_AFTER_DAYS):
        frame = intervals.assign(price_low=intervals["clearing_price"],
                                 price_high=intervals["clearing_price"])
        return frame, step, "interval"
    days = intervals.resample("1D")
    frame = pd.DataFrame({
        "clearing_price": days["clearing_price"].mean(),
        "price_low": days["clearing_price"].min(),
        "price_high": days["clearing_price"].max(),
        **{c: days[c].sum(min_count=1) for c in ("bid_kwh", "offer_kwh", "traded_kwh",
                                                 "delivered_kwh")},
        "vm_min_pu": days["vm_min_pu"].min(),
        "vm_max_pu": days["vm_max_pu"].max(),
        **{c: days[c].min() for low, _ in PHASE_BANDS for c in (low,) if c in intervals},
        **{c: days[c].max() for _, high in PHASE_BANDS for c in (high,) if c in intervals},
        **{c: days[c].max() for c in ("vuf_max_percent", "neutral_loading_max_percent")
           if c in intervals},
        "max_line_loading_percent": days["max_line_loading_percent"].max(),
        **{c: days[c].max() for c in ("commit_latency_max_ms",) if c in intervals.columns},
    })
    return frame, pd.Timedelta(days=1), "day"


def _interval_length(intervals: pd.DataFrame, summary: dict) -> pd.Timedelta:
    seconds = summary.get("interval_s")
    if _is_number(seconds) and seconds > 0:
        return pd.Timedelta(seconds=seconds)
    gaps = intervals.index.to_series().diff().dropna()
    return gaps.median() if not gaps.empty else pd.Timedelta(minutes=15)


def _held(frame: pd.DataFrame, column: str, step: pd.Timedelta) -> tuple[list, list]:
    """Period starts plus the last period's end, each value held to the next start."""
    return [*frame.index, frame.index[-1] + step], [*frame[column], frame[column].iloc[-1]]


def _steps(ax, frame: pd.DataFrame, column: str, step: pd.Timedelta, **style) -> None:
    ax.step(*_held(frame, column, step), where="post", **style)


def _band(ax, frame: pd.DataFrame, low: str, high: str, step: pd.Timedelta, **style) -> None:
    x, lows = _held(frame, low, step)
    ax.fill_between(x, lows, _held(frame, high, step)[1], step="post", **style)


def _time_axis(ax, frame: pd.DataFrame, step: pd.Timedelta) -> None:
    """The run's span on a readable UTC date axis (also when nothing was drawn)."""
    import matplotlib.dates as mdates

    ax.set_xlim(frame.index[0], frame.index[-1] + step)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=DPI)
    return name


def _market_section(intervals: pd.DataFrame | str, summary: dict, out: Path) -> Drawn:
    title = "Clearing price and volumes"
    if isinstance(intervals, str):
        return Drawn(title, note=intervals)
    frame, step, period = _per_period(intervals, summary)
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    price_ax, volume_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.4])
    if frame["clearing_price"].notna().any():
        label = "clearing price" if period == "interval" else "daily mean clearing price"
        _steps(price_ax, frame, "clearing_price", step, color=COLORS["price"], label=label)
        if period == "day":
            _band(price_ax, frame, "price_low", "price_high", step, color=COLORS["price"],
                  alpha=0.2, label="daily range")
        _legend(price_ax)
    else:
        _no_data(price_ax, "no interval cleared")
    price_ax.set_ylabel("price per kWh")
    price_ax.set_title(f"Market clearing per {period}")
    price_ax.grid(alpha=0.3)
    for column, label, color, style in (
        ("bid_kwh", "bids", "bid", "--"), ("offer_kwh", "offers", "offer", "--"),
        ("traded_kwh", "traded", "traded", "-"), ("delivered_kwh", "delivered", "delivered", "-"),
    ):
        _steps(volume_ax, frame, column, step, color=COLORS[color], linestyle=style,
               linewidth=1.8 if style == "-" else 1.2, label=label)
    volume_ax.set_ylabel(f"kWh per {period}")
    volume_ax.set_ylim(bottom=0)
    volume_ax.grid(alpha=0.3)
    volume_ax.legend(loc="upper left", fontsize="small", ncols=4)
    _time_axis(volume_ax, frame, step)
    return Drawn(title, _save(fig, out, MARKET_PNG))


def _homes_section(homes: pd.DataFrame | str, spread: HomeSpread, out: Path) -> Drawn:
    title = "Energy sold and bought per home"
    if isinstance(homes, str):
        return Drawn(title, note=homes)
    if len(homes) > PER_HOME_MAX_HOMES:
        return _homes_spread(homes, spread, out)
    x = np.arange(len(homes))
    fig = Figure(figsize=(max(8.0, 0.3 * len(homes) + 2.5), 5.5), layout="constrained")
    ax = fig.subplots()
    hatch = ["//" if physical else "" for physical in homes["physical"]]
    handles = []
    for column, sign, color, label in (("sold_kwh", 1, COLORS["sold"], "sold (contracted)"),
                                       ("bought_kwh", -1, COLORS["bought"], "bought (contracted)")):
        ax.bar(x, sign * homes[column], 0.8, color=color, hatch=hatch, edgecolor="0.3",
               linewidth=0.5)
        handles.append(Patch(facecolor=color, edgecolor="0.3", label=label))
    if all(column in homes.columns for column in HOME_DELIVERED):
        for column, sign, color, label in (
            ("delivered_sold_kwh", 1, "#b7950b", "sold (delivered)"),
            ("delivered_bought_kwh", -1, "#21618c", "bought (delivered)"),
        ):
            ax.bar(x, sign * homes[column], 0.35, color=color)
            handles.append(Patch(facecolor=color, label=label))
    ax.axhline(0, color="0.2", linewidth=0.8)
    ax.set_xticks(x, homes["home"], rotation=90 if len(homes) > 12 else 0)
    for label, physical in zip(ax.get_xticklabels(), homes["physical"]):
        if physical:
            label.set_fontweight("bold")
            label.set_color(COLORS["limit"])
    if homes["physical"].any():
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="//",
                             label="physical home (bench instruments, red label)"))
    ax.legend(handles=handles, loc="best", fontsize="small")
    ax.set_ylabel("kWh  (sold up, bought down)")
    ax.set_title("Energy sold and bought per home")
    ax.grid(axis="y", alpha=0.3)
    return Drawn(title, _save(fig, out, HOMES_PNG))


def _homes_spread(homes: pd.DataFrame, spread: HomeSpread, out: Path) -> Drawn:
    """Many homes: the quantiles over the homes of what each traded per interval, each
    home's totals sorted, and the homes the grid cut most, by name."""
    title = f"Energy sold and bought: the distribution over {len(homes):,} homes"
    record = spread.as_record()
    fig = Figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplot_mosaic([["band", "band"], ["sorted", "worst"]], width_ratios=[3, 1])
    band_ax, sorted_ax, worst_ax = axes["band"], axes["sorted"], axes["worst"]
    if record["interval_start"]:
        x = pd.to_datetime(record["interval_start"], unit="ms", utc=True)
        q, marks = record["net_sold_kwh"], QUANTILES_PERCENT
        mid = len(marks) // 2
        for i in range(mid):
            band_ax.fill_between(x, q[i], q[-1 - i], step="post", color=COLORS["traded"],
                                 alpha=0.2 + 0.2 * i, label=f"p{marks[i]} to p{marks[-1 - i]}")
        band_ax.step(x, q[mid], where="post", color=COLORS["delivered"],
                     label=f"median (p{marks[mid]})")
        band_ax.axhline(0, color="0.2", linewidth=0.8)
        _legend(band_ax)
    else:
        _no_data(band_ax, "no trades")
    band_ax.set_ylabel("kWh per home per interval")
    band_ax.set_title("Net energy each home sold per interval (bought: negative), over the homes")
    band_ax.grid(alpha=0.3)
    share = np.linspace(0, 100, len(homes))
    for column, color in (("sold_kwh", COLORS["sold"]), ("bought_kwh", COLORS["bought"]),
                          *((c, k) for c, k in zip(HOME_DELIVERED, ("#b7950b", "#21618c"))
                            if c in homes.columns)):
        sorted_ax.plot(share, np.sort(homes[column].to_numpy()), color=color,
                       label=column.replace("_kwh", " (kWh)").replace("_", " "))
    sorted_ax.set_xticks([0, *QUANTILES_PERCENT, 100])
    sorted_ax.set_xlim(0, 100)
    sorted_ax.set_xlabel(f"homes sorted by the value (percent of {len(homes):,})")
    sorted_ax.set_ylabel("kWh over the run")
    sorted_ax.grid(alpha=0.3)
    _legend(sorted_ax)
    sorted_ax.set_title("Each home's total, homes sorted")
    worst = spread.worst_curtailed()
    worst_ax.axis("off")
    worst_ax.set_title("Most kWh not granted by the grid", loc="left", fontsize="medium")
    worst_ax.text(0, 1, "\n".join(f"{home}: {kwh:.3g} kWh" for home, kwh in worst)
                  if worst else "none: every trade was granted in full",
                  va="top", family="monospace", fontsize="small", transform=worst_ax.transAxes)
    return Drawn(title, _save(fig, out, HOMES_PNG))


def _grid_section(intervals: pd.DataFrame | str, summary: dict, out: Path) -> Drawn:
    title = "Feeder voltage envelope and line loading"
    if isinstance(intervals, str):
        return Drawn(title, note=intervals)
    frame, step, period = _per_period(intervals, summary)
    phased = all(c in frame for band in PHASE_BANDS for c in band) and frame[
        [c for band in PHASE_BANDS for c in band]].notna().any().any()
    fig = Figure(figsize=(10, 9 if phased else 6.5), layout="constrained")
    axes = fig.subplots(3 if phased else 2, 1, sharex=True)
    v_ax, l_ax = axes[0], axes[1]
    if phased:  # each phase's envelope: the balanced one would hide the phase that binds
        for phase, (low, high) in zip(PHASE_NAMES, PHASE_BANDS):
            color = PHASE_COLORS[phase]
            _band(v_ax, frame, low, high, step, color=color, alpha=0.15,
                  label=f"phase {phase} (min to max bus voltage)")
            _steps(v_ax, frame, low, step, color=color, linewidth=1)
            _steps(v_ax, frame, high, step, color=color, linewidth=1)
    elif frame[["vm_min_pu", "vm_max_pu"]].notna().any().any():
        _band(v_ax, frame, "vm_min_pu", "vm_max_pu", step, color=COLORS["voltage"], alpha=0.3,
              label="envelope (min to max bus voltage)")
        _steps(v_ax, frame, "vm_min_pu", step, color=COLORS["voltage"], linewidth=1)
        _steps(v_ax, frame, "vm_max_pu", step, color=COLORS["voltage"], linewidth=1)
    else:
        _no_data(v_ax, "no power flow results")
    limits = voltage_limits(summary)
    if limits:
        low, high = limits
        v_ax.axhline(low, color=COLORS["limit"], linestyle="--",
                     label=f"limits {low:g} / {high:g} pu")
        v_ax.axhline(high, color=COLORS["limit"], linestyle="--")
        _mark(v_ax, frame, (frame["vm_max_pu"] > high) | (frame["vm_min_pu"] < low),
              np.where(frame["vm_max_pu"] > high, frame["vm_max_pu"], frame["vm_min_pu"]), step)
    v_ax.set_ylabel("voltage (pu)")
    v_ax.set_title(f"Feeder voltage envelope per {period}" + (", per phase" if phased else ""))
    v_ax.grid(alpha=0.3)
    _legend(v_ax)

    loading = frame["max_line_loading_percent"]
    if loading.notna().any():
        _steps(l_ax, frame, "max_line_loading_percent", step, color=COLORS["loading"],
               label="highest line loading" + (" (any phase)" if phased else ""))
    else:
        _no_data(l_ax, "no line loading results")
    if phased and frame["neutral_loading_max_percent"].notna().any():
        _steps(l_ax, frame, "neutral_loading_max_percent", step, color=COLORS["neutral"],
               label="highest neutral loading")
    _percent_limit(l_ax, frame, loading, loading_limit(summary), step, "line loading (%)")
    if phased:
        _unbalance(axes[2], frame, summary, step)
    _time_axis(axes[-1], frame, step)
    return Drawn(title, _save(fig, out, GRID_PNG))


def _unbalance(ax, frame: pd.DataFrame, summary: dict, step: pd.Timedelta) -> None:
    """The highest voltage unbalance factor of each period against its limit."""
    vuf = frame["vuf_max_percent"]
    if vuf.notna().any():
        _steps(ax, frame, "vuf_max_percent", step, color=COLORS["unbalance"],
               label="highest voltage unbalance factor |V2| / |V1|")
    _percent_limit(ax, frame, vuf, unbalance_limit(summary), step, "unbalance (%)")


def _percent_limit(ax, frame: pd.DataFrame, values: pd.Series, limit: float | None,
                   step: pd.Timedelta, ylabel: str) -> None:
    """A percentage panel from zero: its limit as a dashed line, the periods above it marked."""
    if limit is not None:
        ax.axhline(limit, color=COLORS["limit"], linestyle="--", label=f"limit {limit:g} %")
        _mark(ax, frame, values > limit, values, step)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend(ax)


def _ledger_section(intervals: pd.DataFrame | str, summary: dict, out: Path) -> Drawn:
    title = "Commit latency"
    column = "commit_latency_max_ms"
    if isinstance(intervals, str):
        return Drawn(title, note=intervals)
    if column not in intervals.columns or intervals[column].isna().all():
        return Drawn(title, note="intervals.csv has no commit latencies (an older run)")
    frame, step, period = _per_period(intervals, summary)
    validators = summary.get("validators")
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax = fig.subplots()
    _steps(ax, frame, column, step, color=COLORS["commit"], label=f"slowest block per {period}")
    ax.set_ylabel("submission to commit (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title("Commit latency" + (f", {validators} validators" if validators else ""))
    ax.grid(alpha=0.3)
    _legend(ax)
    _time_axis(ax, frame, step)
    return Drawn(title, _save(fig, out, LEDGER_PNG))


def voltage_limits(summary: dict) -> tuple[float, float] | None:
    limits = summary.get("vm_limits")
    if isinstance(limits, (list, tuple)) and len(limits) == 2 and all(map(_is_number, limits)):
        return float(limits[0]), float(limits[1])
    return None


def loading_limit(summary: dict) -> float | None:
    limit = summary.get("max_line_loading_limit")
    return float(limit) if _is_number(limit) else None


def unbalance_limit(summary: dict) -> float | None:
    limit = summary.get("vuf_limit_percent")
    return float(limit) if _is_number(limit) else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _legend(ax) -> None:
    """A legend when the axes has labelled artists (an empty one only warns)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")


def _mark(ax, frame: pd.DataFrame, beyond: pd.Series, values, step: pd.Timedelta) -> None:
    """Red crosses at the middle of each period whose value is beyond its limit."""
    if beyond.any():
        x = frame.index[beyond.to_numpy()] + step / 2
        ax.plot(x, np.asarray(values)[beyond.to_numpy()], "x", color=COLORS["limit"],
                markersize=6 if len(frame) <= 100 else 3, label="beyond limit")


def _curtailment_section(trades: Table, cut: Curtailment, out: Path) -> Drawn:
    title = "Curtailed and rejected trades"
    if isinstance(trades, str):
        return Drawn(title, note=trades)
    if not cut.cut:
        return Drawn(title, note=f"none: all {cut.trades} trades were accepted in full")
    table = cut.table()
    fig = Figure(figsize=(11, 5), layout="constrained")
    count_ax, kwh_ax = fig.subplots(1, 2, width_ratios=[1, 1.4])
    kinds = sorted({e.kind for e in table})
    left = np.zeros(len(kinds))
    for state in ("curtailed", "rejected"):
        counts = np.array([sum(getattr(e, state) for e in table if e.kind == kind)
                           for kind in kinds])
        if counts.any():
            count_ax.barh(kinds, counts, 0.6, left=left, color=COLORS[state], label=state)
            left += counts
    count_ax.invert_yaxis()
    count_ax.set_xlabel("trades")
    count_ax.set_title("Trades cut, by constraint")
    count_ax.legend(fontsize="small")
    count_ax.grid(axis="x", alpha=0.3)

    top = table[:TOP_ELEMENTS]
    palette = dict(zip(kinds, _kind_colors(len(kinds))))
    kwh_ax.barh([f"{e.element}\n({e.kind})" for e in top], [e.lost_kwh for e in top], 0.6,
                color=[palette[e.kind] for e in top])
    kwh_ax.invert_yaxis()
    kwh_ax.set_xlabel("kWh not granted")
    kwh_ax.set_title(f"Energy cut, top {len(top)} limiting elements")
    kwh_ax.tick_params(axis="y", labelsize="small")
    kwh_ax.grid(axis="x", alpha=0.3)
    lost = sum(e.lost_kwh for e in table)
    fig.suptitle(f"{cut.cut} of {cut.trades} trades cut, {lost:.3g} kWh not granted")
    return Drawn(title, _save(fig, out, CURTAILMENT_PNG))


def _kind_colors(count: int) -> list:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(count)]


def _measurements_section(measurements: pd.DataFrame | str, out: Path) -> Drawn:
    title = "Physical devices (control-step measurements)"
    if isinstance(measurements, str):
        return Drawn(title, note=measurements)
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    p_ax, v_ax = fig.subplots(2, 1, sharex=True)
    for device, rows in measurements.groupby("device", sort=True):
        rows = rows.sort_values("time_s")
        rows = rows.iloc[:: max(1, math.ceil(len(rows) / MAX_POINTS_PER_DEVICE))]
        p_ax.plot(rows["time_s"], rows["p_kw"], linewidth=1, label=device)
        v_ax.plot(rows["time_s"], rows["v_v"], linewidth=1, label=device)
    p_ax.set_ylabel("P (kW)")
    p_ax.set_title("Measured active power and voltage of the physical devices")
    p_ax.legend(loc="upper left", fontsize="small")
    v_ax.set_ylabel("voltage (V)")
    v_ax.set_xlabel("time since start (s)")
    for ax in (p_ax, v_ax):
        ax.grid(alpha=0.3)
    return Drawn(title, _save(fig, out, MEASUREMENTS_PNG))


