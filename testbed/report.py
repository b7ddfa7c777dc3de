"""A run's report: PNG plots and one self-contained HTML page, rebuilt from the run folder.

Reads the files the loop writes (summary.json, intervals.csv, trades.csv, homes.csv,
measurements.csv; format in the run-folder notes) and writes `report/` beside them. Only
summary.json is required: a missing or empty CSV leaves its plot out with a note saying why.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from testbed.errors import InputError

REPORT_DIR = "report"
INDEX = "index.html"
MARKET_PNG = "market.png"
HOMES_PNG = "homes.png"
GRID_PNG = "grid.png"
CURTAILMENT_PNG = "curtailment.png"
MEASUREMENTS_PNG = "measurements.png"
PLOTS = (MARKET_PNG, HOMES_PNG, GRID_PNG, CURTAILMENT_PNG, MEASUREMENTS_PNG)

DPI = 110
DAILY_AFTER_DAYS = 3  # longer runs are plotted per day so a year stays readable
TOP_ELEMENTS = 10  # bars in the curtailment plot
TOP_TABLE_ROWS = 15  # rows in the curtailment table
MAX_POINTS_PER_DEVICE = 5000  # measurements are thinned beyond this for plotting
COLORS = {
    "price": "#1f4e79", "bid": "#2e86c1", "offer": "#e67e22", "traded": "#27ae60",
    "delivered": "#34495e", "sold": "#f1c40f", "bought": "#5dade2", "voltage": "#8e44ad",
    "loading": "#16a085", "limit": "#c0392b", "curtailed": "#e74c3c", "rejected": "#7f8c8d",
}

# summary.json keys in reading order, with the label shown for each.
SUMMARY_LABELS = {
    "scenario": "Scenario",
    "start": "Start (UTC)",
    "interval_s": "Market interval (s)",
    "participants": "Participants",
    "intervals": "Intervals",
    "orders": "Orders",
    "trades": "Trades",
    "energy_traded_kwh": "Energy traded (kWh)",
    "energy_delivered_kwh": "Energy delivered (kWh)",
    "energy_curtailed_kwh": "Energy curtailed (kWh)",
    "price_min": "Price min (per kWh)",
    "price_mean": "Price mean (per kWh)",
    "price_max": "Price max (per kWh)",
    "payments_total": "Payments total",
    "money_conservation_error": "Money conservation error",
    "blocks": "Blocks",
    "ledger_valid": "Ledger valid",
    "vm_min_pu": "Voltage min (pu)",
    "vm_max_pu": "Voltage max (pu)",
    "vm_limits": "Voltage limits (pu)",
    "max_line_loading_percent": "Max line loading (%)",
    "max_line_loading_limit": "Line loading limit (%)",
    "step_jitter_p50_ms": "Step jitter p50 (ms)",
    "step_jitter_p99_ms": "Step jitter p99 (ms)",
    "deadline_misses": "Deadline misses",
}

INTERVAL_NUMBERS = (
    "clearing_price", "bid_kwh", "offer_kwh", "traded_kwh", "delivered_kwh",
    "vm_min_pu", "vm_max_pu", "max_line_loading_percent",
)
TRADE_NUMBERS = ("energy_kwh", "granted_kwh", "constraint_value", "constraint_limit")
TRADE_TEXT = ("status", "constraint_kind", "constraint_element")
HOME_NUMBERS = ("sold_kwh", "bought_kwh")
HOME_DELIVERED = ("delivered_sold_kwh", "delivered_bought_kwh")
MEASUREMENT_NUMBERS = ("time_s", "p_kw", "v_v")
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no", ""}


@dataclass(frozen=True)
class Section:
    """One block of the page: a plot (or a note on why there is none) and optional HTML."""

    title: str
    image: str | None = None
    note: str = ""
    table_html: str = ""


def build_report(run_dir: Path) -> Path:
    """Write the plots and index.html into run_dir/report/ and return the index's path."""
    run_dir = Path(run_dir)
    summary = _read_summary(run_dir)
    intervals = _read_intervals(run_dir)
    trades = _read_csv(run_dir, "trades.csv", TRADE_TEXT, TRADE_NUMBERS)
    homes = _read_homes(run_dir)
    measurements = _read_csv(run_dir, "measurements.csv", ("device",), MEASUREMENT_NUMBERS)

    out = run_dir / REPORT_DIR
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder: move it to build the report")
    out.mkdir(exist_ok=True)
    sections = [
        _market_section(intervals, summary, out),
        _homes_section(homes, out),
        _grid_section(intervals, summary, out),
        _curtailment_section(trades, out),
        _measurements_section(measurements, out),
    ]
    drawn = {section.image for section in sections}
    for stale in set(PLOTS) - drawn:
        (out / stale).unlink(missing_ok=True)
    index = out / INDEX
    index.write_text(_page(run_dir, summary, sections), encoding="utf-8")
    return index


