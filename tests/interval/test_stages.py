"""The interval's stages composed by hand, without the loop: noon on the default feeder
through the real ledger conserves money, delivers no more than the grid granted, and replays."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from grid_models import load_feeder
from testbed.agents.grid_gate import FeederGate
from testbed.agents.order_rules import ORDER_LEAD_S
from testbed.events import EventStream
from testbed.interval import clearing, settlement
from testbed.interval.block import EmbeddedLedger, signed, signed_all
from testbed.interval.grid import Grid
from testbed.interval.join import join
from testbed.interval.orders import Trading
from testbed.interval.readings import readings
from testbed.ledger.chain import Chain
from testbed.ledger.sealing import Keyring
from testbed.ledger.transactions import Order, Side
from testbed.market.contract import MarketContract
from testbed.market.params import affordable_wh
from testbed.neighbourhood import build
from testbed.run import appointments, registrations
from testbed.run.compose import grid_limits, market_params
from testbed.run.keys import RunKeys
from testbed.scenario import load_scenario

INTERVALS = 6


@pytest.fixture(scope="module")
def noon():
    s = load_scenario()
    s = replace(s, physical=(), time=replace(
        s.time, start=datetime(2016, 7, 21, 11, 30, tzinfo=UTC), duration_hours=1.5))
    feeder = load_feeder(s.grid.feeder)
    return s, feeder, _homes(s, feeder, INTERVALS)


def _homes(s, feeder, intervals):
    return build(s.households, (), feeder, s.start_s, 900, intervals, s.source)


def _ledger(path, s, hood, deposit):
    keys = RunKeys.generate(len(hood.homes), 1)
    params = market_params(s)
    ledger = EmbeddedLedger.create(path, keys.validators, params, s.start_s - 3600,
                                   EventStream(), keys.validators_view)
    join(ledger, registrations(hood.homes, keys), deposit, s.start_s - 3600,
         appointments(params, ledger, keys))
    return ledger, keys, params


def test_noon_through_every_stage_conserves_money_and_replays(noon, tmp_path):
    s, feeder, hood = noon
    path = tmp_path / "noon.sqlite"
    ledger, keys, params = _ledger(path, s, hood, s.households.deposit)
    home_of = {a.public: i for i, a in enumerate(keys.accounts)}
    trading = Trading(hood.homes, keys.accounts, params, s.households.seed)
    grid = Grid(feeder, hood, FeederGate(feeder, grid_limits(s)), grid_limits(s), 900)
    traded = granted = delivered = 0
    open_intervals = {}

    def settle(k):
        start, battery_wh, curtailed_wh = open_intervals.pop(k)
        txs, _ = readings(k, start, hood.homes, keys.accounts, keys.meters, battery_wh, {},
                          curtailed_wh, 900, ledger)
        ledger.commit(txs, start + 900)
        proposal = settlement.settle(ledger.contract, start)
        ledger.commit([signed(ledger, ledger.operator, proposal.body)], start + 900)
        return sum(proposal.delivered_wh)

    for k in range(INTERVALS):  # as the loop orders them: interval k - 1 settles after k clears
        start = s.start_s + 900 * k
        placed = trading.orders(k, start, ledger)
        ledger.commit(placed.transactions, start - 300 - ORDER_LEAD_S)  # sealed orders
        matched = clearing.match(ledger.contract, start, home_of, placed.reveals)
        body = clearing.decide(matched, grid.check(k, matched, {}))
        ledger.commit([signed(ledger, ledger.operator, body)], start - 300)
        sold = clearing.sold_wh(clearing.cleared(k, matched, body).trades)
        state = grid.control(k, start, {}, sold, ())
        assert not [v for v in state.solved.violations if v.cause is None]  # all prevented
        open_intervals[k] = (start, placed.battery_wh, state.curtailed_wh)
        traded += sum(t.energy_wh for t in body.trades)
        granted += sum(t.granted_wh for t in body.trades)
        if k > 0:
            delivered += settle(k - 1)
    delivered += settle(INTERVALS - 1)
    c = ledger.contract
    assert 0 < delivered <= granted <= traded
    assert c.money_held() == c.money_in - c.money_out
    held, height = c.money_held(), ledger.height
    ledger.close()
    chain = Chain.open(path, contract=MarketContract(Keyring([keys.validators_view])))
    try:
        assert chain.height == height and chain.state.contract.money_held() == held
    finally:
        chain.close()


def _evening(noon, privacy, deposit):
    s, feeder, _ = noon
    s = replace(s, time=replace(s.time, start=datetime(2016, 7, 21, 19, 0, tzinfo=UTC)),
                market=replace(s.market, privacy=privacy))
    hood = _homes(s, feeder, 1)  # evening: everyone bids
    ledger, keys, params = _ledger(":memory:", s, hood, deposit)
    placed = Trading(hood.homes, keys.accounts, params, 0).orders(0, s.start_s, ledger)
    ledger.commit(placed.transactions, s.start_s - 360)  # the contract takes them all
    return ledger, params, placed


def test_orders_are_cut_to_what_a_home_can_escrow(noon):
    ledger, params, placed = _evening(noon, "public", 30)
    cap = affordable_wh(params, Side.BID, 30)  # 30 units escrow about 100 Wh at retail
    bids = [o.energy_wh for o in placed.placed if o.side == "bid"]
    assert bids and all(wh <= cap for wh in bids)
    assert cap in bids  # some were cut
    ledger.close()


def test_a_sealed_order_locks_the_bond_or_the_whole_balance(noon):
    ledger, params, placed = _evening(noon, "private", 1030)  # above the unrevealed penalty
    locks = {tx.body.escrow_units for tx in placed.transactions}
    assert locks == {1030}  # the bond (30,000) is more than any home has
    cap = affordable_wh(params, Side.BID, 1030)
    assert all(o.energy_wh <= cap for o in placed.placed)
    ledger.close()
    ledger, _, placed = _evening(noon, "private", 999)  # below the penalty: no sealed order
    assert placed.transactions == () and placed.reveals == ()
    ledger.close()


def test_a_refused_batch_is_an_event_before_the_error(noon, tmp_path):
    from testbed.errors import LedgerError
    from testbed.events import TransactionRefused

    s, _, hood = noon
    ledger, keys, _ = _ledger(tmp_path / "refused.sqlite", s, hood, s.households.deposit)
    seen = []
    ledger.events.subscribe(seen.append)
    height = ledger.height
    order = signed(ledger, ledger.operator, registrations(hood.homes, keys)[0])
    with pytest.raises(LedgerError) as refused:  # registered already: the contract refuses
        ledger.commit([order], s.start_s)
    assert seen == [TransactionRefused(s.start_s, height + 1, str(refused.value))]
    assert ledger.height == height  # nothing committed


def test_a_batch_is_signed_as_one_by_one_with_a_keys_later_nonces(noon):
    s, _, hood = noon
    ledger, keys, _ = _ledger(":memory:", s, hood, 30)
    a, b = keys.accounts[0], keys.accounts[1]
    orders = [Order(s.start_s, Side.BID, 100 + i, 120) for i in range(3)]
    batch = signed_all(ledger, [(a, orders[0]), (b, orders[1]), (a, orders[2])])
    assert batch == [signed(ledger, a, orders[0]), signed(ledger, b, orders[1]),
                     signed(ledger, a, orders[2], later=1)]
    assert batch[2].nonce == batch[0].nonce + 1
    ledger.close()
