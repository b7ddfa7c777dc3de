"""`testbed study GRID`: a feeder's year (or N days) of profiles through the batch power flow.

Reports, per interval, the voltage and loading violations; the elements violated most often and
their worst values; and each bus's PV hosting capacity. Printed as tables, written as CSV (and
Parquet when pyarrow is installed) into ``--out``. ``phases="unbalanced"`` solves the feeder
unbalanced, each load on a phase drawn by ``seed`` (`grid_models.unbalanced.draw_phases`), and
adds each phase's voltage extremes, the neutral's loading and the unbalance factor.

Hosting capacity of a bus: the extra PV (MW at unity power factor, at full output) that the bus
can take before the first violation of any limit, checked in the studied period's
``HOSTING_INTERVALS`` intervals of lowest net demand, the standard worst case for PV. Found by
doubling then bisection, all buses and intervals in one batch per step; the PV is
three-phase (larger than any single-phase unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from grid_models.errors import GridModelError
from grid_models.feeders import PROFILE_START_S, STEP_MINUTES, Feeder, load_feeder
from grid_models.phases import PHASE_NAMES, PHASE_SETTINGS, draw_phases
from grid_models.powerflow import Model, Result, element_injections, solve_injections
from grid_models.unbalanced import UnbalancedResult
from grid_models.violations import (
    DEFAULT_LIMITS,
    ELEMENT_KINDS,
    Limits,
    checks,
    count_violations,
)

PROFILE_START = pd.Timestamp(PROFILE_START_S, unit="s")
STEPS_PER_DAY = 24 * 60 // STEP_MINUTES
HOSTING_INTERVALS = 8
_HOSTING_START_MW = 0.01
_HOSTING_DOUBLINGS = 14  # up to 0.01 * 2**14 = 164 MW: past any LV or MV feeder
_HOSTING_BISECTIONS = 14


@dataclass(frozen=True)
class StudyReport:
    feeder: str
    intervals: pd.DataFrame  # one row per interval
    elements: pd.DataFrame  # one row per element violated at least once, most often first
    hosting: pd.DataFrame  # one row per bus, lowest capacity first


def main(grid: str, days: int | None, out: Path | None, phases: str = "balanced",
         seed: int = 0) -> int:
    """CLI entry: run the study, print it, write the tables; exit code 0."""
    if phases not in PHASE_SETTINGS:
        raise GridModelError(f"phases: one of {', '.join(PHASE_SETTINGS)}, got {phases!r}")
    feeder = load_feeder(grid)
    if phases == "unbalanced":
        feeder = feeder.with_phases(draw_phases(np.random.default_rng(seed), len(feeder.net.load)))
    report = run_study(feeder, days)
    print_report(report, Console())
    if out is not None:
        for path in write_report(report, Path(out)):
            Console().print(f"wrote {path}")
    return 0


def run_study(
    feeder: Feeder, days: int | None = None, limits: Limits = DEFAULT_LIMITS
) -> StudyReport:
    """Solve the first ``days`` days of the feeder's profiles (all of them when None)."""
    if days is not None and days < 1:
        raise GridModelError(f"days must be at least 1, got {days}")
    steps = (
        feeder.profiles.steps if days is None else min(days * STEPS_PER_DAY, feeder.profiles.steps)
    )
    arrays = feeder.profiles.head(steps).arrays()
    model = feeder.model
    s = element_injections(model, *arrays)
    result = solve_injections(model, s)
    return StudyReport(
        feeder=feeder.name,
        intervals=_intervals(result, limits),
        elements=_elements(model, result, limits),
        hosting=_hosting(model, s[_lowest_demand(arrays)], limits),
    )


def _intervals(result: Result, limits: Limits) -> pd.DataFrame:
    steps = np.arange(len(result.converged))
    counts = count_violations(result, limits)

    def flat(values: np.ndarray) -> np.ndarray:
        return values.reshape(len(values), -1)

    vm = flat(result.vm_pu)
    phased = {}
    if isinstance(result, UnbalancedResult):
        for p, name in enumerate(PHASE_NAMES):
            phased[f"vm_min_{name}_pu"] = _nan_reduce(np.nanmin, result.vm_pu[:, p])
            phased[f"vm_max_{name}_pu"] = _nan_reduce(np.nanmax, result.vm_pu[:, p])
        phased["vuf_max_percent"] = _nan_reduce(np.nanmax, result.vuf_percent)
        phased["neutral_loading_max_percent"] = _nan_reduce(
            np.nanmax, result.neutral_loading_percent)
    with np.errstate(invalid="ignore"):
        return pd.DataFrame(
            {
                "step": steps,
                "time": PROFILE_START + pd.to_timedelta(steps * STEP_MINUTES, unit="min"),
                "converged": result.converged,
                "vm_min_pu": _nan_reduce(np.nanmin, vm),
                "vm_max_pu": _nan_reduce(np.nanmax, vm),
                **phased,
                "max_line_loading_percent": _nan_reduce(
                    np.nanmax, flat(result.line_loading_percent)),
                "max_trafo_loading_percent": _nan_reduce(
                    np.nanmax, flat(result.trafo_loading_percent)),
                "max_trafo3w_loading_percent": _nan_reduce(
                    np.nanmax, result.trafo3w_loading_percent
                ),
                **{kind: counts[kind] for kind in ELEMENT_KINDS},
            }
        )