# ---------------------------------------------------------------- reading the run folder


def _read_summary(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise InputError(f"not a run folder: {run_dir} is not a directory")
    path = run_dir / "summary.json"
    if not path.is_file():
        raise InputError(f"not a run folder: {run_dir} has no summary.json")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({_one_line(exc)})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(summary).__name__}")
    return summary


def _read_csv(
    run_dir: Path, name: str, text: tuple[str, ...], numbers: tuple[str, ...]
) -> pd.DataFrame | str:
    """The file as a frame with `numbers` as floats (empty cell: NaN), or a note if absent."""
    path = run_dir / name
    if not path.is_file():
        return f"no {name} in the run folder"
    if path.stat().st_size == 0:
        return f"{name} is empty"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable CSV ({_one_line(exc)})") from None
    missing = [column for column in (*text, *numbers) if column not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in numbers:
        frame[column] = _numbers(frame[column], path, column)
    return frame


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


def _read_intervals(run_dir: Path) -> pd.DataFrame | str:
    frame = _read_csv(run_dir, "intervals.csv", ("interval_start",), INTERVAL_NUMBERS)
    if isinstance(frame, str):
        return frame
    if frame.empty:
        return "intervals.csv has no rows"
    frame["interval_start"] = _times(frame["interval_start"], run_dir / "intervals.csv",
                                     "interval_start")
    return frame.sort_values("interval_start").set_index("interval_start")


def _read_homes(run_dir: Path) -> pd.DataFrame | str:
    frame = _read_csv(run_dir, "homes.csv", ("home", "physical"), HOME_NUMBERS)
    if isinstance(frame, str):
        return frame
    if frame.empty:
        return "homes.csv has no rows"
    words = frame["physical"].str.strip().str.lower()
    unknown = ~words.isin(TRUE_WORDS | FALSE_WORDS)
    if unknown.any():
        row = int(unknown.to_numpy().argmax())
        raise InputError(f"{run_dir / 'homes.csv'}: line {row + 2}: physical must be true or "
                        f"false, not {frame['physical'].iloc[row]!r}")
    frame["physical"] = words.isin(TRUE_WORDS)
    for column in HOME_DELIVERED:
        if column in frame.columns:
            frame[column] = _numbers(frame[column], run_dir / "homes.csv", column)
    return frame


# ---------------------------------------------------------------- plots


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
        "max_line_loading_percent": days["max_line_loading_percent"].max(),
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


def _market_section(intervals: pd.DataFrame | str, summary: dict, out: Path) -> Section:
    title = "Clearing price and volumes"
    if isinstance(intervals, str):
        return Section(title, note=intervals)
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
    return Section(title, _save(fig, out, MARKET_PNG))


def _homes_section(homes: pd.DataFrame | str, out: Path) -> Section:
    title = "Energy sold and bought per home"
    if isinstance(homes, str):
        return Section(title, note=homes)
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
    return Section(title, _save(fig, out, HOMES_PNG))


def _grid_section(intervals: pd.DataFrame | str, summary: dict, out: Path) -> Section:
    title = "Feeder voltage envelope and line loading"
    if isinstance(intervals, str):
        return Section(title, note=intervals)
    frame, step, period = _per_period(intervals, summary)
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    v_ax, l_ax = fig.subplots(2, 1, sharex=True)
    if frame[["vm_min_pu", "vm_max_pu"]].notna().any().any():
        _band(v_ax, frame, "vm_min_pu", "vm_max_pu", step, color=COLORS["voltage"], alpha=0.3,
              label="envelope (min to max bus voltage)")
        _steps(v_ax, frame, "vm_min_pu", step, color=COLORS["voltage"], linewidth=1)
        _steps(v_ax, frame, "vm_max_pu", step, color=COLORS["voltage"], linewidth=1)
    else:
        _no_data(v_ax, "no power flow results")
    limits = _voltage_limits(summary)
    if limits:
        low, high = limits
        v_ax.axhline(low, color=COLORS["limit"], linestyle="--",
                     label=f"limits {low:g} / {high:g} pu")
        v_ax.axhline(high, color=COLORS["limit"], linestyle="--")
        _mark(v_ax, frame, (frame["vm_max_pu"] > high) | (frame["vm_min_pu"] < low),
              np.where(frame["vm_max_pu"] > high, frame["vm_max_pu"], frame["vm_min_pu"]), step)
    v_ax.set_ylabel("voltage (pu)")
    v_ax.set_title(f"Feeder voltage envelope per {period}")
    v_ax.grid(alpha=0.3)
    _legend(v_ax)

    loading = frame["max_line_loading_percent"]
    if loading.notna().any():
        _steps(l_ax, frame, "max_line_loading_percent", step, color=COLORS["loading"],
               label="highest line loading")
    else:
        _no_data(l_ax, "no line loading results")
    limit = _loading_limit(summary)
    if limit is not None:
        l_ax.axhline(limit, color=COLORS["limit"], linestyle="--", label=f"limit {limit:g} %")
        _mark(l_ax, frame, loading > limit, loading, step)
    l_ax.set_ylabel("line loading (%)")
    l_ax.set_ylim(bottom=0)
    l_ax.grid(alpha=0.3)
    _legend(l_ax)
    _time_axis(l_ax, frame, step)
    return Section(title, _save(fig, out, GRID_PNG))


def _voltage_limits(summary: dict) -> tuple[float, float] | None:
    limits = summary.get("vm_limits")
    if isinstance(limits, (list, tuple)) and len(limits) == 2 and all(map(_is_number, limits)):
        return float(limits[0]), float(limits[1])
    return None


def _loading_limit(summary: dict) -> float | None:
    limit = summary.get("max_line_loading_limit")
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


def _curtailment_section(trades: pd.DataFrame | str, out: Path) -> Section:
    title = "Curtailed and rejected trades"
    if isinstance(trades, str):
        return Section(title, note=trades)
    if trades.empty:
        return Section(title, note="none: trades.csv has no rows (nothing was traded)")
    trades = trades.assign(status=trades["status"].str.strip().str.lower())
    cut = trades[trades["status"].isin(["curtailed", "rejected"])]
    if cut.empty:
        return Section(title, note=f"none: all {len(trades)} trades were accepted in full")
    cut = cut.assign(
        kind=cut["constraint_kind"].str.strip().replace("", "unspecified"),
        element=cut["constraint_element"].str.strip().replace("", "(none)"),
        lost_kwh=(cut["energy_kwh"] - cut["granted_kwh"].fillna(0)).clip(lower=0),
    )
    fig = Figure(figsize=(11, 5), layout="constrained")
    count_ax, kwh_ax = fig.subplots(1, 2, width_ratios=[1, 1.4])
    counts = cut.groupby(["kind", "status"]).size().unstack(fill_value=0)
    left = np.zeros(len(counts))
    for state in ("curtailed", "rejected"):
        if state in counts.columns:
            count_ax.barh(counts.index, counts[state], 0.6, left=left, color=COLORS[state],
                          label=state)
            left += counts[state].to_numpy()
    count_ax.invert_yaxis()
    count_ax.set_xlabel("trades")
    count_ax.set_title("Trades cut, by constraint")
    count_ax.legend(fontsize="small")
    count_ax.grid(axis="x", alpha=0.3)

    table = _curtailment_table(cut)
    top = table.head(TOP_ELEMENTS)
    kinds = sorted(cut["kind"].unique())
    palette = dict(zip(kinds, _kind_colors(len(kinds))))
    labels = [f"{element}\n({kind})" for kind, element in zip(top["kind"], top["element"])]
    kwh_ax.barh(labels, top["lost_kwh"], 0.6, color=[palette[k] for k in top["kind"]])
    kwh_ax.invert_yaxis()
    kwh_ax.set_xlabel("kWh not granted")
    kwh_ax.set_title(f"Energy cut, top {len(top)} limiting elements")
    kwh_ax.tick_params(axis="y", labelsize="small")
    kwh_ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{len(cut)} of {len(trades)} trades cut, {cut['lost_kwh'].sum():.3g} kWh "
                 "not granted")
    return Section(title, _save(fig, out, CURTAILMENT_PNG), table_html=_table_html(table))


