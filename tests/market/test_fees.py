"""Grid fees worked out by hand: a flat fee from genesis, then the operator's tariff of pair
fees from a later interval, paid by the seller on delivered energy; and every refusal.

Defaults: feed-in 80, retail 300, penalty 100 per kWh; cost = Wh * price // 1000."""

import pytest

from testbed.ledger.transactions import SetGridFees, Side
from testbed.market.params import UTILITY, MarketParams, PaymentKind

from .conftest import VALIDATOR, Market, T
from .test_bad_input import refused

BID, OFFER = Side.BID, Side.OFFER
IV = 900


def _trade(m, interval, seller="S", buyer="B"):
    """B buys 1000 Wh of S at 200, both meters say it all flowed."""
    m.order(buyer, BID, 1000, 200, interval)
    m.order(seller, OFFER, 1000, 200, interval)
    m.clear(interval)
    m.read(buyer, 1000, 0, interval)
    m.read(seller, 0, 1000, interval)
    return m.settle(interval)


def _kinds(proposal):
    return {PaymentKind(p.kind).name: (p.payer, p.payee, p.amount_units)
            for p in proposal.body.payments}


@pytest.mark.parametrize("private", [False, True])
def test_flat_fee_then_the_operators_pair_fees(private):
    m = Market(["S", "B", "C"], MarketParams(grid_fee_per_kwh=15), deposit=5000,
               buses=[4, 7, 9], private=private)
    S, B = m.accounts["S"].public, m.accounts["B"].public
    # from T + IV: 5 flat, plus 30 from bus 4 to bus 7 (not the other way round)
    m.apply(VALIDATOR, SetGridFees(T + IV, 5, (4, 7), (0, 30, 0, 0)), T - 400)
    first = _trade(m, T)  # the genesis fee: 1000 Wh at 15
    assert _kinds(first)["GRID_FEE"] == (S, UTILITY, 15)
    assert _kinds(first)["TRADE"] == (B, S, 200)
    second = _trade(m, T + IV)  # 5 + 30
    assert _kinds(second)["GRID_FEE"] == (S, UTILITY, 35)
    third = _trade(m, T + 2 * IV, seller="B", buyer="S")  # bus 7 to bus 4: flat only
    assert _kinds(third)["GRID_FEE"] == (B, UTILITY, 5)
    assert m.balance("S") == 5000 + 200 - 15 + 200 - 35 - 200
    c = m.contract
    assert c.money_held() == c.money_in - c.money_out


def test_a_fee_on_delivered_energy_only_out_of_the_sellers_escrow():
    m = Market(["S", "B"], MarketParams(grid_fee_per_kwh=100), deposit=5000)
    m.order("B", BID, 1000, 200)
    m.order("S", OFFER, 1000, 200)
    m.clear()
    m.read("B", 1000, 0)
    m.read("S", 0, 400)  # 400 delivered, 600 short
    pay = _kinds(m.settle())
    assert pay["GRID_FEE"][2] == 40 and pay["PENALTY"][2] == 60  # 100 = the offer's escrow
    assert m.escrow("S") == 0


def test_refused_tariffs():
    m = Market(["S", "B"], MarketParams(shortfall_penalty_per_kwh=50))
    ok = SetGridFees(T, 10, (1, 2), (0, 40, 40, 0))
    gate = T - m.params.gate_closure_seconds
    refused(m, VALIDATOR, ok, gate, "after its gate closure")
    refused(m, m.accounts["S"], ok, 0, "only the operator may send it")
    refused(m, VALIDATOR, SetGridFees(T, 11, (1, 2), (0, 40, 40, 0)), 0,
            "above the shortfall penalty")
    refused(m, VALIDATOR, SetGridFees(T, 0, (2, 1), (0, 1, 1, 0)), 0, "ascending")
    refused(m, VALIDATOR, SetGridFees(T, 0, (1, 2), (0, 1, 1)), 0, "need 4")
    refused(m, VALIDATOR, SetGridFees(T + 1, 0), 0, "not a multiple")
    m.apply(VALIDATOR, ok, 0)
    assert m.contract.tariffs[T] == ok


def test_a_genesis_fee_above_the_penalty_is_refused():
    from testbed.ledger.state import Rejected

    with pytest.raises(Rejected, match="grid_fee_per_kwh above the shortfall penalty"):
        MarketParams(grid_fee_per_kwh=101).check()
