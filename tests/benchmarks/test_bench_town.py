"""`testbed bench town`: the default market on SimBench's MV+LV grid (its run is the bench's,
minutes long: not run here)."""

import subprocess
import sys
from datetime import UTC, datetime, time

import pytest

from testbed.benchmarks.town import TOWN, day_parts, run, scenario_for
from testbed.errors import InputError


def test_the_town_is_the_default_market_on_the_mv_lv_grid_with_every_home_modelled():
    day = scenario_for(1.0)
    assert day.grid.feeder == TOWN == "1-MVLV-semiurb-all-0-sw"
    assert day.physical == () and day.ledger.network is None
    assert day.intervals == 96 and day.market.privacy == "private"
    assert scenario_for(3 / 96).intervals == 3


def test_a_day_counts_start_up_the_first_interval_and_the_finish_once():
    assert day_parts(10.0, [14.0, 20.0, 22.5, 25.0], 27.0, 39.0) == (4.0, 6.0, 7.0, 12.0)


def test_a_town_day_is_not_priced_from_one_interval():
    with pytest.raises(InputError, match="two intervals or more, got 1"):
        run(days=1 / 96)


def test_a_town_starts_at_a_time_of_the_default_day():
    """`--start 12:00`: the same day from its noon, for as many intervals."""
    noon = scenario_for(2 / 96, time(12, 0))
    assert noon.time.start == datetime(2016, 7, 21, 12, 0, tzinfo=UTC)
    assert noon.intervals == 2 and noon.grid.feeder == TOWN
    assert scenario_for(2 / 96).time.start == datetime(2016, 7, 21, 0, 0, tzinfo=UTC)


def test_a_start_is_a_time_of_day_and_only_the_towns():
    with pytest.raises(InputError, match="--start: a time of day as HH:MM, got 'noon'"):
        run(days=2 / 96, start="noon")
    done = subprocess.run([sys.executable, "-m", "testbed", "bench", "kernels", "--start",
                           "12:00"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "--start: only for testbed bench town" in done.stderr


def test_an_intervals_part_of_the_day_begins_when_its_orders_are_placed():
    """The day is cut at each interval's orders placed: its clearing and grid control come
    next, before its first control step, so each part holds one clearing (at a noon, most of
    the interval); the control steps' marks are kept apart."""
    from testbed.benchmarks.year import RunPhases, _Sampler
    from testbed.events import OrdersPlaced, RunFinished

    phases = RunPhases(_Sampler())
    for k in range(3):
        phases._event(OrdersPlaced(k, 900 * k, (), ()))
    phases.progress(0)
    phases._event(RunFinished(None))
    assert len(phases.orders) == 3 and len(phases.starts) == 1
    assert phases.orders == sorted(phases.orders) <= [phases.finished] * 3
