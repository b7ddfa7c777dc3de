"""The validator thread: one thread that runs a node's jobs one at a time, the urgent first.

A node's event loop hands every job that costs processor time to this thread. Some are short
and on the path of every commit (a vote, a stream entry to apply, an append acknowledged);
others take tens of milliseconds (a proposal's validation, a batch of signatures). In arrival
order, a block's apply waited behind whatever validation or signature batch had come in
before it, on every node, one after the other; `URGENT` jobs now go first, and jobs of one
priority still run in arrival order (a proposal and the batch holding its transactions keep
their order, so no signature is checked twice).

Bounded by its callers: a node awaits each subscription's job before it takes that
subscription's next message, and holds at most `timing.MAX_QUEUED_SUBMISSIONS` submissions.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
URGENT = 0
"""Votes, stream entries, acknowledged appends: short, and every commit waits for them."""
NORMAL = 1
"""Everything else: proposals, transactions (a client's or another node's), ticks."""
_LAST = 2  # the sentinel that stops the thread, after every job queued before it


class Worker:
    """One thread running jobs by priority, then in arrival order."""

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def run(self, job: Callable[[], T], priority: int = NORMAL) -> asyncio.Future[T]:
        """``job``'s result (or exception), on the calling event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((priority, next(self._arrivals), (job, future, loop)))
        return future

    def shutdown(self) -> None:
        """Run every job queued so far, then stop the thread."""
        self._queue.put((_LAST, next(self._arrivals), None))
        self._thread.join()

    def _run(self) -> None:
        while True:
            _, _, item = self._queue.get()
            if item is None:
                return
            job, future, loop = item
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():  # its task was cancelled while the job ran
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
