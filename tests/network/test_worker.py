"""The validator thread's queue: urgent jobs first, then arrival order; errors reach the
caller; shutdown runs what was queued."""

import asyncio
import threading

import pytest

from testbed.network.worker import NORMAL, URGENT, Worker


def test_urgent_jobs_overtake_queued_ones_and_each_priority_keeps_its_order():
    async def scenario() -> list[str]:
        worker = Worker("test-validator")
        ran: list[str] = []
        started, release = threading.Event(), threading.Event()

        def blocker() -> None:
            started.set()
            assert release.wait(10)
            ran.append("blocker")

        first = worker.run(blocker)
        assert await asyncio.to_thread(started.wait, 10)  # the thread is busy from here on
        futures = [worker.run(lambda name=name: ran.append(name), priority)
                   for name, priority in (("proposal", NORMAL), ("vote", URGENT),
                                          ("batch", NORMAL), ("entry", URGENT))]
        release.set()
        await asyncio.wait_for(asyncio.gather(first, *futures), 10)
        worker.shutdown()
        return ran

    assert asyncio.run(scenario()) == ["blocker", "vote", "entry", "proposal", "batch"]


def test_a_failing_job_raises_in_its_caller_and_the_thread_goes_on():
    async def scenario() -> int:
        worker = Worker("test-validator")

        def fails() -> None:
            raise ValueError("malformed")

        with pytest.raises(ValueError, match="malformed"):
            await asyncio.wait_for(worker.run(fails), 10)
        result = await asyncio.wait_for(worker.run(lambda: 42, URGENT), 10)
        worker.shutdown()
        return result

    assert asyncio.run(scenario()) == 42


def test_shutdown_runs_what_was_queued_before_it():
    async def scenario() -> list[int]:
        worker = Worker("test-validator")
        ran: list[int] = []
        futures = [worker.run(lambda i=i: ran.append(i)) for i in range(5)]
        worker.shutdown()
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        return ran

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4]
