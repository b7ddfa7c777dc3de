"""The curtailment rule's screened rounds (`EXACT_PROBES` exceeded, as on a town's grid),
exercised on small feeders by allowing a single probe a round."""

from __future__ import annotations

import dataclasses
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grid_models import (
    Injections,
    Limits,
    TradeRequest,
    check_trades,
    compile_net,
    curtailment,
    export_limits_batch,
    load_feeder,
)
from tests.grid_models.conftest import doubled_pv_intervals, radial_feeder

BAND = Limits(vm_max_pu=1.03)


def screened():
    return mock.patch.object(curtailment, "EXACT_PROBES", 1)


def test_screened_rounds_keep_the_band_and_cut_about_what_the_exact_rule_cuts():
    """semiurb4's 41 homes, 40 % with doubled PV, the twelve intervals furthest above a
    1.03 pu band: screened rounds (one probe each, whole cuts) end within the band, as the
    exact rule does, curtailing within 5 % of its energy; and the same twice."""
    feeder = load_feeder("1-LV-semiurb4--0-sw")
    intervals, inverters, _ = doubled_pv_intervals(12)
    exact = export_limits_batch(feeder, intervals, inverters, None, BAND)
    with screened():
        first = export_limits_batch(feeder, intervals, inverters, None, BAND)
        second = export_limits_batch(feeder, intervals, inverters, None, BAND)
    for results in (exact, first):
        assert all(r.violations.violations == () for r in results)
        assert max(np.nanmax(r.result.vm_pu) for r in results) <= BAND.vm_max_pu
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.limit_kw, b.limit_kw)
        finite = np.isfinite(a.limit_kw)
        np.testing.assert_allclose(a.limit_kw[finite] * 1000,
                                   np.round(a.limit_kw[finite] * 1000), atol=1e-6)
    cut_exact = sum(r.export_limited_kw.sum() for r in exact)
    cut_screened = sum(r.export_limited_kw.sum() for r in first)
    assert cut_exact > 0
    assert abs(cut_screened - cut_exact) <= 0.05 * cut_exact


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 6), st.floats(0.0, 300.0)),
                min_size=2, max_size=8))
@example([(1, 0, 0.0), (1, 0, 128.0625)])  # 128.062 kW granted is 128062.00000000001 W in floats
def test_screened_trade_decisions_are_feasible_whole_watts_and_repeatable(raw):
    """Trades on a 0.9 km chain, screened: every granted set is accepted in full when checked
    again (no limit left that a cut could fix), grants are whole watts within the requests,
    and the decisions repeat."""
    net, bus = radial_feeder(6, 0.15)
    model, base = compile_net(net), Injections.from_net(net)
    trades = [TradeRequest(i, bus[s], bus[b], kw) for i, (s, b, kw) in enumerate(raw)]
    with screened():
        result = check_trades(model, base, trades)
        assert _decided(result) == _decided(check_trades(model, base, trades))
    for trade, decision in zip(trades, result.decisions):
        requested_w = round(trade.kw * 1000)  # whole watts, as check_trades rounds them
        granted_w = decision.granted_kw * 1000
        assert abs(granted_w - round(granted_w)) < 1e-6 and 0 <= round(granted_w) <= requested_w
        assert (decision.status == "accepted") == (decision.binding is None)
    granted = [dataclasses.replace(t, kw=d.granted_kw) for t, d in zip(trades, result.decisions)]
    again = check_trades(model, base, granted)
    assert all(d.status == "accepted" for d in again.decisions)


def _decided(result) -> list[tuple]:
    """The decisions, comparable when a binding constraint holds NaN (a set that did not
    converge)."""
    return [(d.trade_id, d.status, d.granted_kw, d.binding and (d.binding.element,
                                                                 d.binding.kind))
            for d in result.decisions]


def _search(high: int, predicted: float, excess_of) -> tuple[int, list[np.ndarray]]:
    """Run the rule's search for a unit's largest grant on a given excess, batch by batch."""
    search = curtailment._search(high, predicted)
    batches: list[np.ndarray] = []
    try:
        batches.append(next(search))
        while True:
            batches.append(search.send(np.array([excess_of(g) for g in batches[-1]], float)))
    except StopIteration as stop:
        return stop.value, batches


@settings(max_examples=200, deadline=None)
@given(high=st.integers(1, 20_000), crossing=st.floats(-50.0, 20_000.0),
       per_watt=st.floats(1e-9, 1e-3), bend=st.floats(0.0, 1e-7),
       miss=st.floats(-1.0, 1.0))
@example(high=1, crossing=0.0, per_watt=1e-6, bend=0.0, miss=0.0)  # only 0 to try: within
@example(high=5000, crossing=-1.0, per_watt=1e-6, bend=0.0, miss=0.0)  # not even 0 is
def test_the_search_finds_the_largest_grant_within_wherever_its_prediction_lands(
        high, crossing, per_watt, bend, miss):
    """Wherever the excess rises with the grant (linear, or bending upward), the search
    answers what trying every grant answers, tries no grant twice and none outside
    [0, high), however far its prediction is off (``miss``: a share of ``high``)."""
    def excess_of(g: int) -> float:
        return per_watt * (g - crossing) + bend * max(g - crossing, 0.0) ** 2

    if not excess_of(high) > 0:
        return  # the search starts from a grant known to exceed
    want = max((g for g in range(high) if excess_of(g) <= 0), default=0)
    got, batches = _search(high, crossing + miss * high, excess_of)
    tried = np.concatenate([np.zeros(0, np.int64), *batches])
    assert got == want
    assert len(set(tried.tolist())) == len(tried) and ((tried >= 0) & (tried < high)).all()


def test_a_search_predicted_within_a_watt_takes_one_batch_of_a_few_grants():
    """On a linear excess predicted to within a watt, one batch of at most ten grants,
    where the rule's first search tried 33 grants a batch, three batches for 5 kW."""
    got, batches = _search(5000, 3210.4, lambda g: 1e-6 * (g - 3210.7))
    assert got == 3210 and len(batches) == 1 and len(batches[0]) <= 10
