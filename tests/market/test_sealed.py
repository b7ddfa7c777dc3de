"""Sealed bids: committed before gate closure, revealed after it; a mismatch, an early or late
reveal refused; an order never revealed forfeits its penalty, money conserved to the unit."""

from dataclasses import replace

import pytest

from testbed.agents.proposer import gated_clearing, settle
from testbed.ledger import encoding as enc
from testbed.ledger.transactions import OrderCommitment, OrderReveal, Reveal, Side
from testbed.market.params import UTILITY, MarketParams, PaymentKind
from testbed.market.sealed import bond_units, commitment, relay

from .conftest import CHAIN_ID, VALIDATOR, Market, T
from .test_bad_input import BEFORE_GATE, END, GATE, refused

BID, OFFER = Side.BID, Side.OFFER
PARAMS = MarketParams(unrevealed_penalty_units=50)
DEPOSIT = 10_000


@pytest.fixture
def m() -> Market:
    return Market(["A", "B", "C"], PARAMS, deposit=DEPOSIT, private=True)


def own(*reveals: Reveal) -> OrderReveal:
    """A home's transaction revealing its own sealed orders."""
    return OrderReveal(reveals)


def conserved(m: Market) -> None:
    c = m.contract
    assert c.money_held() == c.money_in - c.money_out


def test_a_sealed_order_trades_like_a_plain_one(m):
    a = m.order("A", BID, 1000, 250, lock=2000)
    c = m.order("C", OFFER, 800, 100, lock=2000)
    assert m.escrow("A") == 2000 and m.balance("A") == DEPOSIT - 2000  # the lock, not the order
    assert m.contract.book(T) == []  # nothing on the book before the reveals
    body = m.clear()
    assert m.escrow("A") == 240 and m.escrow("C") == 80  # each order's own escrow after clearing
    assert [(t.bid, t.offer, t.energy_wh) for t in body.trades] == [(a, c, 800)]
    m.read("A", 800, 0)
    m.read("C", 0, 800)
    m.settle()
    assert m.escrow("A") == m.escrow("C") == 0
    conserved(m)


def test_time_priority_is_the_commitment_arrival(m):
    first = m.order("A", BID, 500, 200, lock=2000)
    second = m.order("B", BID, 500, 200, lock=2000)
    m.order("C", OFFER, 500, 100, lock=2000)
    m.reveal()  # revealed in this order, but committed in the other
    seqs = {o.order_id: o.seq for o in m.contract.book(T)}
    assert seqs[first] < seqs[second]


def test_the_commitment_shows_neither_side_energy_nor_price(m):
    m.order("A", BID, 1234, 271, lock=2000)
    raw = next(iter(m.contract.commitments.values()))
    committed = enc.encode(raw)
    for field in (enc.encode(1234, enc.U64), enc.encode(271, enc.U64)):
        assert field not in committed


def test_a_reveal_that_does_not_match_is_refused(m):
    txid = m.order("A", BID, 1000, 250, lock=2000)
    good = m.reveals[txid][2]
    for wrong in (replace(good, price_per_kwh=251), replace(good, energy_wh=999),
                  replace(good, side=OFFER), replace(good, salt=bytes(16))):
        refused(m, m.accounts["A"], own(wrong), GATE, "does not match the commitment")
    refused(m, m.accounts["B"], own(good), GATE, "is not")  # someone else's
    m.apply(m.accounts["A"], own(good), GATE)
    refused(m, m.accounts["A"], own(good), GATE, "already revealed")


def test_a_copied_commitment_cannot_be_revealed_by_the_copier(m):
    txid = m.order("A", BID, 1000, 250, lock=2000)
    good = m.reveals[txid][2]
    copy = m.apply(m.accounts["B"], OrderCommitment(T, commitment(
        CHAIN_ID, m.accounts["A"].public, T, BID, 1000, 250, good.salt), 2000), BEFORE_GATE)
    refused(m, m.accounts["B"], own(replace(good, order=copy.txid)), GATE,
            "does not match")  # the hash binds the owner


