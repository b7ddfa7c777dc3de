"""Spread a GIL-free kernel's tasks over the cores with plain threads.

Numba's own thread pool (prange on the OpenMP layer) spins at every barrier: on a shared
machine, where the other core is often busy, a verification call burnt nearly twice the CPU
time it used and ran slower on two threads than on one. Threads that block instead of spinning
keep both cores' worth of speed-up when the cores are free and lose little when they are not.
Each call is split into a few strided shares of its tasks (so tasks of different cost mix),
which the pool's threads take in turn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
SHARES_PER_WORKER = 2
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="kernels")
    return _pool


def start_tasks(kernel: Callable[[np.ndarray], object], tasks: int) -> list[Future]:
    """Submit ``kernel(task_ids)`` on the pool, in strided shares of range(tasks).

    The kernel must release the GIL (njit(nogil=True)) and write disjoint outputs per task;
    the caller waits on the returned futures.
    """
    ids = np.arange(tasks, dtype=np.int64)
    shares = max(1, min(tasks, WORKERS * SHARES_PER_WORKER))
    return [_executor().submit(kernel, ids[k::shares]) for k in range(shares)]


def run_tasks(kernel: Callable[[np.ndarray], object], tasks: int, parallel: bool) -> None:
    """Run ``kernel(task_ids)`` on every task in range(tasks) and wait for it.

    With ``parallel`` false, or one worker, or one task, it runs once on the calling thread.
    """
    if not parallel or WORKERS == 1 or tasks <= 1:
        kernel(np.arange(tasks, dtype=np.int64))
        return
    for future in start_tasks(kernel, tasks):
        future.result()
