"""The neighbourhood: one home per load of the feeder, PV and batteries drawn by the seed or set
by hand."""

import pytest

from grid_models import load_feeder
from testbed.agents.home import Kind
from testbed.errors import TestbedError
from testbed.neighbourhood import build
from testbed.scenario import load_scenario

BASE = """
name = "t"
[grid]
feeder = "1-LV-semiurb4--0-sw"
[time]
start = "2016-06-01T00:00:00Z"
"""


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def _homes(s, steps):
    return build(s.households, [p.home for p in s.physical], load_feeder(s.grid.feeder),
                 s.start_s, s.market.interval_s, steps, s.source)


def test_homes_come_from_the_feeder_and_the_seed_decides_who_has_what():
    s = load_scenario()
    hood = _homes(s, 96)
    feeder = load_feeder(s.grid.feeder)
    assert [h.bus for h in hood.homes] == [int(b) for b in feeder.net.load.bus]
    assert all(h.load_kw.shape == (96,) for h in hood.homes)
    kinds = [h.kind for h in hood.homes]
    assert kinds.count(Kind.PV_OWNER) >= round(41 * s.households.pv_share)
    assert all(hood.homes[hood.index(name)].kind is Kind.PV_OWNER for name in hood.physical)
    pv = next(h for h in hood.homes if h.kind is Kind.PV_OWNER)
    assert pv.pv_kw.max() > 2.0 and pv.pv_kw[:16].max() == 0  # sunny noon, dark night
    assert [h.kind for h in _homes(s, 96).homes] == kinds


def test_homes_set_by_hand_override_the_seeded_draw(tmp_path):
    text = BASE + """
[[households.home]]
name = "home-03"
strategy = "pv_owner"
pv_kwp = 7.5
[[households.home]]
name = "home-05"
battery_kwh = 13.5
[[households.home]]
name = "home-06"
strategy = "household"
"""
    s = load_scenario(_write(tmp_path, text))
    hood = _homes(s, 4)
    homes = {h.name: h for h in hood.homes}
    assert homes["home-03"].kind is Kind.PV_OWNER and hood.pv_kwp[3] == 7.5
    assert homes["home-05"].battery.capacity_wh == 13_500
    assert homes["home-06"].kind is Kind.HOUSEHOLD and hood.pv_kwp[6] == 0.0
    with pytest.raises(TestbedError, match="strategy: one of"):
        load_scenario(_write(tmp_path, BASE + "[[households.home]]\nname='home-01'\n"
                                              "strategy='miner'\n"))
    bad = text.replace('name = "home-06"', 'name = "home-99"')
    with pytest.raises(TestbedError, match="households.home: no home home-99"):
        _homes(load_scenario(_write(tmp_path, bad)), 4)


def test_each_home_is_on_a_phase_and_larger_pv_on_all_three(tmp_path):
    """A phase per home drawn after everything else (the seeded homes are those of a scenario
    that never heard of phases), three phases for PV above the single-phase limit, a phase set
    by hand kept, and a single phase refused for PV too large for one."""
    text = BASE + """
[households]
pv_kwp_min = 2.0
pv_kwp_max = 9.0
[[households.home]]
name = "home-03"
pv_kwp = 3.0
phase = "b"
"""
    s = load_scenario(_write(tmp_path, text))
    hood = _homes(s, 4)
    assert set(hood.phases) <= {"a", "b", "c", "abc"} and len(hood.phases) == len(hood.homes)
    assert hood.phases[3] == "b"
    for kwp, phase in zip(hood.pv_kwp, hood.phases):
        assert (phase == "abc") == (kwp > 4.6), (kwp, phase)
    assert {"a", "b", "c"} <= set(hood.phases)
    unphased = load_scenario(_write(tmp_path, text.replace('phase = "b"\n', "")))
    assert [h.kind for h in _homes(unphased, 4).homes] == [h.kind for h in hood.homes]
    too_big = text.replace("pv_kwp = 3.0", "pv_kwp = 8.0")
    with pytest.raises(TestbedError, match=r"home-03: 8 kWp of PV is more than a single phase "
                                           r"takes \(4.6 kVA\): phase = \"abc\""):
        _homes(load_scenario(_write(tmp_path, too_big)), 4)
