"""Spread a GIL-free kernel's tasks over the cores with plain threads.

Numba's own thread pool (prange on the OpenMP layer) spins at every barrier: on a shared
machine, where the other core is often busy, a verification call burnt nearly twice the CPU
time it used and ran slower on two threads than on one. Here the tasks are cut into a few
strided shares (so tasks of different cost mix) that the pool's threads and the calling thread
take in turn: the caller works too and never waits for a helper that has not been scheduled
yet, so a busy machine costs at most the help it could not give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import config

WORKERS = config.NUMBA_NUM_THREADS
"""Threads a batch is spread over: Numba's setting, the cores this process may use unless
NUMBA_NUM_THREADS says otherwise (a local network's nodes, sharing the machine, use one)."""
SHARES_PER_WORKER = 2
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="kernels")
    return _pool


class Tasks:
    """``kernel(task_ids)`` over range(tasks), started on the pool; ``wait()`` joins in."""

    def __init__(self, kernel: Callable[[np.ndarray], object], tasks: int) -> None:
        ids = np.arange(tasks, dtype=np.int64)
        count = max(1, min(tasks, WORKERS * SHARES_PER_WORKER))
        self._kernel = kernel
        # each share contiguous, as the serial path's ids are: a kernel then has one
        # signature, which `kernels.warm` compiles, rather than a second for strided views
        self._shares = iter([np.ascontiguousarray(ids[k::count])  # next() is atomic
                             for k in range(count)])
        self._left = count
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._error: Exception | None = None

    def start(self) -> Tasks:
        for _ in range(WORKERS - 1):
            _executor().submit(self._work)
        return self

    def wait(self) -> None:
        self._work()
        self._done.wait()
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        for ids in self._shares:
            try:
                self._kernel(ids)
            except Exception as error:  # noqa: BLE001 - re-raised by wait(), on the caller's thread
                self._error = error
            with self._lock:
                self._left -= 1
                if self._left == 0:
                    self._done.set()


def run_tasks(kernel: Callable[[np.ndarray], object], tasks: int, parallel: bool) -> None:
    """Run ``kernel(task_ids)`` on every task in range(tasks) and wait for it.

    The kernel must release the GIL (njit(nogil=True)) and write disjoint outputs per task.
    With ``parallel`` false, or one worker, it runs once on the calling thread.
    """
    if not parallel or WORKERS == 1 or tasks <= 1:
        kernel(np.arange(tasks, dtype=np.int64))
        return
    Tasks(kernel, tasks).start().wait()
