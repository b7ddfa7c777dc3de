"""One run of a scenario into a run folder: the parts built (`compose`), the homes joined, the
intervals sequenced and paced (`loop`), then the ledger verified and the summary and report
written."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from instruments.errors import InstrumentError
from testbed.agents.home import Home
from testbed.errors import Interrupted, LedgerUnavailable, RunStopped
from testbed.events import BlockCommitted, RunFinished
from testbed.interrupts import signal_name
from testbed.interval.block import Ledger
from testbed.interval.join import join
from testbed.ledger.follow import Follower
from testbed.ledger.keys import PASSPHRASE_ENV, ViewKey, development_passphrase
from testbed.ledger.store import settle
from testbed.ledger.transactions import (
    RegisterAuditor,
    RegisterParticipant,
    SetGridFees,
    SetValidatorsViewKey,
)
from testbed.ledger.verify import VerifyReport
from testbed.market.params import MarketParams, PaymentKind, Privacy
from testbed.market.verify import Executor, verify_ledger
from testbed.records.summary import write_summary
from testbed.run.compose import GENESIS_LEAD_S, KeySource, Run, assemble
from testbed.run.keys import RunKeys
from testbed.run.loop import Loop
from testbed.scenario import Scenario


def run_scenario(scenario: Scenario, out: Path, paced: bool,
                 progress: Callable[[int], None] | None = None, *,
                 keys: KeySource = RunKeys.generate,
                 watch: Callable[[Run], None] | None = None,
                 report: bool = True) -> dict[str, Any]:
    """Run ``scenario`` into ``out``: the ledger, the records, summary.json and (unless
    ``report`` is False: `testbed report` draws it later) the report.
    ``watch`` sees the run's parts before it starts (the dashboard subscribes there).

    The ledger is verified from genesis at the end, by the same rules as `testbed verify`;
    the CPU time that takes is the summary's validation cost. A run stopped early (Ctrl-C or
    SIGTERM: `Interrupted`; the bench tripped: `InstrumentError`; the validator network did
    not commit in time: `LedgerUnavailable`; the devices are then in their safe state) still
    writes what it has, and says why in ``stopped``, before the stop propagates. Interrupted
    during start-up, it leaves no ledger without its genesis, and says what it left.
    """
    try:
        # only our own modules now: matplotlib came with testbed.run (through pandapower's
        # plotting), which the CLI imports in a worker thread, where no signal lands
        from testbed.report import build_report

        run = assemble(scenario, out, paced=paced, keys=keys)
    except KeyboardInterrupt as exc:
        raise _interrupted_in_start_up(exc, out / scenario.ledger.path) from None
    commit_ms: list[float] = []  # submission to commit, per block
    run.events.subscribe(lambda e: commit_ms.append(e.commit_ms)
                         if isinstance(e, BlockCommitted) else None)
    loop = Loop(run, paced)
    stopped: BaseException | None = None
    checker: Follower | None = None
    try:
        if watch is not None:
            watch(run)
        run.events.publish(run.started)
        # the ledger checked as it grows, on the other core; not in a sweep's worker, which
        # has no core to spare (and, a daemonic process, may not start one)
        if not multiprocessing.current_process().daemon:
            checker = Follower(out / scenario.ledger.path,  # as the run's auditor would
                               Executor.holding([run.keys.auditor_view]))
        _record_setup(out, scenario, run)
        join(run.ledger, registrations(run.hood.homes, run.keys), run.deposit_units,
             run.timing.start_s - GENESIS_LEAD_S,
             appointments(run.params, run.ledger, run.keys, run.grid_fees))
        run.ledger.flush()
        loop.go(progress)
    except (KeyboardInterrupt, InstrumentError, LedgerUnavailable) as exc:
        stopped = exc  # every committed block is whole; the devices are safe
    except BaseException:
        if checker is not None:
            checker.stop()
        raise
    finally:
        run.close()
    if isinstance(stopped, KeyboardInterrupt) and run.recorder.run is None:  # not yet started
        # (so no follower either: it starts after the run does)
        raise _interrupted_in_start_up(stopped, out / scenario.ledger.path) from None
    signal = (signal_name(stopped) if isinstance(stopped, KeyboardInterrupt)
              else run.bench.interrupted_by() if stopped is not None else None)
    reason = f"interrupted by {signal}" if signal else (str(stopped) if stopped else None)
    try:
        run.events.publish(RunFinished(reason))
        summary = _summarise(run, loop, checker, out / scenario.ledger.path, paced, reason,
                             commit_ms, verified=signal is None)
        if signal is None and report:
            build_report(out)
    except KeyboardInterrupt as exc:
        if checker is not None:
            checker.stop()
        raise Interrupted(f"interrupted by {signal_name(exc)} while writing the summary: "
                          f"devices safe, ledger complete in {out} (check it with testbed "
                          f"verify)", signal_name(exc)) from None
    if signal is not None:  # stopped on request: finish at once, the checks can follow
        raise Interrupted(
            f"interrupted: devices safe, ledger consistent up to height "
            f"{summary['head_height']}; partial run in {out} (testbed verify and testbed "
            f"report check and draw it)", signal)
    if stopped is not None:
        valid = "ledger consistent" if summary["ledger_valid"] else "ledger INVALID"
        kept = f"devices safe, {valid} ({summary['blocks']} blocks); partial run in {out}"
        if isinstance(stopped, LedgerUnavailable):
            raise LedgerUnavailable(f"{stopped}; {kept}") from None
        raise RunStopped(f"{stopped}; {kept}") from stopped
    return summary


def _interrupted_in_start_up(exc: KeyboardInterrupt, ledger: Path) -> Interrupted:
    left = "a ledger with its genesis" if ledger.exists() else "no ledger"
    return Interrupted(f"interrupted by {signal_name(exc)} during start-up: devices safe, "
                       f"{left} in {ledger.parent}", signal_name(exc))


def registrations(homes: Sequence[Home], keys: RunKeys) -> list[RegisterParticipant]:
    """Every home as the operator enrols it: account, bus, kind, meter and view key."""
    return [RegisterParticipant(a.public, h.bus, h.kind.value, m.public, v.public)
            for h, a, m, v in zip(homes, keys.accounts, keys.meters, keys.views)]


def appointments(params: MarketParams, ledger: Ledger, keys: RunKeys,
                 grid_fees: SetGridFees | None = None
                 ) -> list[SetValidatorsViewKey | RegisterAuditor | SetGridFees]:
    """The operator's set-up besides the homes: a private market's readers (the validators'
    view key, the auditor), and its grid fees' tariff if any."""
    fees = [] if grid_fees is None else [grid_fees]
    if params.privacy != Privacy.PRIVATE:
        return fees
    return [SetValidatorsViewKey(ledger.validators_view_key),
            RegisterAuditor(keys.auditor.public, keys.auditor_view.public), *fees]


