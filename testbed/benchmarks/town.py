"""`testbed bench town [--days N]`: a town on this machine: SimBench's MV+LV grid
``1-MVLV-semiurb-all-0-sw`` (9,099 buses, 112 transformers, 8,772 loads), every load a home
trading in the default scenario's market (its households, private market, embedded ledger, no
physical homes), for N days (default one) from the default start.

- ``seconds_per_day``: start-up once, plus the loop and the finish (the ledger's final check,
  the summary) scaled from N days to one. The report is not drawn (`testbed report` draws it).
- ``peak_rss_mb``: the largest resident memory of this process (the run; ``getrusage``); the
  follower that checks the ledger as it grows is a process of its own, not counted.
- Where the time goes, after start-up: the shares of `testbed.benchmarks.year`'s sampler.

Goals (the ratios, above 1: met): a day in 600 s (``day_vs_goal_600_s``) within 4 GB
(``memory_vs_goal_4_gb``).
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from testbed.benchmarks import BenchResult
from testbed.benchmarks.year import _Sampler

TOWN = "1-MVLV-semiurb-all-0-sw"
GOAL_S_PER_DAY = 600.0
GOAL_RSS_MB = 4096.0
QUICK_DAYS = 2 / 96  # two intervals


def scenario_for(days: float):
    """The default scenario on the town's grid, no physical homes, embedded ledger."""
    from testbed.scenario import load_scenario

    scenario = load_scenario(days=days)
    return replace(scenario, name="town", grid=replace(scenario.grid, feeder=TOWN), physical=(),
                   ledger=replace(scenario.ledger, network=None))


def run(quick: bool = False, days: float | None = None) -> BenchResult:
    from testbed.run import run_scenario

    days = days if days is not None else (QUICK_DAYS if quick else 1.0)
    scenario = scenario_for(days)
    marks: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, _Sampler() as sampler:
        start = time.perf_counter()

        def progress(k: int) -> None:
            marks.append(time.perf_counter())
            sampler.sampling = True

        summary = run_scenario(scenario, Path(tmp) / "run", paced=False, progress=progress,
                               report=False)
        end = time.perf_counter()
    startup_s = marks[0] - start
    seconds_per_day = startup_s + (end - marks[0]) / days
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results: dict[str, float] = {
        "days": days,
        "homes": summary["participants"],
        "intervals": summary["intervals"],
        "transactions": summary["transactions"],
        "trades": summary["trades"],
        "wall_s": end - start,
        "startup_s": startup_s,
        "seconds_per_day": seconds_per_day,
        "peak_rss_mb": peak_mb,
        "ledger_valid": float(summary["ledger_valid"] is True),
        "money_conservation_error": summary["money_conservation_error"],
    }
    results.update({f"share_{part}": share for part, share in sampler.shares().items()})
    return BenchResult(
        benchmark="town",
        results=results,
        ratios={"day_vs_goal_600_s": GOAL_S_PER_DAY / seconds_per_day,
                "memory_vs_goal_4_gb": GOAL_RSS_MB / peak_mb},
        notes=[
            (f"{TOWN}, every load a home, default scenario from {scenario.time.start:%Y-%m-%d} "
             f"({scenario.grid.phases}), embedded ledger, private market, no report; start-up "
             "counted once, the rest scaled to a day"),
            "share_*: sampled shares of the main thread's time after start-up",
        ],
    )
