"""`testbed bench year [--days N]`: the default scenario simulated for N days (default a year),
where its time goes, and how far the loop is from its signature floor.

- ``seconds_per_year``: start-up once, the loop (every interval) scaled from N days to a year
  when N is shorter, and the finish once: a year's run, like a day's, ends with one wait for
  the follower's last blocks, one summary and one report (``finish_s``, as measured here: a
  year's report draws longer series). The follower replays the ledger on the other core as
  it grows; ``replay_cpu_s_per_year`` is its processor time scaled to a year: were it above
  the loop's, the follower would fall behind and a year's finish would wait for it.
  ``loop_cpu_s_per_year``: the processor time the run's own process spent in the loop,
  scaled: on a busy machine, the part of ``seconds_per_year`` that is ours and not the wait
  for a core.
- Where the loop's time goes (after start-up, before the finish): a timer signal samples the
  main thread's stack every 5 ms and charges each sample to the innermost part it is inside
  (signing, signature verification, contract, state root, store, power flow, instruments, ...).
- ``loop_vs_signature_floor``: the time `cryptography` needs to sign and verify as many
  transactions as the run's ledger holds, on every core (one process per core), measured in
  this run on a sample, divided by the run's own time. 1 would be a loop that costs nothing
  but its signatures; the goal is at least 0.5.
- ``ledger_bytes_per_day``: the ledger file's size (as stored: blocks packed, `bench.
  ledger_file_bytes`) over the simulated days.
"""

from __future__ import annotations

import math
import os
import signal
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

from grid_models.feeders import PROFILE_START_S
from testbed.benchmarks import BenchResult, ledger_file_bytes
from testbed.events import OrdersPlaced, RunFinished

if TYPE_CHECKING:
    from testbed.run.compose import Run
    from testbed.scenario import Scenario

DAYS_PER_YEAR = 366  # the profiles' year, 2016
SAMPLE_S = 0.005  # the sampler walks the stack in the main thread: every 2 ms cost the loop 4 %
FLOOR_SAMPLE_TX = 20_000  # about a second on this machine: enough to be steady
PARTS = (  # (path fragment, function, part): the innermost frame that matches decides ...
    ("testbed/ledger/keys.py", "sign", "signing"),
    ("kernels/", "ed25519_sign_batch", "signing"),
    ("kernels/", "ed25519_verify_batch", "signature verification"),
    ("kernels/", "merkle_root", "hashing, Merkle roots"),
    ("kernels/", "sha256_batch", "hashing, Merkle roots"),
    ("testbed/ledger/state.py", "root", "state root"),
    ("testbed/market/contract.py", "state_root", "state root"),
    ("testbed/ledger/chain.py", "_execute", "contract execution"),
    ("testbed/ledger/chain.py", "replay", "final replay (decoding)"),
)
PLACES = (  # ... else the innermost frame in one of these places (path fragment, part)
    ("testbed/ledger/store/", "store (SQLite)"),
    ("grid_models/", "grid check and power flow"),
    ("kernels/powerflow", "grid check and power flow"),
    ("instruments/", "instruments"),
    ("pyvisa", "instruments"),
    ("pymodbus", "instruments"),
    ("testbed/agents/strategies.py", "strategies"),
    ("testbed/agents/home.py", "strategies"),
    ("testbed/outcomes/", "baseline and key figures"),
    ("testbed/records/", "records"),
    ("testbed/report", "report"),
    ("testbed/ledger/sealing.py", "sealing (private records)"),
    ("testbed/ledger/", "ledger (other)"),
)


