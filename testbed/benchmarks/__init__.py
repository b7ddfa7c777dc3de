"""Benchmarks: `testbed bench NAME` runs module `testbed.benchmarks.NAME`.

Each module exposes ``run(quick: bool = False) -> BenchResult``. Baselines run in the same
process, on the same inputs, in the same run; ratios are named ``<ours>_vs_<baseline>`` and
above 1 means ours is faster. The machine that ran them (its CPU model, the CPU flags that
change which kernel code runs, its load average) and when and from which commit they ran go
with every JSON result; `testbed.benchmarks._markdown` turns such results into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import pkgutil
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testbed.scenario import Scenario


@dataclass(frozen=True)
class BenchResult:
    benchmark: str
    results: dict[str, float]
    ratios: dict[str, float]
    notes: list[str] = field(default_factory=list)
    auto_backends: dict[str, str] = field(default_factory=dict)  # kernel function: its "auto"


def names() -> list[str]:
    """The benchmarks: the modules of this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def machine() -> dict[str, object]:
    """What ran the benchmark, so figures can be compared across machines."""
    from kernels.cpu_info import cpu_flags, cpu_model, llvm_cpu

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "llvm_cpu": llvm_cpu(),
        "cpu_flags": cpu_flags(),
        "cpus": os.cpu_count(),
        # The machine may be shared: 1, 5 and 15 minute load averages as the result is written.
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def measured(quick: bool) -> dict[str, object]:
    """When and from which code a result was measured, and whether on the quick inputs."""
    return {"date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), "commit": _commit(),
            "quick": quick}


def _commit() -> str:
    """The checkout's commit (short), "+dirty" when it has uncommitted changes; "unknown"
    outside a git checkout."""
    here = Path(__file__).parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short=10", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def ledger_file_bytes(out: Path, scenario: Scenario) -> int:
    """The size of a finished run's ledger file (settled: the file alone is the ledger), as
    stored: blocks packed, SQLite's pages included."""
    return (out / scenario.ledger.path).stat().st_size


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def to_json(result: BenchResult, quick: bool = False) -> dict[str, object]:
    """The JSON object of a result: what `--json` prints and docs/benchmarks.md is made of."""
    content: dict[str, object] = {
        "benchmark": result.benchmark,
        "machine": machine(),
        "measured": measured(quick),
        "results": result.results,
        "ratios": result.ratios,
    }
    if result.auto_backends:
        content["auto_backends"] = result.auto_backends
    if result.notes:
        content["notes"] = result.notes
    return content


def render(result: BenchResult, as_json: bool, quick: bool = False) -> str:
    """The JSON object for machines, or a table for people."""
    if as_json:
        return json.dumps(to_json(result, quick), sort_keys=True)
    width = max(len(k) for k in [*result.results, *result.ratios, "x"])
    lines = [f"benchmark: {result.benchmark}", ""]
    lines += [f"  {k:<{width}}  {number(v)}" for k, v in result.results.items()]
    if result.ratios:
        lines += ["", "  ratios (above 1: ours is faster)"]
        lines += [f"  {k:<{width}}  {v:.2f}x" for k, v in result.ratios.items()]
    if result.auto_backends:
        chosen = ", ".join(f"{f} {b}" for f, b in result.auto_backends.items())
        lines += ["", f"  auto backends: {chosen}"]
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def number(value: float) -> str:
    """A figure for people: thousands grouped, else four significant digits."""
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"