def _summarise(run: Run, loop: Loop, checker: Follower | None, ledger: Path, paced: bool,
               stopped: str | None, commit_ms: list[float], *, verified: bool
               ) -> dict[str, Any]:
    """summary.json: the records' figures and the run's own; the ledger replayed from genesis
    when ``verified`` (else its head as committed: every committed block is whole)."""
    cpu_s = None
    if verified:
        report, cpu_s = _checked(checker, ledger, run.keys.auditor_view)
        blocks, valid, head = report.blocks, report.ok, report.head_hash.hex()
        transactions = report.transactions if report.ok else None
    else:
        if checker is not None:
            checker.stop()
        blocks, valid, head = run.ledger.height + 1, None, run.ledger.head_hash.hex()
        transactions = None
    settle(ledger)  # the follower gone: the file alone now holds every block
    p50, p99 = loop.pacer.jitter_ms() if paced else (None, None)
    records = run.recorder.figures()
    return write_summary(ledger.parent, {
        **records,
        **run.outcomes.figures(records["energy_traded_kwh"], records["trades"], cpu_s),
        "money_conservation_error": _conservation_error(run),
        "blocks": blocks,
        "transactions": transactions,
        "ledger_valid": valid,
        "head_height": blocks - 1 if valid is not False else None,
        "head_hash": head if valid is not False else None,
        "public_keys": public_keys(run.keys),
        "validators": run.ledger.validator_count,
        "commit_latency_p50_ms": _percentile(commit_ms, 50),
        "commit_latency_p99_ms": _percentile(commit_ms, 99),
        "step_jitter_p50_ms": None if p50 is None else round(p50, 3),
        "step_jitter_p99_ms": None if p99 is None else round(p99, 3),
        "deadline_misses": loop.pacer.misses if paced else 0,
        "control_steps": len(loop.pacer.lateness_s) if paced else None,
        "stopped": stopped,
    })


def public_keys(keys: RunKeys) -> str | None:
    """Which of a run's keys anyone can use, for the summary (the warnings at the start say it
    once each): signing keys derived from public names, and key files (the auditor's view key,
    a network's keys) encrypted under the public development passphrase. None: neither."""
    public = ["signing keys (--dev-keys)"] if keys.dev_keys else []
    if development_passphrase():
        public.append(f"key files ({PASSPHRASE_ENV} unset)")
    return ", ".join(public) or None


FOLLOWER_WAIT_S = 3600.0
"""How long the end of a run waits for the follower to replay the last blocks (it replays as the
run goes, so it is seconds behind; a year on a slow machine may leave it a minute to go)."""


def _checked(checker: Follower | None, ledger: Path, view_key: ViewKey
             ) -> tuple[VerifyReport, float]:
    """The ledger replayed from genesis, by the rules of `testbed verify`: the follower's
    report (it replayed the file as it grew), or, if it failed, a replay here; with the
    processor seconds the replay took."""
    answer = checker.finish(timeout_s=FOLLOWER_WAIT_S) if checker is not None else None
    if answer is not None:
        return answer
    cpu_s = time.process_time()  # the devices are closed: only the verification runs now
    report = verify_ledger(ledger, [view_key])  # as the run's auditor would
    return report, time.process_time() - cpu_s


def _record_setup(out: Path, scenario: Scenario, run: Run) -> None:
    """The scenario exactly as run (options applied) and every instrument's identity,
    firmware and calibration date, beside the results."""
    for name, value in (("scenario.json", dataclasses.asdict(scenario)),
                        ("instruments.json", run.bench.identities())):
        (out / name).write_text(json.dumps(value, indent=2, default=str) + "\n")


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


TO_THE_UTILITY = tuple(k.name.lower() for k in PaymentKind if k not in (
    PaymentKind.TRADE, PaymentKind.FEED_IN))
"""The payments that leave the market (the others move money inside it, or bring it in)."""


def _conservation_error(run: Run) -> int:
    """Money held by the contract against what entered and left it, recomputed from the
    deposits and the settlement payments independently of the contract's own counters."""
    paid = run.recorder.paid  # by kind
    deposited = run.deposit_units * len(run.hood.homes)
    expected = deposited + paid["feed_in"] - sum(paid[kind] for kind in TO_THE_UTILITY)
    return run.ledger.contract.money_held() - expected
