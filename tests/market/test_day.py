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
