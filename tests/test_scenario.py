import pytest

from testbed.errors import TestbedError
from testbed.scenario import load_scenario


def test_default_scenario_loads():
    s = load_scenario()
    assert s.grid.feeder == "1-LV-semiurb4--0-sw"
    assert s.intervals == 96 and len(s.physical) == 2
    assert s.physical[0].inverter.limits["max_export_kw"] == 10.0


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


BASE = """
name = "t"
[grid]
feeder = "cigre_lv"
[time]
start = "2016-06-01T00:00:00Z"
"""


@pytest.mark.parametrize(
    "extra, message",
    [
        ("[market]\nintervall_s = 900\n", "market.intervall_s: unknown key"),
        ("[market]\ninterval_s = '900'\n", "market.interval_s: expected int"),
        ("[market]\nmechanism = 'lottery'\n", "market.mechanism"),
        ("[households]\npv_share = 1.5\n", "households"),
        ("colour = 'blue'\n", "colour: unknown key"),
        ("[[physical]]\nhome = 'home-01'\n", "physical[0].inverter: missing"),
        (("[[physical]]\nhome = 'home-01'\n"
         "inverter = {resource='x', profile='p', max_export_kw='lots'}\n"
         "meter = {resource='y', profile='q'}\n"),
         "physical[0].inverter.max_export_kw: expected"),
    ],
)
def test_bad_keys_are_named(tmp_path, extra, message):
    with pytest.raises(TestbedError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(_write(tmp_path, BASE + extra))


def test_minimal_scenario_takes_defaults(tmp_path):
    s = load_scenario(_write(tmp_path, BASE))
    assert s.market.interval_s == 900 and s.households.pv_share == 0.35 and not s.physical


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(TestbedError, match="no such scenario"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(TestbedError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "name = "))
    with pytest.raises(TestbedError, match="start: not an ISO 8601"):
        load_scenario(_write(tmp_path, BASE.replace("2016-06-01T00:00:00Z", "June")))



def test_homes_set_by_hand_override_the_seeded_draw(tmp_path):
    from grid_models import load_feeder
    from testbed.market.strategies import Kind
    from testbed.neighbourhood import build

    text = BASE.replace("cigre_lv", "1-LV-semiurb4--0-sw") + """
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
    hood = build(s, load_feeder(s.grid.feeder), 4)
    homes = {h.name: h for h in hood.homes}
    assert homes["home-03"].kind is Kind.PV_OWNER and hood.pv_kwp[3] == 7.5
    assert homes["home-05"].battery.capacity_wh == 13_500
    assert homes["home-06"].kind is Kind.HOUSEHOLD and hood.pv_kwp[6] == 0.0
    with pytest.raises(TestbedError, match="strategy: one of"):
        load_scenario(_write(tmp_path, BASE + "[[households.home]]\nname='home-01'\n"
                                              "strategy='miner'\n"))
    bad = text.replace('name = "home-06"', 'name = "home-99"')
    with pytest.raises(TestbedError, match="households.home: no home home-99"):
        build(load_scenario(_write(tmp_path, bad)), load_feeder(s.grid.feeder), 4)
