import pytest

from testbed.errors import UserError
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
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(_write(tmp_path, BASE + extra))


def test_minimal_scenario_takes_defaults(tmp_path):
    s = load_scenario(_write(tmp_path, BASE))
    assert s.market.interval_s == 900 and s.households.pv_share == 0.35 and not s.physical


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(UserError, match="no such scenario"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "name = "))
    with pytest.raises(UserError, match="start: not an ISO 8601"):
        load_scenario(_write(tmp_path, BASE.replace("2016-06-01T00:00:00Z", "June")))