def _kind_colors(count: int) -> list:
    from matplotlib import colormaps

    return [colormaps["tab10"](i % 10) for i in range(count)]


def _curtailment_table(cut: pd.DataFrame) -> pd.DataFrame:
    """Per limiting element: trades cut, kWh not granted, worst value against its limit."""
    rows = []
    for (kind, element), group in cut.groupby(["kind", "element"], sort=False):
        values = group["constraint_value"].dropna()
        worst = (values.min() if kind == "voltage_low" else values.max()) if len(values) else np.nan
        rows.append({
            "kind": kind, "element": element,
            "curtailed": int((group["status"] == "curtailed").sum()),
            "rejected": int((group["status"] == "rejected").sum()),
            "lost_kwh": group["lost_kwh"].sum(),
            "worst_value": worst, "limit": group["constraint_limit"].dropna().max(),
        })
    return pd.DataFrame(rows).sort_values(["lost_kwh", "curtailed", "rejected"],
                                          ascending=False, ignore_index=True)


def _measurements_section(measurements: pd.DataFrame | str, out: Path) -> Section:
    title = "Physical devices (control-step measurements)"
    if isinstance(measurements, str):
        return Section(title, note=measurements)
    if measurements.empty:
        return Section(title, note="measurements.csv has no rows")
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
    return Section(title, _save(fig, out, MEASUREMENTS_PNG))


