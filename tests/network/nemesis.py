"""A nemesis for tests: faults injected into a local network's processes at random moments
(seeded, so a failure can be replayed), while a run trades on it.

A fault is a signal to one process and, after it has been down a while, its recovery: a
validator or a NATS server killed (SIGKILL) and started again (`local.up` starts whatever is
down), a validator paused (SIGSTOP) and resumed (SIGCONT). The schedule is drawn from the
seed; `TESTBED_NEMESIS_SEED` replays one.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.network import local, processes

SEED_ENV = "TESTBED_NEMESIS_SEED"


@dataclass(frozen=True)
class Fault:
    at_s: float  # after the nemesis starts
    kind: str  # kill | pause
    target: str  # a node's or a server's name
    down_s: float

    def __str__(self) -> str:
        return f"{self.kind} {self.target} at {self.at_s:.1f} s for {self.down_s:.1f} s"


def seed() -> int:
    """The seed of this test's schedule: `TESTBED_NEMESIS_SEED`, else a new one."""
    return int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(2**32))


def schedule(rng: random.Random, validators: list[str], servers: list[str],
             window_s: float) -> list[Fault]:
    """One validator killed and restarted, another paused for 10 s, one server killed and
    restarted, each at a random moment of ``window_s``, in a random order."""
    killed, paused = rng.sample(validators, 2)
    faults = [Fault(rng.uniform(0, window_s), "kill", killed, rng.uniform(1, 5)),
              Fault(rng.uniform(0, window_s), "pause", paused, 10.0),
              Fault(rng.uniform(0, window_s), "kill", rng.choice(servers), rng.uniform(1, 5))]
    return sorted(faults, key=lambda f: f.at_s)


class Nemesis:
    """Runs a schedule of faults on the network in ``folder``, in threads of its own; `done`
    waits for every fault to have been recovered from."""

    def __init__(self, folder: Path, faults: list[Fault]) -> None:
        self.folder, self.faults = folder, faults
        self.log: list[str] = []
        self._threads: list[threading.Thread] = []
        self._up = threading.Lock()  # one restart at a time: each writes network.json

    def start(self) -> None:
        started = time.monotonic()
        for fault in self.faults:
            thread = threading.Thread(target=self._inflict, args=(fault, started), daemon=True)
            thread.start()
            self._threads.append(thread)

    def done(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), f"faults not over: {self.log}"

    def _inflict(self, fault: Fault, started: float) -> None:
        time.sleep(max(0.0, started + fault.at_s - time.monotonic()))
        pid = self.pid(fault.target)
        if pid is None:
            self.log.append(f"{fault}: not running, skipped")
            return
        if fault.kind == "kill":
            os.kill(pid, signal.SIGKILL)
            time.sleep(fault.down_s)
            with self._up:
                local.up(self.folder)
        else:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(fault.down_s)
            os.kill(pid, signal.SIGCONT)
        self.log.append(f"{fault}: at {time.monotonic() - started:.1f} s, recovered")

    def pid(self, name: str) -> int | None:
        network = local.load(self.folder)
        entry = next(e for e in (*network.nodes, *network.servers) if e.name == name)
        return entry.pid if processes.alive(entry.pid, entry.config) else None
