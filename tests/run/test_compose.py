from dataclasses import replace

import pytest

from testbed.errors import ScenarioError
from testbed.run.compose import timing
from testbed.scenario import load_scenario


def test_control_steps_must_divide_the_interval():
    s = load_scenario()
    assert timing(s, paced=True).steps_per_interval == 15  # 1 s steps at 60x: 60 s each
    assert timing(replace(s, time=replace(s.time, control_step_s=0.1)),
                  paced=True).steps_per_interval == 150
    assert timing(s, paced=False).steps_per_interval == 1
    with pytest.raises(ScenarioError, match="must divide the 900 s market interval"):
        timing(replace(s, time=replace(s.time, control_step_s=0.7)), paced=True)
