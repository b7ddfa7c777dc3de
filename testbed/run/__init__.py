"""One run of a scenario into a run folder: the parts built (`compose`), the homes joined, the
intervals sequenced and paced (`loop`), then the ledger verified and the summary and report
written."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from instruments.errors import InstrumentError
from testbed.events import RunFinished
from testbed.interval.join import join
from testbed.ledger.transactions import RegisterParticipant
from testbed.market.ledger import verify_ledger
from testbed.records.summary import write_summary
from testbed.run.compose import GENESIS_LEAD_S, Run, assemble
from testbed.run.loop import Loop
from testbed.scenario import Scenario


def run_scenario(scenario: Scenario, out: Path, paced: bool,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run ``scenario`` into ``out``: the ledger, the records, summary.json and the report.

    The ledger is verified from genesis at the end, by the same rules as `testbed verify`. A
    run stopped early (Ctrl-C, or the bench tripped: devices are then in their safe state)
    still writes what it has, and says why in ``stopped``, before the stop propagates.
    """
    from testbed.report import build_report

    run = assemble(scenario, out, paced=paced)
    _record_setup(out, scenario, run)
    loop = Loop(run, paced)
    stopped: BaseException | None = None
    try:
        run.events.publish(run.started)
        join(run.ledger, [
            (account, RegisterParticipant(h.bus, h.kind.value, meter.public))
            for h, account, meter in zip(run.hood.homes, run.keys.accounts, run.keys.meters)
        ], run.deposit_units, run.timing.start_s - GENESIS_LEAD_S)
        loop.go(progress)
    except (KeyboardInterrupt, InstrumentError) as exc:
        stopped = exc  # every committed block is whole; the devices are safe
    finally:
        run.close()
    reason = None if stopped is None else (str(stopped) or "interrupted")
    run.events.publish(RunFinished(reason))
    report = verify_ledger(out / scenario.ledger.path)
    p50, p99 = loop.pacer.jitter_ms() if paced else (None, None)
    summary = write_summary(out, {
        **run.recorder.figures(),
        "money_conservation_error": _conservation_error(run),
        "blocks": report.blocks,
        "ledger_valid": report.ok,
        "step_jitter_p50_ms": None if p50 is None else round(p50, 3),
        "step_jitter_p99_ms": None if p99 is None else round(p99, 3),
        "deadline_misses": loop.pacer.misses if paced else 0,
        "control_steps": len(loop.pacer.lateness_s) if paced else None,
        "stopped": reason,
    })
    build_report(out)
    if stopped is not None:
        raise stopped
    return summary


def _record_setup(out: Path, scenario: Scenario, run: Run) -> None:
    """The scenario exactly as run (options applied) and every instrument's identity,
    firmware and calibration date, beside the results."""
    for name, value in (("scenario.json", dataclasses.asdict(scenario)),
                        ("instruments.json", run.bench.identities())):
        (out / name).write_text(json.dumps(value, indent=2, default=str) + "\n")


def _conservation_error(run: Run) -> int:
    """Money held by the contract against what entered and left it, recomputed from the
    deposits and the settlement payments independently of the contract's own counters."""
    paid = run.recorder.paid
    deposited = run.deposit_units * len(run.hood.homes)
    expected = deposited + paid["feed_in"] - paid["retail"] - paid["penalty"]
    return run.ledger.contract.money_held() - expected
