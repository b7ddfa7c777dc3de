"""Sweep specs: the grid of cells, and every problem of the spec, its base scenario and its
cells reported at once, before anything runs."""

import re
import tomllib
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import ScenarioError
from testbed.sweep import example_text, load_sweep, parse_sweep


def test_the_grid_is_every_combination_checked_as_a_scenario(spec_file):
    spec = load_sweep(spec_file("""
        name = "grid"
        scenario = "base.toml"
        [axes]
        feeder = ["1-LV-rural1--0-sw", "1-LV-semiurb4--0-sw"]
        pv_share = [0.2, 0.6, 1.0]
        battery_share = 0.5
        seed = [1, 2]
        start = [2016-01-15, "2016-07-21T12:00:00Z"]
        days = [0.25]
    """))
    assert spec.name == "grid" and len(spec.cells) == 2 * 3 * 2 * 2
    assert len({c.id for c in spec.cells}) == len(spec.cells)
    first = spec.cells[0]
    assert first.parameters == {
        "feeder": "1-LV-rural1--0-sw", "phases": "balanced", "pv_share": 0.2,
        "battery_share": 0.5, "seed": 1, "start": "2016-01-15T00:00:00Z", "days": 0.25,
        "mechanism": "pay_as_clear", "strategy": "by_kind", "grid_fee": "none"}
    assert first.scenario.time.duration_hours == 6 and first.scenario.name == "sweep-test"
    assert first.scenario.grid.vm_max_pu == 1.03  # the base's other keys hold
    assert first.id == "1-LV-rural1--0-sw_pv0.2_bat0.5_seed1_20160115T0000_0.25d"


def test_balanced_against_unbalanced_is_one_axis(spec_file):
    spec = load_sweep(spec_file('scenario = "base.toml"\n[axes]\nphases = ["balanced", '
                                '"unbalanced"]\npv_share = [0.4]\n'))
    assert [c.parameters["phases"] for c in spec.cells] == ["balanced", "unbalanced"]
    assert [c.scenario.grid.phases for c in spec.cells] == ["balanced", "unbalanced"]
    balanced, unbalanced = (c.id for c in spec.cells)
    assert "_unbalanced_" in unbalanced and "unbalanced" not in balanced  # old ids kept
    with pytest.raises(ScenarioError, match="axes.phases: one of balanced, unbalanced"):
        load_sweep(spec_file('scenario = "base.toml"\n[axes]\nphases = ["three"]\n'))


def test_a_missing_axis_keeps_the_base_scenarios_value(spec_file):
    spec = load_sweep(spec_file('scenario = "base.toml"\n[axes]\npv_share = [0.1, 0.9]\n'))
    assert [c.parameters["start"] for c in spec.cells] == ["2016-07-21T11:00:00Z"] * 2
    assert {c.parameters["seed"] for c in spec.cells} == {7}
    assert spec.name == "sweep"  # the file's name


def test_the_example_is_a_few_cells_of_a_day_each():
    spec = parse_sweep(tomllib.loads(example_text()), "example", Path("."))
    assert 2 <= len(spec.cells) <= 8
    assert {c.parameters["days"] for c in spec.cells} == {1.0}


def test_every_problem_is_reported_at_once(spec_file):
    with pytest.raises(ScenarioError) as caught:
        load_sweep(spec_file("""
            name = "a name with spaces"
            colour = "blue"
            [axes]
            pv_share = [0.2, 1.5, "lots", 0.2]
            battery_share = []
            seed = [-1, 3]
            days = [0, 1, 400]
            start = ["yesterday"]
            flavour = [1]
            feeder = [["nested"]]
        """))
    problems = caught.value.problems
    expected = [
        "colour: unknown key",
        "name: a letter or digit, then",
        "axes.pv_share: 0.2 listed twice",
        "axes.battery_share: an empty list holds no cell",
        "axes.days: must be in (0, 366], got 0",
        "axes.days: must be in (0, 366], got 400",
        "axes.flavour: unknown axis",
        "axes.feeder: expected a value or a list of values",
        # the cells' values, checked by the scenario parser and named by their axis
        "axes.pv_share: must be in [0, 1], got 1.5",
        "axes.pv_share: expected a number, got 'lots'",
        "axes.seed: must be in [0, ",
        "axes.start: not an ISO 8601 time: 'yesterday'",
    ]
    for text in expected:
        assert sum(p.startswith(text) for p in problems) == 1, (text, problems)
    assert len(problems) == len(expected)
    assert re.match(r".*sweep\.toml: 12 problems: ", str(caught.value))


@pytest.mark.parametrize("text, message", [
    ('scenario = "missing.toml"\n', r"scenario: .*missing\.toml: no such scenario file"),
    ('scenario = "base.toml"\n[axes]\nfeeder = ""\n', "axes.feeder: must not be empty"),
    ("axes = 3\n", "axes: expected a table"),
    ("[axes]\ndays = 0.001\n", "axes.days: 0.024 h hold no whole 900 s market interval"),
    ("[axes]\nfeeder = ['a/x.json', 'b/x.json']\n", "feeders that share the cell id"),
    ("name = ", "not valid TOML"),
    ('name = ".."\n', "name: a letter or digit"),  # the output folder stays inside sweeps/
])
def test_single_problems_name_their_key(spec_file, text, message):
    with pytest.raises(ScenarioError, match=message):
        load_sweep(spec_file(text))


def test_a_bad_base_scenario_is_named(spec_file, tmp_path):
    (tmp_path / "bad.toml").write_text('name = "x"\n[grid]\nfeeder = "f"\nfeedr = 1\n')
    with pytest.raises(ScenarioError) as caught:
        load_sweep(spec_file('scenario = "bad.toml"\n[axes]\nseed = [1, 2]\n'))
    assert caught.value.problems == (
        f"scenario: {tmp_path / 'bad.toml'}: grid.feedr: unknown key",
        f"scenario: {tmp_path / 'bad.toml'}: time: missing",
    )


def test_no_spec_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such sweep spec"):
        load_sweep(tmp_path / "nope.toml")


toml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
              st.dates(), st.datetimes(),
              st.sampled_from(["1-LV-rural1--0-sw", "x.json", "..", "a\nb", " ", "default"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
axis_names = st.sampled_from(["feeder", "pv_share", "battery_share", "seed", "start", "days",
                              "colour"])


@settings(max_examples=150, deadline=None)
@given(top=st.dictionaries(st.sampled_from(["name", "scenario", "axes", "extra"]), toml_values,
                           max_size=3),
       axes=st.dictionaries(axis_names, toml_values, max_size=4))
def test_any_spec_is_a_sweep_or_one_scenario_error(top, axes):
    data = {**{k: v for k, v in top.items() if v is not None}, "axes": axes}
    data["axes"] = {k: v for k, v in axes.items() if v is not None}
    try:
        spec = parse_sweep(data, "fuzz", Path("."))
    except ScenarioError as exc:
        assert exc.problems and all(p.isprintable() for p in exc.problems)
        return
    for cell in spec.cells:
        assert isinstance(cell.scenario.households.pv_share, float)
        assert isinstance(cell.scenario.time.start, datetime | date)
        assert "/" not in cell.id and cell.id not in (".", "..")
