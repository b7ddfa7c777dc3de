"""Real-time pacing for the bench loop: steps on an absolute schedule, jitter measured.

Step k is due at ``t0 + k * step``: the schedule never drifts, however long a step takes.
Jitter is how late a step starts against its due time; a deadline miss is a step whose work
is not done by the next step's due time (the next step then starts late; `done` counts it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

_SPIN_S = 0.0005  # the last half millisecond is spun, not slept: sleep wakes up late
GIL_SWITCH_S = 0.0005
"""How often a paced run's threads hand the interpreter lock over (Python's default: 5 ms).
A network ledger's thread validates blocks in Python beside the loop; at the default a due
step could wait 5 ms for the lock, at this a tenth of a millisecond on average."""


@dataclass
class Pacer:
    step_s: float
    t0: float = 0.0
    k: int = 0
    lateness_s: list[float] = field(default_factory=list)
    misses: int = 0

    def start(self) -> None:
        self.t0 = time.perf_counter() + self.step_s
        self.k = 0

    def wait(self) -> float:
        """Sleep until the next step is due; returns its due time (schedule seconds)."""
        due = self.t0 + self.k * self.step_s
        while (left := due - time.perf_counter()) > _SPIN_S:
            time.sleep(left - _SPIN_S)
        while time.perf_counter() < due:
            pass
        self.lateness_s.append(time.perf_counter() - due)
        self.k += 1
        return due - self.t0

    def done(self) -> bool:
        """Call after a step's work: True when it finished before the next step was due."""
        on_time = time.perf_counter() <= self.t0 + self.k * self.step_s
        if not on_time:
            self.misses += 1
        return on_time

    def jitter_ms(self) -> tuple[float, float]:
        """(p50, p99) of step start lateness in milliseconds."""
        if not self.lateness_s:
            return 0.0, 0.0
        ms = np.asarray(self.lateness_s) * 1e3
        return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