def _nan_reduce(reduce, values: np.ndarray) -> np.ndarray:
    """Row-wise reduction that gives NaN (without a warning) for all-NaN or empty rows."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    finite = ~np.isnan(values).all(axis=1)
    out = np.full(values.shape[0], np.nan)
    out[finite] = reduce(values[finite], axis=1)
    return out


def _elements(model: Model, result: Result, limits: Limits) -> pd.DataFrame:
    rows = []
    for check in checks(result, limits):
        excess = np.nan_to_num(check.sign * (check.values - check.limit), nan=-np.inf)
        for j in np.flatnonzero((excess > 0).any(axis=0)):
            worst = int(np.argmax(excess[:, j]))
            rows.append(
                {
                    "element": check.name(model, j, worst),
                    "kind": check.kind,
                    "intervals": int((excess[:, j] > 0).sum()),
                    "worst_value": float(check.values[worst, j]),
                    "limit": check.limit,
                    "worst_step": worst,
                }
            )
    columns = ["element", "kind", "intervals", "worst_value", "limit", "worst_step"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["intervals", "element"], ascending=[False, True], ignore_index=True)


def _lowest_demand(arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    """The intervals of lowest net demand (load minus PV), ascending step order, from the
    profiles' arrays."""
    load_p_mw, _, sgen_p_mw, _ = arrays
    net_demand = load_p_mw.sum(axis=1) - sgen_p_mw.sum(axis=1)
    count = min(HOSTING_INTERVALS, len(net_demand))
    return np.sort(np.argsort(net_demand, kind="stable")[:count])


def _hosting(model: Model, s_worst: np.ndarray, limits: Limits) -> pd.DataFrame:
    buses = np.array(sorted(model.bus_pos), dtype=np.int64)
    columns = [model.columns(model.bus_pos[int(b)]) for b in buses]  # three-phase PV
    cols = np.array([c for c, _ in columns], dtype=np.int64).reshape(len(buses), -1)
    shares = np.array([w for _, w in columns]).reshape(len(buses), -1)
    n_int = s_worst.shape[0]

    def violates(extra_mw: np.ndarray) -> np.ndarray:
        s = np.tile(s_worst, (len(buses), 1))
        rows = np.arange(len(buses) * n_int)
        for w in range(cols.shape[1]):
            s[rows, np.repeat(cols[:, w], n_int)] += (
                np.repeat(extra_mw * shares[:, w], n_int) / model.base_mva)
        result = solve_injections(model, s)
        bad = sum(count_violations(result, limits).values()) > 0
        return bad.reshape(len(buses), n_int).any(axis=1)

    low = np.zeros(len(buses))
    high = np.full(len(buses), _HOSTING_START_MW)
    bounded = violates(high)
    for _ in range(_HOSTING_DOUBLINGS):
        if bounded.all():
            break
        low = np.where(bounded, low, high)
        high = np.where(bounded, high, 2 * high)
        bounded = violates(high)
    base_ok = ~violates(np.zeros(len(buses)))
    for _ in range(_HOSTING_BISECTIONS):
        middle = (low + high) / 2
        bad = violates(middle)
        low, high = np.where(bad, low, middle), np.where(bad, middle, high)
    capacity = np.where(base_ok, np.where(bounded, low, np.inf), 0.0)
    frame = pd.DataFrame({"bus": buses, "hosting_capacity_kw": np.round(capacity * 1000, 1)})
    return frame.sort_values(["hosting_capacity_kw", "bus"], ignore_index=True)


def print_report(report: StudyReport, console: Console) -> None:
    """Summary, the most violated elements and the weakest buses, as rich tables."""
    iv = report.intervals
    summary = Table(title=f"study of {report.feeder}: {len(iv)} x {STEP_MINUTES} min")
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    rows = [
        ("not converged", int((~iv["converged"]).sum())),
        *(
            (f"intervals with {kind.replace('_', ' ')} violations", int((iv[kind] > 0).sum()))
            for kind in ELEMENT_KINDS
        ),
        ("lowest voltage (pu)", f"{iv['vm_min_pu'].min():.4f}"),
        ("highest voltage (pu)", f"{iv['vm_max_pu'].max():.4f}"),
        ("highest line loading (%)", f"{iv['max_line_loading_percent'].max():.1f}"),
        ("highest transformer loading (%)", f"{iv['max_trafo_loading_percent'].max():.1f}"),
    ]
    if "vuf_max_percent" in iv:
        rows += [
            *((f"phase {p} voltage range (pu)",
               f"{iv[f'vm_min_{p}_pu'].min():.4f} - {iv[f'vm_max_{p}_pu'].max():.4f}")
              for p in PHASE_NAMES),
            ("highest voltage unbalance (%)", f"{iv['vuf_max_percent'].max():.2f}"),
            ("highest neutral loading (%)", f"{iv['neutral_loading_max_percent'].max():.1f}"),
        ]
    for name, value in rows:
        summary.add_row(name, str(value))
    console.print(summary)
    console.print(_frame_table("most violated elements", report.elements.head(10)))
    console.print(_frame_table("lowest PV hosting capacity", report.hosting.head(10)))


def _frame_table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    if frame.empty:
        table.caption = "none"
    return table


def write_report(report: StudyReport, out: Path) -> list[Path]:
    """CSV files (and Parquet ones when pyarrow is available) in ``out``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GridModelError(f"cannot create output folder {out}: {exc.strerror}") from None
    try:
        import pyarrow  # noqa: F401

        parquet = True
    except ImportError:
        parquet = False
    written = []
    for name, frame in (
        ("intervals", report.intervals),
        ("elements", report.elements),
        ("hosting_capacity", report.hosting),
    ):
        written.append(out / f"{name}.csv")
        frame.to_csv(written[-1], index=False)
        if parquet:
            written.append(out / f"{name}.parquet")
            frame.to_parquet(written[-1], index=False)
    return written