def test_reveal_timing(m):
    txid = m.order("A", BID, 1000, 250, lock=2000)
    body = own(m.reveals[txid][2])
    refused(m, m.accounts["A"], body, GATE - 1, "before gate closure")
    refused(m, m.accounts["A"], body, GATE + PARAMS.reveal_seconds, "reveal window closed")
    m.apply(m.accounts["A"], body, GATE + PARAMS.reveal_seconds - 1)  # the window's last second


def test_a_late_reveal_after_the_clearing_is_refused(m):
    txid = m.order("A", BID, 1000, 250, lock=2000)
    body = own(m.reveals.pop(txid)[2])
    m.clear(at=GATE + PARAMS.reveal_seconds)
    refused(m, m.accounts["A"], body, GATE + PARAMS.reveal_seconds, "after its reveal window")


def test_clearing_waits_for_the_reveals(m):
    txid = m.order("A", BID, 1000, 250, lock=2000)
    m.reveals.pop(txid)
    body = gated_clearing(m.contract, T)
    refused(m, VALIDATOR, body, GATE, "1 sealed orders may still be revealed")
    refused(m, VALIDATOR, body, GATE + PARAMS.reveal_seconds - 1, "may still be revealed")
    m.apply(VALIDATOR, body, GATE + PARAMS.reveal_seconds)


def test_a_homes_reveals_are_applied_all_or_none(m):
    first = m.order("A", BID, 1000, 250, lock=2000)
    second = m.order("A", BID, 500, 240, lock=2000, interval=T)
    good, other = m.reveals[first][2], m.reveals[second][2]
    refused(m, m.accounts["A"], own(good, replace(other, price_per_kwh=1)), GATE,
            "does not match")
    assert not m.contract.book(T)  # the good one was not applied either
    refused(m, m.accounts["A"], OrderReveal(()), GATE, "a reveal of no order")
    m.apply(m.accounts["A"], own(good, other), GATE)
    assert {o.order_id for o in m.contract.book(T)} == {first, second}


def test_a_clearing_relaying_a_reveal_that_does_not_match_is_refused_whole(m):
    a = m.order("A", BID, 1000, 250, lock=2000)
    m.order("C", OFFER, 800, 100, lock=2000)
    honest = gated_clearing(m.contract, T, reveals=m.pending(), timestamp=GATE)
    assert [r.index for r in honest.reveals] == [0, 1]  # A's commitment came first
    forged = replace(honest, reveals=tuple(replace(r, price_per_kwh=300) if r.index == 0
                                           else r for r in honest.reveals))
    refused(m, VALIDATOR, forged, GATE, "does not match the commitment")
    swapped = replace(honest, reveals=honest.reveals[::-1])
    refused(m, VALIDATOR, swapped, GATE, "named in ascending order")
    twice = replace(honest, reveals=(honest.reveals[0],) * 2)
    refused(m, VALIDATOR, twice, GATE, "named in ascending order")
    assert a in m.contract.commitments
    assert not m.contract.book(T) and T not in m.contract.cleared  # nothing applied
    m.apply(VALIDATOR, honest, GATE)
    assert T in m.contract.cleared and len(honest.reveals) == 2


def test_the_operator_leaves_a_bad_reveal_sealed_and_the_clearing_waits_for_it(m):
    a = m.order("A", BID, 1000, 250, lock=2000)
    c = m.order("C", OFFER, 800, 100, lock=2000)
    bad = [replace(r, salt=bytes(16)) if r.order == a else r for r in m.pending()]
    body = gated_clearing(m.contract, T, reveals=bad, timestamp=GATE)
    assert [r.index for r in body.reveals] == [1]  # A's left out: C's relayed
    refused(m, VALIDATOR, body, GATE, "may still be revealed")  # A may still reveal itself
    m.apply(m.accounts["A"], own(m.reveals[a][2]), GATE + 1)
    m.apply(VALIDATOR, gated_clearing(m.contract, T, reveals=[m.reveals[c][2]],
                                      timestamp=GATE + 1), GATE + 1)
    assert T in m.contract.cleared


