"""A paced run's market events run beside its control steps, on the market thread: a clearing
slower than a step (the grid gate's power flows on a large or unbalanced feeder) does not hold
the steps back, and the run ends as it would have."""

import threading
import time

import pytest

from testbed.events import IntervalCleared, StepPaced
from testbed.run import run_scenario
from testbed.scenario import load_scenario

pytestmark = pytest.mark.slow  # a paced run against the emulated bench: 20 s or more

SLOW_CHECK_S = 0.6
"""The grid gate made this slow: six control steps of 0.1 s."""


def test_a_slow_clearing_does_not_hold_back_the_control_steps(tmp_path):
    published: list[tuple[float, type, str]] = []  # (monotonic s, event type, thread name)
    checks: list[float] = []  # when each grid check began

    def slowly(run):
        check = run.grid.check

        def slow_check(*args, **kwargs):
            checks.append(time.monotonic())
            time.sleep(SLOW_CHECK_S)
            return check(*args, **kwargs)
        run.grid.check = slow_check
        run.events.subscribe(lambda e: published.append(
            (time.monotonic(), type(e), threading.current_thread().name)))

    scenario = load_scenario(days=3 / 96, control_step_s=0.1, real_time_factor=900)
    summary = run_scenario(scenario, tmp_path / "run", paced=True, watch=slowly, report=False)

    assert summary["ledger_valid"] and summary["money_conservation_error"] == 0
    cleared = [(t, thread) for t, kind, thread in published if kind is IntervalCleared]
    assert len(cleared) == len(checks) == 3
    assert all(thread == "MainThread" for t, kind, thread in published if kind is StepPaced)
    # the first interval clears before the steps start; the others on the market thread,
    # while the steps go on
    for began, (ended, thread) in zip(checks[1:], cleared[1:], strict=True):
        assert thread.startswith("market")
        steps = [t for t, kind, _ in published if kind is StepPaced and began < t < ended]
        assert len(steps) >= 3, f"{len(steps)} control steps in a {ended - began:.2f} s clearing"
