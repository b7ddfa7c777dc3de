"""A ledger checked while it is written: another process replays the file block by block as the
writer appends, by the same rules as `testbed verify` (`chain.Replay`), so that when the writer
is done the check nearly is too. On a machine with a spare core, the full replay a run owes its
ledger costs it almost nothing.

The follower reads the file as a second SQLite connection sees it (each commit as it lands) and
never writes to it. Told the writer is done, it reads the last blocks and answers with its
`VerifyReport` and the processor time the check took.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testbed.ledger.state import Contract
    from testbed.ledger.verify import VerifyReport

POLL_S = 0.05  # how often the follower looks for new blocks
_DONE = "done"


class Follower:
    """Replays ``path`` in a child process as it grows (``contract``: what makes the contract
    there, sent to it: a class, or a picklable recipe such as `market.verify.Executor`)."""

    def __init__(self, path: Path, contract: Callable[[], Contract] | None) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited
        self._conn, child = context.Pipe()              # threads, sockets or devices
        self._process = context.Process(target=_follow, args=(str(path), contract, child),
                                        name="ledger-follower", daemon=True)
        self._process.start()
        child.close()

    def finish(self, timeout_s: float) -> tuple[VerifyReport, float] | None:
        """The writer is done: the report and the check's processor seconds, or None when the
        follower died or did not answer in time (then replay in this process)."""
        try:
            self._conn.send(_DONE)
        except OSError:
            pass  # it already answered (an invalid block) and left
        try:
            answer = self._conn.recv() if self._conn.poll(timeout_s) else None
        except (OSError, EOFError):
            answer = None
        self.stop()
        return answer

    def stop(self) -> None:
        """End the follower now, whatever it was doing."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(5)
        self._conn.close()


def _follow(path: str, contract: Callable[[], Contract] | None, conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    _yield_to_the_writer()
    from testbed.errors import StoreError
    from testbed.ledger.chain import InvalidBlock, Replay, stored_blocks
    from testbed.ledger.store import open_store
    from testbed.ledger.verify import VerifyReport

    checked = Replay(contract() if contract is not None else None)
    store = None
    done = False
    cpu_s = 0.0  # spent reading and checking blocks (not starting up, not waiting)
    try:
        while True:
            done = done or (conn.poll(POLL_S) and conn.recv() == _DONE)
            started = time.process_time()
            store = store or open_store(path, live=True)
            for certified in stored_blocks(store, after=checked.height):
                checked.feed(certified)
            cpu_s += time.process_time() - started
            if done:
                break
        if checked.head is None:
            raise InvalidBlock(0, "the ledger holds no genesis block")
        h = checked.head
        report = VerifyReport(True, h.height + 1, checked.transactions, h.state_root,
                              head_hash=h.hash)
    except InvalidBlock as exc:
        report = VerifyReport(False, exc.height, 0, b"", str(exc))
    except (sqlite3.DatabaseError, StoreError) as exc:
        report = VerifyReport(False, 0, 0, b"", f"unreadable ledger: {exc}")
    finally:
        if store is not None:
            store.close()
    conn.send((report, cpu_s))


def _yield_to_the_writer() -> None:
    """Low priority, on one core (the kernels size their threads by the cores they may use,
    so they start one): the run is the critical path, the follower only has to keep up."""
    os.nice(10)
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})
