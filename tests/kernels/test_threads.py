"""kernels.threads: every task runs exactly once, whoever takes it, and errors reach the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kernels import threads


@pytest.mark.parametrize("tasks", [0, 1, 2, 3, 17, 1000])
def test_every_task_runs_exactly_once(tasks):
    counts = np.zeros(tasks, dtype=np.int64)
    lock = threading.Lock()

    def kernel(ids):
        with lock:
            counts[ids] += 1

    threads.run_tasks(kernel, tasks, parallel=True)
    assert (counts == 1).all()


def test_a_failing_share_raises_on_the_calling_thread():
    def kernel(ids):
        if 5 in ids:
            raise ValueError("task 5")

    with pytest.raises(ValueError, match="task 5"):
        threads.run_tasks(kernel, 40, parallel=True)
