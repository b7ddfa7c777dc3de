"""A tiny market whose clearing and settlement were worked out by hand (in the comments).

Defaults: feed-in 80, retail 300, penalty 100 per kWh; cost = Wh * price // 1000.
"""

from hypothesis import given
from hypothesis import strategies as st

from testbed.ledger.transactions import Side
from testbed.market.auction import OpenOrder, match, pro_rata
from testbed.market.params import UTILITY, MarketParams, Mechanism, PaymentKind

from .conftest import Market

BID, OFFER = Side.BID, Side.OFFER


def test_pro_rata_rule():
    assert pro_rata(900, [800, 200]) == [720, 180]
    assert pro_rata(2, [1, 1, 1]) == [1, 1, 0]  # remainder to the first in order
    assert pro_rata(10, [3, 4]) == [3, 4]  # everything fits
    assert pro_rata(0, [5, 5]) == [0, 0]
    assert pro_rata(3, [0, 0, 5, 5]) == [0, 0, 2, 1]  # nothing for zero demands


@given(st.integers(0, 10**6), st.lists(st.integers(0, 10**5), max_size=12))
def test_pro_rata_bounds(capacity, demands):
    shares = pro_rata(capacity, demands)
    assert sum(shares) == min(capacity, sum(demands))
    assert all(0 <= s <= d for s, d in zip(shares, demands))


def test_pay_as_clear_price_where_curves_cross_and_full_settlement():
    m = Market(["A", "B", "C", "D"])
    a = m.order("A", BID, 1000, 250)
    m.order("B", BID, 500, 200)
    c = m.order("C", OFFER, 800, 100)
    d = m.order("D", OFFER, 1000, 220)
    # Escrow: bids at retail (1000*300/1000=300, 150), offers at the penalty (80, 100).
    assert [m.escrow(n) for n in "ABCD"] == [300, 150, 80, 100]
    # Curves: A@250 takes C@100 (800) and D@220 (200); B@200 < D@220 stops. Q = 1000.
    # lo = max(last offer 220, best unfilled bid 200) = 220; hi = min(last bid 250, D 220).
    body = m.clear()
    assert body.price_per_kwh == 220
    assert [(t.bid, t.offer, t.energy_wh, t.price_per_kwh) for t in body.trades] == [
        (a, c, 800, 220), (a, d, 200, 220)]
    # Escrow after clearing: A keeps 300, B released, C 80, D 200 Wh at penalty = 20.
    assert [m.escrow(n) for n in "ABCD"] == [300, 0, 80, 20]
    assert m.balance("B") == 1000
    # Meters: A imported 900 -> shares 720/180 over its trades; C exported 800; D only 100.
    m.read("A", 900, 0)
    m.read("C", 0, 800)
    m.read("D", 0, 100)
    proposal = m.settle()
    assert proposal.delivered_wh == (720, 100)
    pay = [(p.payer, p.payee, p.amount_units, p.kind) for p in proposal.body.payments]
    A, C, D = (m.accounts[n].public for n in "ACD")
    assert pay == [
        (A, C, 158, PaymentKind.TRADE),  # 720 Wh at 220
        (UTILITY, C, 6, PaymentKind.FEED_IN),  # 80 Wh exported but not taken, at 80
        (A, D, 22, PaymentKind.TRADE),  # 100 Wh at 220
        (A, UTILITY, 24, PaymentKind.RETAIL),  # 80 Wh A imported but D did not export, at 300
        (D, UTILITY, 10, PaymentKind.PENALTY),  # 100 Wh D sold but did not export, at 100
    ]
    assert [m.balance(n) for n in "ABCD"] == [796, 1000, 1164, 1012]
    assert [m.escrow(n) for n in "ABCD"] == [0, 0, 0, 0]
    c_ = m.contract
    assert (c_.money_in, c_.money_out) == (4006, 34)
    assert c_.money_held() == 3972


def test_pay_as_bid_with_pro_rata_at_the_margin():
    m = Market(["A", "B", "C"], MarketParams(mechanism=Mechanism.PAY_AS_BID))
    a = m.order("A", BID, 600, 200)
    b = m.order("B", BID, 400, 200)
    c = m.order("C", OFFER, 500, 100)
    # Q = 500; both bids at the marginal 200 share it 600:400 -> 300 / 200 (no time priority).
    # Offers exhausted: lo = max(100, unfilled bid 200) = 200, hi = last bid 200.
    # Pay-as-bid: each trade at (200 + 100) // 2 = 150; the reference price stays 200.
    body = m.clear()
    assert body.price_per_kwh == 200
    assert [(t.bid, t.offer, t.energy_wh, t.price_per_kwh) for t in body.trades] == [
        (a, c, 300, 150), (b, c, 200, 150)]
    # Missing readings rule: only B's meter reports; after the deadline A counts as zero
    # import and C as zero export: C pays the penalty on all 500 Wh, B buys its 200 at retail.
    m.read("B", 200, 0)
    proposal = m.settle(late=True)
    assert proposal.delivered_wh == (0, 0)
    B, C = m.accounts["B"].public, m.accounts["C"].public
    assert [(p.payer, p.payee, p.amount_units, p.kind) for p in proposal.body.payments] == [
        (C, UTILITY, 30, PaymentKind.PENALTY),  # 300 Wh at 100
        (B, UTILITY, 60, PaymentKind.RETAIL),  # 200 Wh at 300
        (C, UTILITY, 20, PaymentKind.PENALTY),  # 200 Wh at 100
    ]
    assert [m.balance(n) for n in "ABC"] == [1000, 940, 950]


def test_no_crossing_no_trade_and_price_zero():
    orders = [
        OpenOrder(b"b" * 32, b"x" * 32, 0, BID, 100, 90, 0, 0),
        OpenOrder(b"o" * 32, b"y" * 32, 0, OFFER, 100, 120, 1, 0),
    ]
    assert match(orders, Mechanism.PAY_AS_CLEAR).matches == ()
    assert match(orders, Mechanism.PAY_AS_CLEAR).price_per_kwh == 0
    assert match([], Mechanism.PAY_AS_CLEAR).price_per_kwh == 0


def test_excess_supply_prices_at_the_best_unfilled_offer_bound():
    # One bid 100 Wh @ 200; offers 100 @ 90 (seq 1) and 100 @ 150 (seq 2).
    # Q = 100 from the 90 offer; lo = 90, hi = min(200, next offer 150) = 150 -> 120.
    orders = [
        OpenOrder(b"b" * 32, b"x" * 32, 0, BID, 100, 200, 0, 0),
        OpenOrder(b"o" * 32, b"y" * 32, 0, OFFER, 100, 90, 1, 0),
        OpenOrder(b"p" * 32, b"z" * 32, 0, OFFER, 100, 150, 2, 0),
    ]
    result = match(orders, Mechanism.PAY_AS_CLEAR)
    assert result.price_per_kwh == 120
    assert [(x.offer, x.energy_wh) for x in result.matches] == [(b"o" * 32, 100)]
