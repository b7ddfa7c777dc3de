"""No party can stall the chain, on the real network (server and node processes on loopback):
an admitted home submits on its own subject, with its own certificate, what cannot apply now
(a nonce far ahead, a time far ahead, a flood beyond its share). Each is refused with its
reason, or held and never in anyone's way: the market's ticks, relayed by the operator, go on
committing, and so do another home's transactions."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from testbed.benchmarks.network import BOND, INTERVAL_S
from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import OrderCommitment, Transaction, sign
from testbed.ledger.wire import Clock
from testbed.network.consensus import MAX_CLOCK_AHEAD_S
from testbed.network.mempool import SENDER_SHARE

AHEAD_S = 12 * 3600  # orders are for an interval this far ahead of the chain: within the
# market's horizon (a day), its gate still open after the ticks a test trades
COMMIT_S = 30.0  # a valid transaction's deadline, from its submission


def order(market, key: KeyPair, nonce: int, variant: int = 0) -> Transaction:
    """A sealed order of ``key`` for an interval whose gate stays open during a test."""
    now = market.head.timestamp
    interval = now - now % INTERVAL_S + AHEAD_S + INTERVAL_S * variant
    return sign(OrderCommitment(interval, bytes(32), BOND), key, nonce, market.network.chain_id)


def test_a_homes_nonce_far_ahead_is_refused_and_a_gap_stalls_no_one(healthy):
    healthy.trade(1)  # the homes are registered
    home = healthy.idle[0]
    far, gapped = order(healthy, home, 1_000_000), order(healthy, home, 2)
    receipts = healthy.as_home(home, [far, gapped])  # for the nodes' latest, earliest time
    healthy.trade(2)  # before: every node held both, the chain stopped at the next height
    assert not receipts[0].accepted and "nonce gap" in receipts[0].reason
    assert receipts[1].accepted  # nonces 0 and 1 may still come: held, in no one's way
    healthy.converged()


def test_a_home_may_not_carry_the_chains_clock_far_ahead(healthy):
    healthy.trade(1)
    home = healthy.idle[1]
    ahead = Clock.sign(healthy.network.chain_id,
                       healthy.head.timestamp + MAX_CLOCK_AHEAD_S + 3600, healthy.operator)
    tx = order(healthy, home, 0)
    receipt, = healthy.as_home(home, [tx], ahead)
    assert not receipt.accepted and "ahead of the chain's clock" in receipt.reason
    receipt, = healthy.as_home(home, [tx])  # for the chain's own time it commits
    assert receipt.accepted and healthy.wait_committed({tx.txid}, COMMIT_S)
    healthy.trade(1)  # and the market's clock is still the operator's


def test_a_flooding_home_delays_only_itself(healthy):
    healthy.trade(1)
    flooder, bystander = healthy.idle[2], healthy.idle[3]
    flood = [order(healthy, flooder, n) for n in range(1, SENDER_SHARE.txs + 40)]  # no 0: stuck
    receipts = healthy.as_home(flooder, flood)
    assert [r.accepted for r in receipts].count(True) == SENDER_SHARE.txs
    assert all("mempool full for this sender" in r.reason for r in receipts[SENDER_SHARE.txs:])
    first, = healthy.as_home(flooder, [order(healthy, flooder, 0)])
    assert "mempool full for this sender" in first.reason  # its own share is full of its own
    healthy.trade(2)  # the operator's ticks, every other home's orders in them
    theirs = order(healthy, bystander, 0)
    receipt, = healthy.as_home(bystander, [theirs])
    assert receipt.accepted and healthy.wait_committed({theirs.txid}, COMMIT_S)
    healthy.converged()


# --- random submissions from several homes --------------------------------------------------

KINDS = ("valid", "valid", "valid", "nonce far ahead", "bad signature", "another chain",
         "time far ahead", "nonce used", "gap", "flood")
HOMES = 3  # the idle homes 4, 5 and 6, whose valid transactions must all commit; the 7th's
# nonce 0 never comes: everything it holds is stuck
NEXT: dict[bytes, int] = {}  # each home's next nonce, over the examples
GAPS: list[int] = []  # nonces the gapper has sent


@settings(max_examples=40, deadline=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, HOMES - 1), st.sampled_from(KINDS),
                          st.integers(0, 3)), min_size=1, max_size=10))
def test_random_submissions_from_several_homes_every_valid_one_commits(healthy, submissions):
    if healthy.next == 0:
        healthy.trade(1)  # the homes are registered
    chain = healthy.network.chain_id
    homes, gapper = healthy.idle[4:4 + HOMES], healthy.idle[4 + HOMES]
    batches: dict[tuple[KeyPair, bool], list[tuple[Transaction, str]]] = {}
    flooded: set[bytes] = set()  # homes whose share is full: nothing more of them this time
    for index, kind, variant in submissions:
        home = gapper if kind == "gap" else homes[index]
        if home.public in flooded:
            continue
        nonce = NEXT.setdefault(home.public, 0)
        tx = order(healthy, home, nonce, variant)
        if kind == "flood":  # valid, more than its share: what is over it is refused
            flooded.add(home.public)
            NEXT[home.public] = nonce + SENDER_SHARE.txs + 8
            batches.setdefault((home, False), []).extend(
                (order(healthy, home, nonce + k, variant), kind)
                for k in range(SENDER_SHARE.txs + 8))
            continue
        if kind == "valid" or (kind == "nonce used" and nonce == 0):
            kind = "valid"
            NEXT[home.public] = nonce + 1
        elif kind == "nonce far ahead":
            tx = order(healthy, home, nonce + 10**6, variant)
        elif kind == "bad signature":
            tx = replace(tx, signature=bytes(64))
        elif kind == "another chain":
            tx = sign(tx.body, home, nonce, chain + 1)
        elif kind == "nonce used":
            tx = order(healthy, home, nonce - 1, variant + 4)  # committed by an earlier example
        elif kind == "gap":
            GAPS.append(1 + len(GAPS) % 60)
            tx = order(healthy, home, GAPS[-1], variant)
        batches.setdefault((home, kind == "time far ahead"), []).append((tx, kind))
    valid = set()
    for (home, ahead), sent in batches.items():
        clock = Clock.sign(chain, healthy.head.timestamp + 2 * 86_400,
                           healthy.operator) if ahead else None
        receipts = healthy.as_home(home, [tx for tx, _ in sent], clock)
        over = [tx.nonce for (tx, kind), r in zip(sent, receipts, strict=True)
                if kind == "flood" and not r.accepted]
        if over:
            NEXT[home.public] = over[0]  # the rest of the flood was never held
        for (tx, kind), receipt in zip(sent, receipts, strict=True):
            if kind == "valid" or (kind == "flood" and tx.nonce < min(over, default=tx.nonce + 1)):
                assert receipt.accepted, receipt.reason
                valid.add(tx.txid)
            elif kind == "flood":
                assert "mempool full for this sender" in receipt.reason
            elif kind != "gap":  # a gap is held (or refused: its share, its nonce taken)
                assert not receipt.accepted and receipt.reason, kind
    assert healthy.wait_committed(valid, COMMIT_S), "a valid transaction not committed in time"
    healthy.converged()  # the next example's node has every nonce committed so far: a node a
    # block behind would count them as missing, and refuse the flood's tail as a gap
