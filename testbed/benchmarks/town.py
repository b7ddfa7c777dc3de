"""`testbed bench town [--days N]`: a town on this machine: SimBench's MV+LV grid
``1-MVLV-semiurb-all-0-sw`` (9,099 buses, 112 transformers, 8,772 loads), every load a home
trading in the default scenario's market (its households, private market, embedded ledger, no
physical homes), for N days (default one) from the default start, or from a time of that day
(``--start 12:00``: a sunny noon, the day's heaviest curtailment).

- ``seconds_per_day``: start-up, the first interval and the finish (the follower's last
  blocks, the summary) once, and the other intervals scaled from N days to one. An interval
  is its market cycle, from its orders placed to the next interval's (its clearing, the grid
  check and the export limits, then its control steps): each holds one clearing, where the
  day's noon work is. The first interval holds each home's one-off work (the sealed channel
  of its readings opened to three readers), the finish is one wait and one summary whatever
  the length: scaled from a short run, either was counted once per interval of the day. The
  report is not drawn (`testbed report` draws it).
- ``peak_rss_mb``: the largest resident memory of this process (the run; ``getrusage``); the
  follower that checks the ledger as it grows is a process of its own, not counted.
- Where the loop's time goes (after start-up, before the finish): the shares of
  `testbed.benchmarks.year`'s sampler.

Goals (the ratios, above 1: met): a day in 600 s (``day_vs_goal_600_s``) within 4 GB
(``memory_vs_goal_4_gb``).
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from datetime import time as time_of_day
from pathlib import Path

from testbed.benchmarks import BenchResult
from testbed.benchmarks.year import RunPhases, _Sampler
from testbed.errors import InputError

TOWN = "1-MVLV-semiurb-all-0-sw"
GOAL_S_PER_DAY = 600.0
GOAL_RSS_MB = 4096.0
QUICK_DAYS = 3 / 96  # the first interval, counted once, and two scaled to the day


def scenario_for(days: float, at: time_of_day | None = None):
    """The default scenario on the town's grid, no physical homes, embedded ledger; from
    ``at`` on its first day if given."""
    from testbed.scenario import load_scenario

    scenario = load_scenario(days=days)
    start = scenario.time.start
    if at is not None:
        start = datetime.combine(start.date(), at, tzinfo=start.tzinfo)
    return replace(scenario, name="town", grid=replace(scenario.grid, feeder=TOWN), physical=(),
                   ledger=replace(scenario.ledger, network=None),
                   time=replace(scenario.time, start=start))


def time_of(text: str) -> time_of_day:
    """``--start``'s time of day (HH:MM), or a one-line error."""
    try:
        return time_of_day.fromisoformat(text)
    except ValueError:
        raise InputError(f"--start: a time of day as HH:MM, got {text!r}") from None


def day_parts(start: float, interval_starts: list[float], finished: float, end: float
              ) -> tuple[float, float, float, float]:
    """A run's start-up, first interval, other intervals and finish, in seconds, from when it
    started, when each interval's market cycle did (`RunPhases.orders`), when its loop
    finished and when it ended."""
    first, second = interval_starts[0], interval_starts[1]
    return first - start, second - first, finished - second, end - finished


def run(quick: bool = False, days: float | None = None, start: str | None = None) -> BenchResult:
    days = days if days is not None else (QUICK_DAYS if quick else 1.0)
    scenario = scenario_for(days, None if start is None else time_of(start))
    if scenario.intervals < 2:
        raise InputError(f"a town's day is priced from two intervals or more, got "
                         f"{scenario.intervals} in {days:g} days")
    from testbed.run import run_scenario

    with tempfile.TemporaryDirectory() as tmp, _Sampler() as sampler:
        phases = RunPhases(sampler)
        began = time.perf_counter()
        summary = run_scenario(scenario, Path(tmp) / "run", paced=False,
                               progress=phases.progress, watch=phases.watch, report=False)
        end = time.perf_counter()
    per_day = 86_400 // scenario.market.interval_s
    startup_s, first_s, loop_s, finish_s = day_parts(began, phases.orders, phases.finished, end)
    seconds_per_day = (startup_s + first_s + finish_s
                       + loop_s * (per_day - 1) / (scenario.intervals - 1))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results: dict[str, float] = {
        "days": days,
        "homes": summary["participants"],
        "intervals": summary["intervals"],
        "transactions": summary["transactions"],
        "trades": summary["trades"],
        "wall_s": end - began,
        "startup_s": startup_s,
        "first_interval_s": first_s,
        "loop_s": loop_s,
        "finish_s": finish_s,
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
             f"({scenario.grid.phases}), embedded ledger, private market, no report; start-up, "
             "the first interval and the finish counted once, the other intervals scaled to "
             "a day"),
            "share_*: sampled shares of the main thread's time in the loop",
            *([] if scenario.intervals >= per_day else [
                (f"{scenario.intervals} intervals from {scenario.time.start:%H:%M}, scaled to "
                 "the day: a night's intervals (no PV, no trades) are lighter than the day's, "
                 "a sunny noon's (the most curtailment) heavier")]),
        ],
    )
