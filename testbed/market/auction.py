"""The double auction of one delivery interval: pure, integer, deterministic.

Rules (the contract and the proposer both call `match`, so they cannot disagree):

* Merit order: bids by price descending, offers by price ascending; equal prices by arrival
  (the order's sequence number on the chain).
* Volume: walk both curves matching the best remaining bid and offer while bid >= offer; the
  matched total Q is where the supply and demand curves cross.
* Pro-rata at the margin: every order strictly better than the marginal price of its side is
  filled completely; the orders at the marginal price share what is left of Q in proportion
  to their energy (`pro_rata`), so arriving first buys no priority at the margin.
* Uniform price (pay-as-clear): every price in [lo, hi] clears the market, where
  lo = max(last matched offer, best unfilled bid) and hi = min(last matched bid, best unfilled
  offer); the price is the midpoint, rounded down.
* Pay-as-bid: every trade is priced at the midpoint of its own bid and offer (rounded down);
  ``Matching.price_per_kwh`` still reports the uniform price as the interval's reference price.
* Trades: filled bids and filled offers, both in merit order, are paired front to front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from testbed.ledger.encoding import b32, u8, u64
from testbed.ledger.ids import PublicKey, TxId
from testbed.ledger.transactions import Side
from testbed.market.params import Mechanism


@dataclass(frozen=True)
class OpenOrder:
    """An order on the book (the contract's record of an accepted Order transaction)."""

    order_id: TxId = b32()  # the Order transaction's id
    owner: PublicKey = b32()
    interval: int = u64()
    side: int = u8()
    energy_wh: int = u64()
    price_per_kwh: int = u64()
    seq: int = u64()  # arrival on the chain: the time-priority tie-break
    locked_units: int = u64()  # money held in escrow for this order


@dataclass(frozen=True)
class Match:
    bid: TxId
    offer: TxId
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True)
class Matching:
    price_per_kwh: int  # the uniform clearing price; 0 when nothing trades
    matches: tuple[Match, ...]


def pro_rata(capacity: int, demands: Sequence[int]) -> list[int]:
    """Share ``capacity`` over ``demands`` in proportion, in integers.

    Everyone gets their demand if it all fits; otherwise each gets ``capacity * d // total``
    and the few units left by rounding go one each to the first non-zero demands in the given
    order (each of those got strictly less than its demand, and there are more of them than
    units left).
    """
    total = sum(demands)
    if capacity >= total:
        return list(demands)
    shares = [capacity * d // total for d in demands]
    left = capacity - sum(shares)
    for i, d in enumerate(demands):
        if left == 0:
            break
        if d:
            shares[i] += 1
            left -= 1
    return shares


def merit_order(orders: Sequence[OpenOrder], side: int) -> list[OpenOrder]:
    """Best first: bids by price descending, offers ascending, then by arrival."""
    sign = -1 if side == Side.BID else 1
    return sorted((o for o in orders if o.side == side),
                  key=lambda o: (sign * o.price_per_kwh, o.seq))


def _fills(book: list[OpenOrder], volume: int, marginal_price: int) -> list[int]:
    """Energy filled per order of one side's merit-ordered book, pro rata at the margin."""
    inside = [o.energy_wh if _better(o, marginal_price) else 0 for o in book]
    margin = [i for i, o in enumerate(book) if o.price_per_kwh == marginal_price]
    shares = pro_rata(volume - sum(inside), [book[i].energy_wh for i in margin])
    for i, share in zip(margin, shares):
        inside[i] = share
    return inside


def _better(order: OpenOrder, price: int) -> bool:
    return order.price_per_kwh > price if order.side == Side.BID else order.price_per_kwh < price


def match(orders: Sequence[OpenOrder], mechanism: int) -> Matching:
    """Clear one interval's orders (see the module's rules)."""
    bids, offers = merit_order(orders, Side.BID), merit_order(orders, Side.OFFER)
    i = j = volume = 0
    bid_left = bids[0].energy_wh if bids else 0
    offer_left = offers[0].energy_wh if offers else 0
    last_bid = last_offer = 0
    while i < len(bids) and j < len(offers) and bids[i].price_per_kwh >= offers[j].price_per_kwh:
        q = min(bid_left, offer_left)
        volume += q
        bid_left -= q
        offer_left -= q
        last_bid, last_offer = bids[i].price_per_kwh, offers[j].price_per_kwh
        if bid_left == 0:
            i += 1
            bid_left = bids[i].energy_wh if i < len(bids) else 0
        if offer_left == 0:
            j += 1
            offer_left = offers[j].energy_wh if j < len(offers) else 0
    if volume == 0:
        return Matching(0, ())
    lo = max(last_offer, bids[i].price_per_kwh) if i < len(bids) else last_offer
    hi = min(last_bid, offers[j].price_per_kwh) if j < len(offers) else last_bid
    price = (lo + hi) // 2
    bid_fill = _fills(bids, volume, last_bid)
    offer_fill = _fills(offers, volume, last_offer)
    return Matching(price, tuple(_pair(bids, bid_fill, offers, offer_fill, price, mechanism)))


def _pair(
    bids: list[OpenOrder], bid_fill: list[int], offers: list[OpenOrder], offer_fill: list[int],
    price: int, mechanism: int,
) -> list[Match]:
    """Pair filled bids with filled offers front to front (both sum to the same volume)."""
    b = [(o, f) for o, f in zip(bids, bid_fill) if f]
    s = [(o, f) for o, f in zip(offers, offer_fill) if f]
    out: list[Match] = []
    i = j = 0
    bid_left, offer_left = b[0][1], s[0][1]
    while i < len(b) and j < len(s):
        q = min(bid_left, offer_left)
        bid, offer = b[i][0], s[j][0]
        own = (bid.price_per_kwh + offer.price_per_kwh) // 2
        out.append(Match(bid.order_id, offer.order_id, q,
                         price if mechanism == Mechanism.PAY_AS_CLEAR else own))
        bid_left -= q
        offer_left -= q
        if bid_left == 0:
            i += 1
            bid_left = b[i][1] if i < len(b) else 0
        if offer_left == 0:
            j += 1
            offer_left = s[j][1] if j < len(s) else 0
    return out
