"""Generated scenario documents and options: every one is a scenario or one ScenarioError that
lists its problems; nothing else escapes (no traceback can reach a user)."""

import math
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import ScenarioError
from testbed.scenario import load_scenario, parse_scenario

KEYS = {
    "": ["name", "grid", "time", "market", "households", "ledger", "physical", "colour"],
    "grid": ["feeder", "vm_min_pu", "vm_max_pu", "max_line_loading_percent",
             "max_trafo_loading_percent", "bogus"],
    "time": ["start", "duration_hours", "real_time_factor", "control_step_s"],
    "market": ["interval_s", "gate_closure_s", "mechanism", "feed_in_price", "retail_price",
               "shortfall_penalty", "grid_fee"],
    "households": ["seed", "pv_share", "pv_kwp_min", "pv_kwp_max", "battery_share",
                   "battery_kwh", "battery_kw", "load_forecast_error", "pv_forecast_error",
                   "deposit", "strategy", "home", "homes"],
    "ledger": ["path", "validators"],
}
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["pay_as_clear", "flat:20", "zip:0.5", "agent.py", "distance:500", "1-LV-semiurb4--0-sw", "2016-07-21T00:00:00Z",
                     "home-04", "emulated", "../x", "", "/abs"]),
    st.datetimes(timezones=st.just(UTC)), st.dates(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _table(name):
    return st.dictionaries(st.sampled_from(KEYS[name]), values, max_size=len(KEYS[name]))


documents = st.fixed_dictionaries(
    {}, optional={"name": values, "grid": _table("grid") | values, "time": _table("time"),
                  "market": _table("market") | values, "households": _table("households"),
                  "ledger": _table("ledger") | values,
                  "physical": st.lists(st.dictionaries(st.sampled_from(
                      ["home", "inverter", "meter", "grid_simulator", "x"]), values), max_size=2),
                  "colour": values})


def _none_dropped(data):
    """TOML has no null: a generated None stands for a missing key."""
    if isinstance(data, dict):
        return {k: _none_dropped(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_none_dropped(v) for v in data if v is not None]
    return data


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_document_is_a_scenario_or_one_error_listing_its_problems(data):
    try:
        s = parse_scenario(_none_dropped(data), "fuzz")
    except ScenarioError as exc:
        assert exc.problems and "\n" not in str(exc)
        return
    assert s.intervals >= 1 and math.isfinite(s.time.duration_hours)
    assert s.time.start.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_option_values_are_a_scenario_or_one_error(days, step, rtf):
    try:
        s = load_scenario(days=days, control_step_s=step, real_time_factor=rtf)
    except ScenarioError as exc:
        assert exc.problems and "\n" not in str(exc)
        return
    assert s.intervals >= 1 and s.time.control_step_s > 0 and s.time.real_time_factor > 0
