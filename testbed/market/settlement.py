"""Delivery verification and payments of one cleared interval: pure, integer, deterministic.

Rules (the contract and the proposer both call `settle_trades`):

* Allocation: a buyer's imported energy is shared over its trades of the interval in
  proportion to their granted energy (`auction.pro_rata`, in clearing order); likewise a
  seller's exported energy over its trades. A trade's share is never above its granted energy.
* Delivered energy of a trade = min(buyer's share, seller's share): never more than traded,
  imported or exported.
* Payments per trade, each rounded down (`params.cost`), zero amounts omitted:
  TRADE    buyer -> seller   delivered energy at the trade price;
  GRID_FEE seller -> utility delivered energy at the trade's grid fee (`fees`);
  RETAIL   buyer -> utility  the buyer's share not delivered (it came from the grid) at retail;
  FEED_IN  utility -> seller the seller's share not taken by the buyer, at the feed-in tariff;
  PENALTY  seller -> utility granted energy the seller did not export, at the penalty rate.
* Missing readings (none posted by the deadline) count as zero import and zero export: the
  seller pays the full penalty, the buyer pays nothing for energy it did not prove it took.
* Energy outside market positions (consumption beyond bids, export beyond offers) is the
  utility's ordinary business and is not settled on chain.

Bounds that make escrow sufficient: a bid's charges are at most granted energy at retail and
an offer's at most granted energy at the penalty rate (its grid fee, at most the penalty rate,
on delivered energy, plus the penalty on the rest of its granted energy; floors sum to at
most the floor of the sum), which is what the contract keeps locked after clearing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from testbed.ledger.ids import PublicKey, TxId
from testbed.ledger.transactions import Payment, Trade
from testbed.market.auction import pro_rata
from testbed.market.params import UTILITY, MarketParams, PaymentKind, cost


@dataclass(frozen=True)
class Reading:
    imported_wh: int
    exported_wh: int


NO_READING = Reading(0, 0)


@dataclass(frozen=True)
class SettlementResult:
    delivered_wh: tuple[int, ...]  # per trade, in clearing order
    payments: tuple[Payment, ...]
    charged: dict[TxId, int]  # order id -> money drawn from that order's escrow
    took_wh: tuple[int, ...] = ()  # per trade: the buyer's share of its imported energy
    gave_wh: tuple[int, ...] = ()  # per trade: the seller's share of its exported energy


def _shares(
    trades: Sequence[Trade], party_of: Sequence[PublicKey], available: Mapping[PublicKey, int]
) -> list[int]:
    """Each trade's share of its party's measured energy (pro rata over that party's trades)."""
    by_party: dict[PublicKey, list[int]] = defaultdict(list)
    for k, party in enumerate(party_of):
        by_party[party].append(k)
    shares = [0] * len(trades)
    for party in sorted(by_party):
        idx = by_party[party]
        for k, share in zip(idx, pro_rata(available[party], [trades[k].granted_wh for k in idx])):
            shares[k] = share
    return shares


def settle_trades(
    trades: Sequence[Trade],
    owners: Mapping[TxId, PublicKey],
    readings: Mapping[PublicKey, Reading],
    params: MarketParams,
    fees_per_kwh: Sequence[int] = (),
) -> SettlementResult:
    """Delivered energy and payments of an interval's ``trades``.

    ``owners`` maps order ids to participants; ``readings`` maps participants to what their
    meters measured (absent: `NO_READING`); ``fees_per_kwh``, each trade's grid fee (none:
    no fees).
    """
    fees = fees_per_kwh or (0,) * len(trades)
    buyers = [owners[t.bid] for t in trades]
    sellers = [owners[t.offer] for t in trades]
    imported = {p: readings.get(p, NO_READING).imported_wh for p in buyers}
    exported = {p: readings.get(p, NO_READING).exported_wh for p in sellers}
    took = _shares(trades, buyers, imported)
    gave = _shares(trades, sellers, exported)
    delivered: list[int] = []
    payments: list[Payment] = []
    charged: dict[TxId, int] = defaultdict(int)
    for t, buyer, seller, b, s, fee in zip(trades, buyers, sellers, took, gave, fees,
                                           strict=True):
        d = min(b, s)
        delivered.append(d)
        items = (
            (buyer, seller, cost(d, t.price_per_kwh), PaymentKind.TRADE, t.bid),
            (seller, UTILITY, cost(d, fee), PaymentKind.GRID_FEE, t.offer),
            (buyer, UTILITY, cost(b - d, params.retail_price_per_kwh), PaymentKind.RETAIL, t.bid),
            (UTILITY, seller, cost(s - d, params.feed_in_price_per_kwh), PaymentKind.FEED_IN, None),
            (seller, UTILITY, cost(t.granted_wh - s, params.shortfall_penalty_per_kwh),
             PaymentKind.PENALTY, t.offer),
        )
        for payer, payee, amount, kind, from_order in items:
            if amount:
                payments.append(Payment(payer, payee, amount, int(kind)))
                if from_order is not None:
                    charged[from_order] += amount
    return SettlementResult(tuple(delivered), tuple(payments), dict(charged), tuple(took),
                            tuple(gave))