# ---------------------------------------------------------------- the page


PAGE_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f3f6; }
code { color: #555; font-size: 0.85em; }
.bad { color: #c0392b; font-weight: bold; }
.note { color: #666; font-style: italic; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def _page(run_dir: Path, summary: dict, sections: list[Section]) -> str:
    name = html.escape(str(summary.get("scenario", run_dir.name)))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Run report: {name}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>Run report: {name}</h1>",
        f"<p>Run folder <code>{html.escape(str(run_dir.resolve()))}</code>.</p>",
        "<h2>Summary</h2>",
        _summary_html(summary),
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.image:
            parts.append(f'<p><img src="{section.image}" alt="{html.escape(section.title)}"></p>')
        if section.note:
            parts.append(f'<p class="note">{html.escape(section.note)}</p>')
        parts.append(section.table_html)
    parts.append(_files_html(run_dir))
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part) + "\n"


def _summary_html(summary: dict) -> str:
    keys = [k for k in SUMMARY_LABELS if k in summary] + [
        k for k in summary if k not in SUMMARY_LABELS]
    rows = []
    for key in keys:
        value = summary[key]
        classes = [name for name, on in (("num", isinstance(value, (int, float))),
                                         ("bad", _alarming(key, value, summary))) if on]
        td = f'<td class="{" ".join(classes)}">' if classes else "<td>"
        label = html.escape(SUMMARY_LABELS.get(key, key))
        rows.append(f"<tr><th>{label} <code>{html.escape(key)}</code></th>"
                    f"{td}{html.escape(_show(value))}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _alarming(key: str, value: object, summary: dict) -> bool:
    """True for figures a reader should not miss: an invalid ledger, a limit exceeded."""
    if not isinstance(value, (int, float)):
        return False
    limits = _voltage_limits(summary)
    loading_limit = _loading_limit(summary)
    return (
        (key == "ledger_valid" and value is False)
        or (key == "vm_min_pu" and limits is not None and value < limits[0])
        or (key == "vm_max_pu" and limits is not None and value > limits[1])
        or (key == "max_line_loading_percent" and loading_limit is not None
            and value > loading_limit)
    )


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return " / ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table_html(table: pd.DataFrame) -> str:
    shown = table.head(TOP_TABLE_ROWS)
    head = ("<tr><th>constraint</th><th>element</th><th>curtailed</th><th>rejected</th>"
            "<th>kWh not granted</th><th>worst value</th><th>limit</th></tr>")
    rows = [
        f"<tr><td>{html.escape(r.kind)}</td><td>{html.escape(r.element)}</td>"
        f'<td class="num">{r.curtailed}</td><td class="num">{r.rejected}</td>'
        f'<td class="num">{r.lost_kwh:.4g}</td><td class="num">{_cell(r.worst_value)}</td>'
        f'<td class="num">{_cell(r.limit)}</td></tr>'
        for r in shown.itertuples()
    ]
    caption = (f"<p>Top {len(shown)} of {len(table)} limiting elements, by energy not granted."
               "</p>")
    return caption + "\n<table>\n" + head + "\n" + "\n".join(rows) + "\n</table>"


def _cell(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.4g}"


def _files_html(run_dir: Path) -> str:
    files = sorted(p for p in run_dir.iterdir() if p.is_file())
    items = [f'<li><a href="../{html.escape(p.name)}">{html.escape(p.name)}</a> '
             f"({p.stat().st_size:,} bytes)</li>" for p in files]
    return "<h2>Files in the run folder</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
