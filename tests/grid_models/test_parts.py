"""A grid's parts (`grid_models.parts`) and the curtailment rounds that relieve the worst
element of several parts at once (screened, as on a town's grid: one probe a round here)."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandapower as pp
import pytest

from grid_models import (
    Injections,
    Inverters,
    Limits,
    TradeRequest,
    check_trades,
    compile_net,
    curtailment,
    export_limits,
)
from grid_models.inverters import InverterSettings
from grid_models.parts import parts_of

BAND = Limits(vm_max_pu=1.03)
FEEDERS = 3
HOMES = 4  # per feeder


@pytest.fixture(scope="module")
def town():
    """An MV bus (the slack) and ``FEEDERS`` transformers, each feeding a chain of ``HOMES``
    cable sections with a home at each bus; the LV buses of feeder f, in order."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0, name="mv")
    pp.create_ext_grid(net, mv, vm_pu=1.0)
    feeders = []
    for f in range(FEEDERS):
        buses = [pp.create_bus(net, 0.4, name=f"f{f}-0")]
        pp.create_transformer(net, mv, buses[0], std_type="0.4 MVA 20/0.4 kV")
        for k in range(1, HOMES + 1):
            buses.append(pp.create_bus(net, 0.4, name=f"f{f}-{k}"))
            pp.create_line(net, buses[-2], buses[-1], 0.15, "NAYY 4x150 SE")
            pp.create_load(net, buses[-1], p_mw=0.001)
        feeders.append(buses)
    net.line["max_i_ka"] = 10.0
    return net, compile_net(net), feeders


def test_each_feeder_below_its_transformer_is_a_part_below_the_mv(town):
    _, model, feeders = town
    parts = parts_of(model)
    assert len(parts.depth) == FEEDERS + 1
    lv = [{int(parts.node_part[model.bus_node[b]]) for b in buses} for buses in feeders]
    assert all(len(p) == 1 for p in lv) and len(set.union(*lv)) == FEEDERS
    (a,), (b,), *_ = lv
    assert parts.independent(a, b) and not parts.independent(a, parts.root)
    assert parts.above[a] == {a, parts.root}
    own = [parts.node_part[model.bus_node[b]] for buses in feeders for b in buses[1:]]
    reach = parts.unit_reach(model, model.load_columns[0])
    np.testing.assert_array_equal(reach[np.arange(len(own)), own], True)
    assert (reach.sum(axis=1) == 2).all() and reach[:, parts.root].all()  # its feeder, the MV
    two_parts = np.stack([model.load_columns[0][:, 0], model.load_columns[0][::-1, 0]], axis=1)
    between = parts.unit_reach(model, two_parts)  # the first HOMES trades: feeders 0 and 2
    assert between[:HOMES, [lv[0].pop(), lv[-1].pop(), parts.root]].all()
    assert (between[:HOMES].sum(axis=1) == 3).all()


def _limits(model, screened: bool, several: bool):
    pv = np.tile(np.linspace(20.0, 35.0, HOMES), FEEDERS) * np.repeat([1.0, 1.1, 1.2], HOMES)
    interval = Injections((1.0 - pv) / 1000.0, np.zeros(len(pv)), np.zeros(0), np.zeros(0))
    inverters = Inverters(np.full(len(pv), 40.0), pv, settings=InverterSettings(None, None))
    batches = []
    solve = curtailment.solve_with_inverters

    def counted(plan, s, *rest, **start):
        batches.append(len(s))
        return solve(plan, s, *rest, **start)

    with (mock.patch.object(curtailment, "EXACT_PROBES", 1 if screened else 32),
          mock.patch.object(curtailment, "solve_with_inverters", counted)):
        if several:
            return export_limits(model, interval, inverters, None, BAND), batches
        with mock.patch.object(curtailment, "_independent_worsts", lambda *a: []):
            return export_limits(model, interval, inverters, None, BAND), batches


def test_screened_rounds_relieve_every_feeder_at_once_within_the_band(town):
    """Each feeder over the band: the screened rounds that take each feeder's worst element
    at once end within the band in fewer power-flow batches than one element a round, and
    cut about as much (within 5 %); and the same twice. The exact rule (every candidate
    probed) is not affected by parts."""
    _, model, _ = town
    one, one_batches = _limits(model, screened=True, several=False)
    several, several_batches = _limits(model, screened=True, several=True)
    again, _ = _limits(model, screened=True, several=True)
    for result in (one, several):
        assert result.violations.violations == ()
        assert np.nanmax(result.result.vm_pu) <= BAND.vm_max_pu
    assert len(several_batches) < len(one_batches)
    assert (np.isfinite(several.limit_kw).reshape(FEEDERS, HOMES).any(axis=1)).all()
    cut_one, cut_several = one.export_limited_kw.sum(), several.export_limited_kw.sum()
    assert cut_one > 0 and abs(cut_several - cut_one) <= 0.05 * cut_one
    np.testing.assert_array_equal(again.limit_kw, several.limit_kw)
    exact, _ = _limits(model, screened=False, several=True)
    exact_alone, _ = _limits(model, screened=False, several=False)
    np.testing.assert_array_equal(exact.limit_kw, exact_alone.limit_kw)


def test_screened_trade_rounds_by_parts_leave_nothing_a_trade_could_relieve(town):
    """Trades within and between feeders over exporting homes, screened (the gate of a
    town's noon): the rounds by parts (a trade between feeders is below the MV) end with
    every granted set accepted in full when checked again, in fewer batches than one element
    a round, and repeat; a trade between feeders is a candidate of either feeder's element."""
    _, model, feeders = town
    pv = np.tile(np.linspace(10.0, 25.0, HOMES), FEEDERS)
    base = Injections((1.0 - pv) / 1000.0, np.zeros(len(pv)), np.zeros(0), np.zeros(0))
    sellers = [b for buses in feeders for b in buses[HOMES // 2 + 1:]]
    buyers = [b for buses in feeders[::-1] for b in buses[1:HOMES // 2 + 1]]
    trades = [TradeRequest(i, s, b, 60.0) for i, (s, b) in enumerate(zip(sellers, buyers))]
    runs = {}
    for several in (False, True):
        batches: list[int] = []
        solve = curtailment.solve_with_inverters

        def counted(plan, s, *rest, batches=batches, solve=solve, **start):
            batches.append(len(s))
            return solve(plan, s, *rest, **start)

        with (mock.patch.object(curtailment, "EXACT_PROBES", 1),
              mock.patch.object(curtailment, "solve_with_inverters", counted)):
            if several:
                runs[several] = (check_trades(model, base, trades, BAND,
                                              uncontracted_first=True), len(batches))
                again = check_trades(model, base, trades, BAND, uncontracted_first=True)
            else:
                with mock.patch.object(curtailment, "_independent_worsts", lambda *a: []):
                    runs[several] = (check_trades(model, base, trades, BAND,
                                                  uncontracted_first=True), len(batches))
    result, batches_several = runs[True]
    assert batches_several < runs[False][1]
    assert result.decisions == again.decisions
    assert any(d.status != "accepted" for d in result.decisions)
    granted = [TradeRequest(t.trade_id, t.seller_bus, t.buyer_bus, d.granted_kw)
               for t, d in zip(trades, result.decisions)]
    recheck = check_trades(model, base, granted, BAND, uncontracted_first=True)
    assert all(d.status == "accepted" for d in recheck.decisions)
