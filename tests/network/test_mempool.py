"""The mempool's rules on their own: what goes into the next block (what can apply, each sender
from its next nonce, at the earliest time after the parent's), what is refused (a nonce used,
taken, or too far ahead; a sender over its share; the mempool full) and what expires."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import Order, Side, Transaction, sign
from testbed.network.mempool import (
    NONCE_WINDOW,
    OPERATOR_SHARE,
    SENDER_SHARE,
    TOTAL,
    Mempool,
    Share,
)
from testbed.network.timing import MEMPOOL_TTL_S

CHAIN = 7
OPERATOR = KeyPair.development("mempool/operator")
HOMES = [KeyPair.development(f"mempool/home-{i}") for i in range(3)]
NONCES = 8
VARIANTS = 2  # two different transactions per (sender, nonce)


def order(key: KeyPair, nonce: int, variant: int = 0) -> Transaction:
    return sign(Order(900 * (1 + variant), Side.BID, 500, 100), key, nonce, CHAIN)


SIGNED = {(k.public, n, v): order(k, n, v) for k in (OPERATOR, *HOMES)
          for n in range(NONCES) for v in range(VARIANTS)}


def tx(key: KeyPair, nonce: int, variant: int = 0) -> Transaction:
    return SIGNED.get((key.public, nonce, variant)) or order(key, nonce, variant)


def held(pool: Mempool, *txs_at: tuple[Transaction, int], now: float = 0.0) -> Mempool:
    for t, at in txs_at:
        assert pool.refusal(t, 0) == "" and pool.add(t, at, now)
    return pool


def nonces_from_zero(account: bytes) -> int:
    return 0


A, B, C = HOMES


def test_each_transaction_is_held_once():
    pool = held(Mempool(OPERATOR.public), (tx(A, 0), 100))
    assert not pool.add(tx(A, 0), 100, 0.0) and len(pool) == 1
    assert pool.refusal(tx(A, 0), 0) == ""  # sent again: still "in the mempool"


def test_a_sender_whose_next_nonce_is_missing_is_skipped_and_sets_no_time():
    # A's nonce 0 never came: its nonce 1, though for the earliest time, waits on its own
    pool = held(Mempool(OPERATOR.public), (tx(A, 1), 100), (tx(B, 0), 200), (tx(C, 0), 300))
    at, chosen = pool.next_block(50, nonces_from_zero, {100, 200, 300}, 10)
    assert at == 200 and chosen == [tx(B, 0)]
    held(pool, (tx(A, 0), 400))
    at, chosen = pool.next_block(200, nonces_from_zero, {100, 200, 300, 400}, 10)
    assert at == 300 and chosen == [tx(B, 0), tx(C, 0)]  # A's 0 is for 400, its 1 after it
    at, chosen = pool.next_block(300, nonces_from_zero, {400}, 10)
    assert at == 400 and chosen == [tx(B, 0), tx(C, 0), tx(A, 0), tx(A, 1)]


def test_times_in_the_past_never_pin_the_block_time():
    # B keeps sending for an old time: its transactions ride with the next later block
    pool = held(Mempool(OPERATOR.public), (tx(OPERATOR, 0), 200), (tx(B, 0), 50),
                (tx(B, 1), 60))
    at, chosen = pool.next_block(100, nonces_from_zero, {200}, 10)
    assert at == 200 and chosen == [tx(B, 0), tx(B, 1), tx(OPERATOR, 0)]
    at, chosen = pool.next_block(100, nonces_from_zero, set(), 10)  # no clock for 200 held
    assert at == 100 and chosen == [tx(B, 0), tx(B, 1)]


def test_a_senders_nonces_stay_in_order_whatever_their_arrival():
    pool = held(Mempool(OPERATOR.public), (tx(A, 2), 100), (tx(B, 0), 100), (tx(A, 1), 100),
                (tx(A, 0), 100))
    assert pool.next_block(100, nonces_from_zero, {100}, 10) == (
        100, [tx(B, 0), tx(A, 0), tx(A, 1), tx(A, 2)])
    assert pool.next_block(100, nonces_from_zero, {100}, 3) == (  # a prefix of each sender's
        100, [tx(B, 0), tx(A, 0), tx(A, 1)])
    assert pool.next_block(100, lambda k: 2 if k == A.public else 0, {100}, 10) == (
        100, [tx(A, 2), tx(B, 0)])  # from the state's next nonce on, in arrival order


def test_nonces_used_taken_or_too_far_ahead_are_refused():
    pool = held(Mempool(OPERATOR.public), (tx(A, 0), 100))
    assert pool.refusal(tx(A, 0), 1) == ""  # held already: committed since, still no refusal
    assert "already used" in pool.refusal(tx(B, 0), 1)
    assert "is taken by another transaction" in pool.refusal(tx(A, 0, variant=1), 0)
    assert "nonce gap" in pool.refusal(order(A, 1_000_000), 0)
    assert pool.refusal(order(A, 1 + NONCE_WINDOW), 0) == ""  # the window: 64 missing (1..64)
    assert "nonce gap" in pool.refusal(order(A, 2 + NONCE_WINDOW), 0)
    for n in range(1, 3):  # a run of held nonces leaves nothing missing below the next
        held(pool, (tx(A, n), 100))
    assert pool.refusal(order(A, 3 + NONCE_WINDOW), 0) == ""


def test_a_senders_share_and_the_total_are_bounded_in_transactions_and_bytes():
    size = len(tx(A, 0).encoded)
    pool = Mempool(OPERATOR.public, sender_share=Share(3, 10 * size),
                   operator_share=Share(5, 10 * size), total=Share(7, 100 * size))
    held(pool, *((tx(A, n), 100) for n in range(3)))
    assert "mempool full for this sender" in pool.refusal(tx(A, 3), 0)
    assert pool.refusal(tx(B, 0), 0) == ""  # the others' shares are free
    held(pool, *((tx(OPERATOR, n), 100) for n in range(4)))  # the operator's is larger
    assert pool.refusal(tx(OPERATOR, 4), 0).startswith("mempool full (7 transactions")
    pool.remove([tx(A, 0).txid])
    assert pool.refusal(tx(OPERATOR, 4), 0) == "" and pool.refusal(tx(A, 3), 0) == ""
    by_bytes = Mempool(OPERATOR.public, sender_share=Share(10, 2 * size + size // 2))
    held(by_bytes, (tx(A, 0), 100), (tx(A, 1), 100))
    assert "mempool full for this sender" in by_bytes.refusal(tx(A, 2), 0)


def test_the_shares_fit_the_runs_batches():
    # a home signs at most 3 transactions per interval; 80 intervals may wait at RTF 600
    assert SENDER_SHARE.txs >= 3 * 80
    assert OPERATOR_SHARE.txs >= 2 * 41 + 1  # the start: every home registered and funded
    assert TOTAL.txs >= 2 * OPERATOR_SHARE.txs and TOTAL.bytes >= 2 * OPERATOR_SHARE.bytes
    assert 2 * 41 * SENDER_SHARE.bytes < TOTAL.bytes / 2  # 41 flooding homes and meters


def test_what_was_held_too_long_expires_in_arrival_order():
    pool = held(Mempool(OPERATOR.public), (tx(A, 1), 100), now=10.0)
    held(pool, (tx(B, 0), 100), now=20.0)
    assert pool.expire(10.0 + MEMPOOL_TTL_S) == []  # not longer than the time to live
    assert [p.tx for p in pool.expire(10.5 + MEMPOOL_TTL_S)] == [tx(A, 1)]
    assert len(pool) == 1 and pool.refusal(tx(A, 1, variant=1), 0) == ""  # its nonce is free


def test_committed_nonces_are_evicted_and_free_their_share():
    pool = held(Mempool(OPERATOR.public, sender_share=Share(2, 1 << 20)),
                (tx(A, 0), 100), (tx(A, 1, variant=1), 100))
    pool.evict_stale(lambda k: 1)  # A's nonce 0 is used (by this or another transaction)
    assert len(pool) == 1 and pool.refusal(tx(A, 2), 1) == ""


# --- the rules under any sequence of operations --------------------------------------------

KEYS = (OPERATOR, *HOMES)
operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 3), st.integers(0, NONCES - 1),
              st.integers(0, VARIANTS - 1), st.sampled_from([50, 100, 200, 300])),
    st.tuples(st.just("commit"), st.integers(0, 3)),
    st.tuples(st.just("expire"), st.floats(0, 2 * MEMPOOL_TTL_S)),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(operations, st.integers(1, 12))
def test_any_sequence_keeps_the_accounts_and_the_block_rules(ops, limit):
    size = len(tx(A, 0).encoded)
    pool = Mempool(OPERATOR.public, sender_share=Share(4, 5 * size),
                   operator_share=Share(8, 9 * size), total=Share(12, 100 * size),
                   nonce_window=2)
    chain: dict[bytes, int] = defaultdict(int)  # committed next nonces
    now = 0.0
    for op in ops:
        if op[0] == "add":
            _, k, n, v, at = op
            t = tx(KEYS[k], n, v)
            if pool.refusal(t, chain[t.sender]) == "":
                pool.add(t, at, now)
        elif op[0] == "commit":  # the next block commits: its nonces are used
            at, chosen = pool.next_block(100, chain.__getitem__, {200, 300}, limit)
            for t in chosen:
                assert t.nonce == chain[t.sender]
                chain[t.sender] += 1
            pool.remove([t.txid for t in chosen])
            pool.evict_stale(chain.__getitem__)
        else:
            now += op[1]
            pool.expire(now)
        entries = [pool._entries[t] for t in pool._entries]
        for key in KEYS:
            mine = [p.tx for p in entries if p.tx.sender == key.public]
            share = pool.share(key.public)
            assert len(mine) <= share.txs and sum(len(t.encoded) for t in mine) <= share.bytes
            assert len({t.nonce for t in mine}) == len(mine)  # one per nonce
            assert all(t.nonce >= chain[key.public] for t in mine)
        assert len(entries) <= pool.total.txs
        at, chosen = pool.next_block(100, chain.__getitem__, {200, 300}, limit)
        ready = pool.ready(chain.__getitem__)
        later = [r[0] for r in ready if r[0] > 100]
        assert at == min(later, default=100)  # the earliest time after the parent's
        assert len(chosen) == min(limit, sum(r[0] <= at for r in ready))
        expected = dict(chain)
        for t in chosen:  # each sender's nonces from its next one, without a gap
            assert t.nonce == expected.get(t.sender, 0) and pool._entries[t.txid].at <= at
            expected[t.sender] = t.nonce + 1
