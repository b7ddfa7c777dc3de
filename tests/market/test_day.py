"""A market day through the real ledger: conservation, delivery bounds and a full replay."""

from testbed.ledger.chain import Chain
from testbed.market.contract import MarketContract
from testbed.market.day import run_day


def test_noon_hours_through_the_feeder_gate_conserve_money_and_replay(tmp_path):
    path = tmp_path / "day.sqlite"
    s = run_day(homes=12, steps=6, first_step=46, grid=True, path=str(path))
    assert s["intervals"] == 6 and s["intervals_with_trades"] > 0
    assert 0 < s["delivered_kwh"] <= s["granted_kwh"] <= s["traded_kwh"]
    assert 80 <= s["price_min"] <= s["price_mean"] <= s["price_max"] <= 300
    assert s["conservation_error"] == 0 and s["contract_conservation_error"] == 0
    assert s["paid_trade"] > 0
    chain = Chain.open(path, contract=MarketContract())  # replays every block and state root
    try:
        assert chain.height + 1 == s["blocks"]
        assert chain.state.contract.money_held() == s["money_held"]
    finally:
        chain.close()


def test_orders_are_cut_to_what_a_home_can_escrow():
    from testbed.market.day import day_start, open_day, order_block
    from testbed.market.params import MarketParams, affordable_wh, escrow
    from testbed.market.strategies import feeder_homes

    params = MarketParams()
    day = open_day(feeder_homes(12, 200, 0), day_start(200), params=params, deposit=30)
    try:
        block = order_block(day, 76)  # evening: everyone bids; 30 units escrow ~100 Wh
        cap = affordable_wh(params, 1, 30)
        assert block.transactions
        assert all(tx.body.energy_wh <= cap for tx in block.transactions)
        assert any(tx.body.energy_wh == cap for tx in block.transactions)  # some were cut
        assert escrow(params, 1, cap) <= 30 < escrow(params, 1, cap + 1)
    finally:
        day.chain.close()
