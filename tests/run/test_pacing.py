import time

import pytest

from testbed.run.pacing import Pacer


def test_schedule_does_not_drift_and_overruns_are_counted():
    pacer = Pacer(0.05)
    pacer.start()
    due = []
    for k in range(4):
        due.append(pacer.wait())
        if k == 1:
            time.sleep(0.06)  # this step overruns into the next one
        pacer.done()
    assert due == pytest.approx([k * 0.05 for k in range(4)])
    assert pacer.misses == 1
    assert pacer.lateness_s[2] >= 0.01  # the step after the overrun started late
    p50, p99 = pacer.jitter_ms()
    assert 0 <= p50 <= p99
