"""An agent file's traders in a process of their own: a bug, a crash or a hang of the agent
costs its homes their orders, never the run.

One process per agent file (`python -m testbed.agents.host FILE`, a child process even of a
daemonic Dask worker) holds an instance of its class per home, and talks to the run over its
standard input and output (pickled messages; what the agent prints goes to its standard
error). For each decision the run sends the home's `Knowledge` and a seed and waits at most
``deadline_s`` of wall time; an agent that raises, returns something else than a `Plan`, or
does not answer in time has its home place no order that interval, with the reason
(`AgentRefused`). A process that crashed or hung is stopped, and its homes place no more
orders: an agent that misbehaved once is not trusted with the rest of the run.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from testbed.agents.trader import Knowledge, Plan, Trader, refusal
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
        self._process = subprocess.Popen(
            [sys.executable, "-m", "testbed.agents.host", str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._to = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._from = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self.stopped: str | None = None  # why the agent no longer decides
        try:
            answer = self._receive(START_DEADLINE_S, "to load")
        except AgentRefused as exc:
            raise InputError(f"agent file {path}: {exc}") from None
        if answer != ("ready", None):
            self.close()
            raise InputError(f"agent file {path}: {answer[1]}")

    def decide(self, home: int, knows: Knowledge, seed: int) -> Plan:
        """Home ``home``'s plan, or `AgentRefused` with the reason."""
        if self.stopped is not None:
            raise AgentRefused(self.stopped)
        try:
            self._to.send((home, knows, seed))
        except (OSError, ValueError) as exc:
            self._stop(f"the agent's process is gone ({exc})")
        kind, value = self._receive(self.deadline_s, "to decide")
        if kind != "plan":
            raise AgentRefused(value)
        return value  # type: ignore[return-value]

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _receive(self, deadline_s: float, what: str) -> tuple[str, object]:
        try:
            ready = self._from.poll(deadline_s)
        except (OSError, ValueError):
            ready = True  # closed: the read below says how
        if not ready:
            self._stop(f"no answer within {deadline_s:g} s {what} (stopped)")
        try:
            answer: tuple[str, object] = self._from.recv()
            return answer
        except (EOFError, OSError):
            try:
                code = self._process.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                code = None
            self._stop(f"the agent's process crashed (exit code {code})")
        raise AssertionError("unreachable")

    def _stop(self, reason: str) -> None:
        self.stopped = reason
        self.close()
        raise AgentRefused(reason)

    def close(self) -> None:
        """Stop the process (at once: it holds nothing of the run's)."""
        if self._process.poll() is None:
            self._process.kill()
        try:
            self._process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            pass
        for conn in (self._to, self._from):
            if not conn.closed:
                conn.close()


class HostedTrader:
    """One home's trader in an `AgentHost`: a `Trader` whose seed comes from the run's draws."""

    def __init__(self, host: AgentHost, home: int) -> None:
        self.host, self.home = host, home

    def decide(self, knows: Knowledge, rng: np.random.Generator) -> Plan:
        return self.host.decide(self.home, knows, int(rng.integers(2**63)))


def checked_plan(trader: Trader, knows: Knowledge, rng: np.random.Generator
                 ) -> tuple[Plan, str | None]:
    """``trader``'s plan for ``knows``, or no order and the reason the plan is not taken
    (`trader.refusal`, or the agent refused: `AgentRefused`)."""
    try:
        plan = trader.decide(knows, rng)
        reason = refusal(plan, knows)
    except AgentRefused as exc:
        reason = str(exc)
    return (plan, None) if reason is None else (Plan(None), reason)


def trader_class(path: Path) -> type:
    """The one class an agent file defines that has a ``decide`` method; `InputError`
    naming the file and the problem otherwise (the module's own error included)."""
    if not path.is_file():
        raise InputError(f"agent file {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"testbed_agent_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InputError(f"agent file {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - an agent's bug is named, not our traceback
        raise InputError(f"agent file {path}: importing it failed: "
                         f"{type(exc).__name__}: {exc}") from None
    found = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if c.__module__ == module.__name__ and callable(getattr(c, "decide", None))]
    if len(found) != 1:
        raise InputError(f"agent file {path}: expected one class with decide(knowledge, rng), "
                         f"found {len(found)}")
    return found[0]


def serve(path: str) -> None:
    """The agent's process: load the file, then answer each (home, knowledge, seed) read
    from standard input on standard output (the agent's own prints go to standard error)."""
    requests = Connection(os.dup(0), writable=False)
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # print() in the agent must not break the channel
    try:
        cls = trader_class(Path(path))
    except InputError as exc:
        answers.send(("error", str(exc).removeprefix(f"agent file {path}: ")))
        return
    answers.send(("ready", None))
    traders: dict[int, object] = {}
    while True:
        try:
            home, knows, seed = requests.recv()
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
            answers.send(answer)
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            answers.send(("error", f"its plan cannot be sent ({type(exc).__name__})"))


if __name__ == "__main__":
    serve(sys.argv[1])
