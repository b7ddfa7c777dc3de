"""An agent file's traders in a process of their own: a bug, a crash or a hang of the agent
costs its homes their orders, never the run.

One process per agent file (`multiprocessing`, spawned: a fresh interpreter) holds an instance
of its class per home. For each decision the run sends the home's `Knowledge` and a seed and
waits at most ``deadline_s`` of wall time; an agent that raises, returns something else than
a `Plan`, or does not answer in time has its home place no order that interval, with the
reason (`AgentRefused`). A process that crashed or hung is stopped, and its homes place no
more orders: an agent that misbehaved once is not trusted with the rest of the run.
"""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from testbed.agents.trader import Knowledge, Plan
from testbed.errors import InputError

DECIDE_DEADLINE_S = 2.0
"""How long (wall time) the run waits for an agent's decision before the home goes without."""
START_DEADLINE_S = 60.0
"""How long an agent's process may take to start and load its file."""
STOP_DEADLINE_S = 5.0


class AgentRefused(Exception):
    """An agent's decision the run does not take: the reason, in one line."""


class AgentHost:
    """The process of one agent file (see the module)."""

    def __init__(self, path: Path, deadline_s: float = DECIDE_DEADLINE_S) -> None:
        self.path, self.deadline_s = path, deadline_s
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(str(path), child), daemon=True,
                                        name=f"agent {path.name}")
        self._process.start()
        child.close()
        self.stopped: str | None = None  # why the agent no longer decides
        answer = self._receive(START_DEADLINE_S, "to load")
        if answer != ("ready", None):
            self.close()
            raise InputError(f"agent file {path}: {answer[1]}")

    def decide(self, home: int, knows: Knowledge, seed: int) -> Plan:
        """Home ``home``'s plan, or `AgentRefused` with the reason."""
        if self.stopped is not None:
            raise AgentRefused(self.stopped)
        try:
            self._conn.send((home, knows, seed))
        except (OSError, ValueError) as exc:
            self._stop(f"the agent's process is gone ({exc})")
        kind, value = self._receive(self.deadline_s, "to decide")
        if kind != "plan":
            raise AgentRefused(value)
        return value

    def _receive(self, deadline_s: float, what: str) -> tuple[str, object]:
        if not self._conn.poll(deadline_s):
            self._stop(f"no answer within {deadline_s:g} s {what} (stopped)")
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._process.join(STOP_DEADLINE_S)
            self._stop(f"the agent's process crashed (exit code {self._process.exitcode})")
        raise AssertionError("unreachable")

    def _stop(self, reason: str) -> None:
        self.stopped = reason
        self.close()
        raise AgentRefused(reason)

    def close(self) -> None:
        """Stop the process (at once: it holds nothing of the run's)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join(STOP_DEADLINE_S)
        self._conn.close()


class HostedTrader:
    """One home's trader in an `AgentHost`: a `Trader` whose seed comes from the run's draws."""

    def __init__(self, host: AgentHost, home: int) -> None:
        self.host, self.home = host, home

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        return self.host.decide(self.home, knows, int(rng.integers(2**63)))


def _serve(path: str, conn: Connection) -> None:
    """The agent's process: load the file, then answer each (home, knowledge, seed)."""
    from testbed.agents.loading import trader_class

    try:
        cls = trader_class(Path(path))
    except InputError as exc:
        conn.send(("error", str(exc).removeprefix(f"agent file {path}: ")))
        return
    conn.send(("ready", None))
    traders: dict[int, object] = {}
    while True:
        try:
            home, knows, seed = conn.recv()
        except EOFError:
            return
        try:
            trader = traders.get(home) or traders.setdefault(home, cls())
            plan = trader.decide(knows, np.random.default_rng(seed))  # type: ignore[attr-defined]
            answer = (("plan", plan) if isinstance(plan, Plan) else
                      ("error", f"decide returned {type(plan).__name__}, not a Plan"))
        except Exception as exc:  # noqa: BLE001 - the agent's bug, reported in one line
            line = traceback.format_exception_only(exc)[-1].strip()
            answer = ("error", f"decide raised {line}")
        try:
            conn.send(answer)
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            conn.send(("error", f"its plan cannot be sent ({type(exc).__name__})"))
