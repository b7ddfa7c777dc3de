"""`testbed bench privacy`: what privacy costs: the default scenario's simulated day (its two
emulated physical homes included, fresh keys as `testbed simulate` makes them) in a private
market against the same day in a public one, side by side in this process.

Private: sealed orders (a commitment per order, its reveal relayed in the clearing), readings
and settlement details sealed to the home, the validators and the auditor (on channels: HPKE
once per channel, an AEAD per record), opened by the contract on execution and again by the
verification (the run's follower, on the other core, as the auditor). Public: plaintext
orders and readings. Both: every transaction signed, every block validated, 3 blocks an
interval; the time of a run is from its start to its verified summary (its report, the same
drawing either way, is left out). Ledger sizes: the blocks' canonical bytes
(``*_ledger_bytes``: what is hashed, signed and sent) and the file (``*_ledger_file_bytes``:
as stored, blocks packed).
Runs alternate (public, private, ...) after an untimed warm-up; the figures are medians.
``private_vs_public`` = public seconds / private seconds: the goal is at least 1/1.3 (privacy
costs at most 30 %).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from testbed.benchmarks import BenchResult, ledger_file_bytes

GOAL = 1 / 1.3


def _day(privacy: str, hours: float, out: Path) -> tuple[float, dict]:
    """The seconds of a run, and its summary with its ledger file's size added."""
    from testbed.run import run_scenario
    from testbed.scenario import load_scenario

    scenario = load_scenario(days=hours / 24)
    scenario = replace(scenario, market=replace(scenario.market, privacy=privacy))
    start = time.perf_counter()
    summary = run_scenario(scenario, out, paced=False, report=False)
    elapsed = time.perf_counter() - start
    if summary["ledger_valid"] is not True or summary["money_conservation_error"]:
        raise RuntimeError(f"the {privacy} day did not verify or conserve money")
    return elapsed, {**summary, "ledger_file_bytes": ledger_file_bytes(out, scenario)}


def run(quick: bool = False) -> BenchResult:
    hours, repeats = (1.0, 1) if quick else (24.0, 5)
    times: dict[str, list[float]] = {"public": [], "private": []}
    summaries: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="testbed-bench-privacy-") as tmp:
        _day("private", 1.0, Path(tmp) / "warm-up")  # imports, caches, emulators: untimed
        for r in range(repeats):
            for privacy, seconds in times.items():
                elapsed, summaries[privacy] = _day(privacy, hours, Path(tmp) / f"{privacy}-{r}")
                seconds.append(elapsed)
    public, private = (statistics.median(times[p]) for p in ("public", "private"))
    results: dict[str, float] = {"hours": hours, "repeats": repeats,
                                 "public_s": public, "private_s": private}
    for privacy, summary in summaries.items():
        results[f"{privacy}_ledger_bytes"] = summary["ledger_bytes"]  # canonical: as hashed
        results[f"{privacy}_ledger_file_bytes"] = summary["ledger_file_bytes"]  # as stored
        results[f"{privacy}_blocks"] = summary["blocks"]
        results[f"{privacy}_validation_cpu_s"] = summary["validation_cpu_s"]
    return BenchResult(
        benchmark="privacy", results=results,
        ratios={"private_vs_public": public / private},
        notes=[("the default scenario simulated (embedded ledger, its physical homes emulated), "
                "private market against public; medians of alternating runs"),
               f"goal: private_vs_public >= {GOAL:.2f} (privacy costs at most 30 %)"],
    )