class _Sampler:
    """Charges the main thread's time to parts: a timer signal every ``SAMPLE_S`` of wall time
    runs in the main thread between two bytecodes, so pure Python is sampled as fairly as code
    that releases the GIL (a sampling thread would only see the latter)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.sampling = False  # set once the first interval starts: start-up is not charged

    def __enter__(self) -> Self:
        self._previous = signal.signal(signal.SIGALRM, self._sample)
        signal.setitimer(signal.ITIMER_REAL, SAMPLE_S, SAMPLE_S)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, self._previous)

    def _sample(self, signum: int, frame: object) -> None:
        if self.sampling:
            self.counts[_part(frame)] += 1

    def shares(self) -> dict[str, float]:
        total = sum(self.counts.values()) or 1
        return {part: n / total for part, n in self.counts.most_common()}


class RunPhases:
    """When a simulated run's phases began, for `run_scenario`'s ``progress`` and ``watch``:
    each interval's first control step (``starts``), each interval's orders placed
    (``orders``: an interval's market cycle, its clearing and grid control, runs from there
    to the next's, before and beside its control steps) and the loop's end (``finished``, at
    `RunFinished`), with this process's processor time (all its threads) at each start and at
    the end; ``sampler`` samples the loop only, from the first interval to the loop's end."""

    def __init__(self, sampler: _Sampler) -> None:
        self.sampler = sampler
        self.starts: list[float] = []
        self.orders: list[float] = []
        self.finished = math.nan
        self.cpu: list[float] = []

    def progress(self, k: int) -> None:
        self.starts.append(time.perf_counter())
        self.cpu.append(time.process_time())
        self.sampler.sampling = True

    def watch(self, run: Run) -> None:
        run.events.subscribe(self._event)

    def _event(self, event: object) -> None:
        if isinstance(event, OrdersPlaced):
            self.orders.append(time.perf_counter())
        elif isinstance(event, RunFinished):
            self.finished = time.perf_counter()
            self.cpu.append(time.process_time())
            self.sampler.sampling = False


def _part(frame: object) -> str:
    place = "other"
    while frame is not None:
        code = frame.f_code  # type: ignore[attr-defined]
        path = code.co_filename.replace(os.sep, "/")
        for fragment, function, part in PARTS:
            if fragment in path and code.co_name == function:
                return part
        if place == "other":
            place = next((p for fragment, p in PLACES if fragment in path), place)
        frame = frame.f_back  # type: ignore[attr-defined]
    return place


def _sign_and_verify(count: int) -> float:
    """Seconds `cryptography` takes to sign and verify ``count`` ledger-sized messages with
    41 keys, in this process."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    keys = [Ed25519PrivateKey.generate() for _ in range(41)]
    publics = [k.public_key() for k in keys]
    messages = [os.urandom(150) for _ in range(count)]
    start = time.perf_counter()
    for i, message in enumerate(messages):
        publics[i % 41].verify(keys[i % 41].sign(message), message)
    return time.perf_counter() - start


def _floor_tx_per_s() -> float:
    """Transactions per second `cryptography` signs and verifies on all cores at once."""
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        pool.submit(_sign_and_verify, 100).result()  # the workers up and warm
        start = time.perf_counter()
        list(pool.map(_sign_and_verify, [FLOOR_SAMPLE_TX // cores] * cores))
        elapsed = time.perf_counter() - start
    return (FLOOR_SAMPLE_TX // cores) * cores / elapsed


def scenario_for(days: float) -> Scenario:
    """The default scenario for ``days``, from its summer start; or, when the profiles' year
    (2016) ends too soon after it, from as late as the year allows (a whole year: 1 January)."""
    from testbed.scenario import load_scenario

    scenario = load_scenario(days=days)
    end_s = PROFILE_START_S + DAYS_PER_YEAR * 86_400
    length_s = scenario.intervals * scenario.market.interval_s
    if scenario.start_s + length_s <= end_s:
        return scenario
    start = datetime.fromtimestamp(max(PROFILE_START_S, end_s - length_s), UTC)
    return replace(scenario, time=replace(scenario.time, start=start))


def run(quick: bool = False, days: float | None = None) -> BenchResult:
    from testbed.run import run_scenario

    days = days if days is not None else (1.0 if quick else float(DAYS_PER_YEAR))
    scenario = scenario_for(days)
    with tempfile.TemporaryDirectory() as tmp, _Sampler() as sampler:
        out = Path(tmp) / "run"
        phases = RunPhases(sampler)
        start = time.perf_counter()
        summary = run_scenario(scenario, out, paced=False, progress=phases.progress,
                               watch=phases.watch)
        end = time.perf_counter()
        ledger_bytes = ledger_file_bytes(out, scenario)
        transactions = summary["transactions"]
    floor_rate = _floor_tx_per_s()
    first = phases.starts[0]
    startup_s, loop_s, finish_s = first - start, phases.finished - first, end - phases.finished
    scale = DAYS_PER_YEAR / days
    seconds_per_year = startup_s + loop_s * scale + finish_s
    floor_s = transactions * scale / floor_rate
    results: dict[str, float] = {
        "days": days,
        "intervals": summary["intervals"],
        "transactions": transactions,
        "wall_s": end - start,
        "startup_s": startup_s,
        "loop_s": loop_s,
        "loop_cpu_s_per_year": (phases.cpu[-1] - phases.cpu[0]) * scale,
        "finish_s": finish_s,
        "replay_cpu_s_per_year": summary["validation_cpu_s"] * scale,
        "seconds_per_year": seconds_per_year,
        "signature_floor_s_per_year": floor_s,
        "cryptography_sign_verify_tx_per_s": floor_rate,
        "ledger_bytes_per_day": ledger_bytes / days,
        "ledger_valid": float(summary["ledger_valid"] is True),
        "money_conservation_error": summary["money_conservation_error"],
        "avoidable_violations": summary["avoidable_violations"],
        "unavoidable_violations": sum(summary["unavoidable_violations_by_cause"].values()),
    }
    results.update({f"share_{part}": share for part, share in sampler.shares().items()})
    return BenchResult(
        benchmark="year",
        results=results,
        ratios={"loop_vs_signature_floor": floor_s / seconds_per_year},
        notes=[
            (f"default scenario from {scenario.time.start:%Y-%m-%d}, testbed simulate, embedded "
             "ledger, every order and reading signed, every block validated; start-up and "
             "finish (the follower's last blocks, summary, report) counted once, the loop "
             "scaled to a year"),
            "share_*: sampled shares of the main thread's time in the loop",
            ("signature floor: cryptography signing and verifying the ledger's transactions "
            "on every core, one process each"),
        ],
    )