def test_a_clearing_cannot_relay_a_reveal_of_another_interval(m):
    """A relayed reveal names a commitment of the clearing's own interval, by its place: a
    later interval's, relayed in this one, names one that is not there."""
    later = m.order("A", BID, 1000, 250, lock=2000, interval=T + 900)
    relayed = relay(m.contract, T + 900, [m.reveals[later][2]])
    body = replace(gated_clearing(m.contract, T), reveals=relayed)
    refused(m, VALIDATOR, body, GATE + 900, "names sealed order 0 of interval")


def test_a_missing_reveal_forfeits_its_penalty_and_money_is_conserved(m):
    m.order("A", BID, 1000, 250, lock=2000)
    lost = m.order("B", BID, 600, 260, lock=3000)
    m.order("C", OFFER, 800, 100, lock=2000)
    m.reveals.pop(lost)  # B never reveals
    m.reveal()
    m.clear(at=GATE + PARAMS.reveal_seconds)
    assert m.escrow("B") == PARAMS.unrevealed_penalty_units  # the rest returned at clearing
    assert m.balance("B") == DEPOSIT - PARAMS.unrevealed_penalty_units
    m.read("A", 800, 0)
    m.read("C", 0, 800)
    proposal = m.settle()
    forfeits = [p for p in proposal.body.payments if p.kind == PaymentKind.FORFEIT]
    assert [(p.payer, p.payee, p.amount_units) for p in forfeits] == [
        (m.accounts["B"].public, UTILITY, PARAMS.unrevealed_penalty_units)]
    assert m.escrow("B") == 0 and not m.contract.commitments
    assert m.balance("B") == DEPOSIT - PARAMS.unrevealed_penalty_units
    conserved(m)
    assert m.contract.money_out >= PARAMS.unrevealed_penalty_units


def test_a_reveal_whose_lock_is_too_small_is_refused_and_forfeits(m):
    txid = m.order("A", BID, 1000, 250, lock=100)  # the bid's escrow is 300
    refused(m, m.accounts["A"], own(m.reveals[txid][2]), GATE, "needs an escrow of 300")


def test_a_reveal_breaking_an_order_rule_is_refused(m):
    txid = m.order("A", BID, 1000, 350, lock=2000)  # above the retail price
    refused(m, m.accounts["A"], own(m.reveals[txid][2]), GATE, "outside [feed-in 80, retail 300]")


@pytest.mark.parametrize(("lock", "reason"), [(49, "at least 50"), (DEPOSIT + 1, "exceeds")])
def test_commitment_refusals(m, lock, reason):
    refused(m, m.accounts["A"], OrderCommitment(T, bytes(32), lock), BEFORE_GATE, reason)


def test_commitment_after_gate_closure(m):
    refused(m, m.accounts["A"], OrderCommitment(T, bytes(32), 2000), GATE,
            "sealed order for interval")


def test_a_sealed_order_locks_the_standard_bond():
    params = MarketParams()
    assert bond_units(params) == 100_000 * 300 // 1000  # the largest bid at retail
    assert bond_units(replace(params, max_energy_wh=1, unrevealed_penalty_units=7)) == 7


def test_reveal_of_an_unknown_order(m):
    refused(m, m.accounts["A"], own(Reveal(bytes(32), BID, 1, 100, bytes(16))), GATE,
            "unknown")


def test_settles_after_the_deadline_with_a_reading_missing(m):
    m.order("A", BID, 1000, 250, lock=2000)
    m.order("C", OFFER, 800, 100, lock=2000)
    m.clear()
    m.read("A", 700, 0)
    refused(m, VALIDATOR, settle(m.contract, T).body, END,
            "1 readings missing")
    m.settle(late=True)  # C never read: its share counts as zero
    conserved(m)
