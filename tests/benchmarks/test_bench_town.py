"""`testbed bench town`: the default market on SimBench's MV+LV grid (its run is the bench's,
minutes long: not run here)."""

from testbed.benchmarks.town import TOWN, scenario_for


def test_the_town_is_the_default_market_on_the_mv_lv_grid_with_every_home_modelled():
    day = scenario_for(1.0)
    assert day.grid.feeder == TOWN == "1-MVLV-semiurb-all-0-sw"
    assert day.physical == () and day.ledger.network is None
    assert day.intervals == 96 and day.market.privacy == "private"
    assert scenario_for(2 / 96).intervals == 2
