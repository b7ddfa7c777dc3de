from dataclasses import replace

import pytest

from testbed.errors import TestbedError
from testbed.loop import _steps_per_interval
from testbed.scenario import load_scenario


def test_control_steps_must_divide_the_interval():
    s = load_scenario()
    assert _steps_per_interval(s) == 15  # 1 s steps at 60x: 60 s of scenario time each
    assert _steps_per_interval(replace(s, time=replace(s.time, control_step_s=0.1))) == 150
    with pytest.raises(TestbedError, match="must divide the 900 s market interval"):
        _steps_per_interval(replace(s, time=replace(s.time, control_step_s=0.7)))
