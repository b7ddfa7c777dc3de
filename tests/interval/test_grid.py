"""The grid stage under the operator's control: a sunny noon with far more PV than the feeder
carries stays within the band, each home's curtailment is what its meter then misses, and what
no device could have prevented is named with its cause."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from grid_models import load_feeder
from testbed.agents.grid_gate import FeederGate
from testbed.agents.home import metered
from testbed.events import EventStream
from testbed.interval.block import EmbeddedLedger
from testbed.interval.grid import Grid
from testbed.interval.readings import readings
from testbed.market.params import Privacy
from testbed.neighbourhood import build
from testbed.run.compose import grid_limits, market_params
from testbed.run.keys import RunKeys
from testbed.scenario import load_scenario


@pytest.fixture(scope="module")
def sunny():
    s = load_scenario()
    s = replace(s, physical=(),
                time=replace(s.time, start=datetime(2016, 7, 21, 12, 0, tzinfo=UTC)),
                households=replace(s.households, pv_share=0.9, pv_kwp_min=15.0,
                                   pv_kwp_max=25.0))
    feeder = load_feeder(s.grid.feeder)
    hood = build(s.households, (), feeder, s.start_s, 900, 1, s.source)
    limits = grid_limits(s)
    return s, hood, Grid(feeder, hood, FeederGate(feeder, limits), limits, 900)


def test_export_limits_hold_the_band_and_the_meters_miss_the_curtailed_energy(sunny):
    s, hood, grid = sunny
    uncontrolled = grid.control(0, s.start_s, {}, {}, ())  # nothing sold: all surplus free
    solved = uncontrolled.solved
    assert solved.export_limited_kw > 1.0  # the operator had work to do
    assert solved.vm_max_pu <= s.grid.vm_max_pu + 1e-6
    assert not [v for v in solved.violations if v.cause is None]
    assert np.isfinite(uncontrolled.limit_kw).sum() > 0
    curtailed = np.array(uncontrolled.curtailed_wh)
    assert curtailed.sum() > 0 and (curtailed >= 0).all()

    keys = RunKeys.generate(len(hood.homes), 1)
    public = replace(market_params(s), privacy=Privacy.PUBLIC)  # no homes joined: no readers
    ledger = EmbeddedLedger.create(":memory:", keys.validators, public, s.start_s - 3600,
                                   EventStream(), keys.validators_view)
    battery = [0] * len(hood.homes)
    _, read = readings(0, s.start_s, hood.homes, keys.accounts, keys.meters, battery, {},
                       uncontrolled.curtailed_wh, 900, ledger)
    for home, r in zip(hood.homes, read):
        imported, exported = metered(home, 0, 0, 900)
        assert r.imported_wh - r.exported_wh == imported - exported + curtailed[r.home]
    ledger.close()


def test_a_substation_above_the_band_is_named_not_hidden(sunny):
    s, hood, _ = sunny
    feeder = load_feeder(s.grid.feeder)
    tight = replace(grid_limits(s), vm_max_pu=1.0)  # below the transformer's own 1.025 pu
    grid = Grid(feeder, hood, FeederGate(feeder, tight), tight, 900)
    state = grid.control(0, s.start_s, {}, {}, ())
    causes = {v.cause for v in state.solved.violations}
    assert state.solved.violations and None not in causes, state.solved.violations


def test_on_three_phases_every_phase_holds_the_band_and_the_figures_come_per_phase(sunny):
    """The same noon with the homes on their phases: the operator holds each phase within the
    band (the balanced flow would see no phase above its mean), and the event carries each
    phase's extremes, the unbalance and the neutral."""
    s, hood, balanced = sunny
    feeder = balanced.feeder.with_phases(hood.phases)
    limits = grid_limits(s)
    grid = Grid(feeder, hood, FeederGate(feeder, limits), limits, 900)
    solved = grid.control(0, s.start_s, {}, {}, ()).solved
    assert len(solved.vm_phase_pu) == 3 and len(solved.vm_phase_max_pu) == 3
    assert max(solved.vm_phase_max_pu) <= s.grid.vm_max_pu + 1e-6
    assert solved.vm_max_pu == max(solved.vm_phase_max_pu)
    assert solved.vm_min_pu == min(solved.vm_phase_min_pu)
    assert 0 < solved.vuf_max_percent <= s.grid.max_vuf_percent + 1e-6
    assert solved.neutral_loading_max_percent > 0
    assert not [v for v in solved.violations if v.cause is None]
    worst = np.array(solved.vm_phase_pu)  # a bus shows its phase furthest from 1 pu
    assert np.allclose(solved.vm_pu, worst[np.abs(worst - 1).argmax(axis=0),
                                           np.arange(worst.shape[1])])
