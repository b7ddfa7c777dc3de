"""Scenario files: every key known, typed, finite and in range; every problem at once."""

import pytest

from testbed.errors import ScenarioError, TestbedError
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
        ("[market]\ngrid_fee = 'hourly:3'\n", "market.grid_fee: .*the mode is one of"),
        ("[market]\ngrid_fee = 'distance:150'\n",
         "market.grid_fee: up to 150 per kWh, above the shortfall penalty 100"),
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


@pytest.mark.parametrize("extra, message", [
    ("[time]\nduration_hours = inf\n", "time.duration_hours: must be a finite number"),
    ("[time]\nduration_hours = nan\n", "time.duration_hours: must be a finite number"),
    ("[time]\nduration_hours = 0.1\n", "hold no whole 900 s market interval"),
    ("[households]\nseed = -1\n", "households.seed: must be in [0, "),
    ("[households]\npv_kwp_max = inf\n", "households.pv_kwp_max: must be a finite number"),
    ("[households]\nbattery_kwh = -10\n", "households.battery_kwh: must be in [0, 1000]"),
    ("[households]\nhomes = 0\n", "households.homes: unknown key"),
    ("[ledger]\nvalidators = 0\n", "ledger.validators: must be in [1, 64]"),
    ("[ledger]\npath = '/etc/ledger.sqlite'\n", "ledger.path: a file name inside the run"),
    ("[market]\nfeed_in_price = 400\n", "market: market parameters: need 0 < feed-in price <= retail"),
])
def test_nonsense_is_refused(tmp_path, extra, message):
    text = BASE.replace("[time]\n", "[time]\n" + extra.split("\n", 1)[1]) if extra.startswith(
        "[time]") else BASE + extra
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(_write(tmp_path, text))


def test_the_phase_settings_are_read_and_checked(tmp_path):
    s = load_scenario(_write(tmp_path, BASE.replace(
        "[time]", 'phases = "unbalanced"\nmax_vuf_percent = 1.5\nsingle_phase_max_kva = 3.7\n'
                  '[[households.home]]\nname = "home-02"\nphase = "c"\n[time]')))
    assert (s.grid.phases, s.grid.max_vuf_percent, s.grid.single_phase_max_kva) == (
        "unbalanced", 1.5, 3.7)
    assert s.households.homes[0].phase == "c"
    assert load_scenario(_write(tmp_path, BASE)).grid.phases == "balanced"  # the default
    text = BASE.replace("[time]", 'phases = "three"\nmax_vuf_percent = 0\n'
                                  '[[households.home]]\nname = "home-02"\nphase = "n"\n[time]')
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, text))
    assert list(caught.value.problems) == [
        "grid.phases: one of balanced, unbalanced",
        "grid.max_vuf_percent: must be in (0, 100], got 0",
        "households.home[0].phase: one of a, b, c, abc"]


def test_every_problem_is_reported_at_once(tmp_path):
    text = "colour = 'blue'\n" + BASE + """[market]
interval_s = 'soon'
mechanism = 'lottery'
[households]
pv_share = 1.5
seed = -3
[[physical]]
home = 'home-01'
"""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, text))
    assert len(caught.value.problems) == 7, caught.value.problems
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 's.toml'}: 7 problems: ")


def test_options_are_checked_by_the_same_rules_and_named(tmp_path):
    path = _write(tmp_path, BASE)
    assert load_scenario(path, days=2).intervals == 192
    for days, why in ((float("inf"), "--days: must be in (0, 366], got inf"),
                      (0.001, "--days: 0.024 h hold no whole"),
                      (-1, "--days: must be in (0, 366], got -1")):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(path, days=days)
        assert why in str(caught.value)
    with pytest.raises(ScenarioError, match="--rtf: must be a finite number"):
        load_scenario(path, real_time_factor=float("nan"))


def test_binary_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ScenarioError, match="not a text file"):
        load_scenario(path)


def test_an_external_home_names_its_keys_and_trades_on_a_network(tmp_path):
    home = '[[households.home]]\nname = "home-02"\nagent = "external"\n'
    s = load_scenario(_write(tmp_path, BASE.replace("[time]", f'{home}keys = "h2"\n[time]')),
                      network="net")
    assert (s.households.homes[0].agent, s.households.homes[0].keys) == ("external", "h2")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, BASE.replace("[time]", f"{home}[time]")), network="net")
    assert "agent = \"external\" and keys = FOLDER go together" in caught.value.problems[0]
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, BASE.replace("[time]", f'{home}keys = "h2"\n[time]')))
    assert "an external agent trades on a network" in caught.value.problems[0]
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, BASE.replace(
            "[time]", '[[households.home]]\nname = "home-02"\nagent = "mine"\n[time]')))
    assert caught.value.problems[0] == "households.home[0].agent: one of external"
