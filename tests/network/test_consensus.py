"""The validators' rules in one process: four `Validator`s, an in-memory bus and stream with
the same append rule as JetStream's expected last sequence; no NATS. The process tests
(`test_faults`) run the same rules as real nodes."""

from dataclasses import replace

import pytest

from testbed.benchmarks.network import BOND, PARAMS, market_load
from testbed.ledger.blocks import Block
from testbed.ledger.certificates import CertifiedBlock, decode_vote
from testbed.ledger.chain import Chain, build_block, genesis_block
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.ledger.sealing import Keyring
from testbed.ledger.transactions import OrderCommitment, Transaction, sign
from testbed.ledger.wire import (
    Clock,
    Proposal,
    Submission,
    decode_proposal,
    decode_submission,
)
from testbed.market.contract import MarketContract
from testbed.network.blocklog import Entry
from testbed.network.consensus import MAX_CLOCK_AHEAD_S, Validator
from testbed.network.mempool import SENDER_SHARE, Mempool, Share
from testbed.network.timing import MEMPOOL_TTL_S

KEYS = [KeyPair.development(f"consensus/validator-{i}") for i in range(4)]
OPERATOR = KeyPair.development("consensus/operator")
VIEW = ViewKey.development("consensus/validators")
CHAIN_ID = 11


class Net:
    """Four validators; messages delivered to all others unless ``muted``."""

    def __init__(self) -> None:
        self.t = 0.0
        genesis = genesis_block([k.public for k in KEYS], KEYS[0], OPERATOR, MarketContract(),
                                PARAMS.encode(), 0, CHAIN_ID)
        self.stream: list[CertifiedBlock] = [CertifiedBlock(genesis, None)]
        self.vs = [Validator(Chain.from_genesis(":memory:", genesis,
                                                MarketContract(Keyring([VIEW]))), k,
                             f"v{i}", round_timeout_s=1.0, max_block_txs=2000,
                             now=lambda: self.t) for i, k in enumerate(KEYS)]
        self.muted: set[int] = set()
        self.load = market_load(OPERATOR, CHAIN_ID, 3, VIEW)

    def by_key(self, public: bytes) -> Validator:
        return next(v for v in self.vs if v.key.public == public)

    def submit(self, tick, to: int = 0) -> None:
        sub = Submission(Clock.sign(CHAIN_ID, tick.time, OPERATOR), tick.txs)
        assert all(r.accepted for r in self.vs[to].on_submission(sub, from_client=True))

    def deliver(self, i: int, kind: str, payload) -> None:
        for j, other in enumerate(self.vs):
            if j == i or j in self.muted:
                continue
            if kind == "proposal":
                other.on_proposal(decode_proposal(payload))
            elif kind == "vote":
                other.on_vote(decode_vote(payload))
            elif kind == "mempool":
                other.on_submission(decode_submission(payload), from_client=False)

    def step(self) -> None:
        for i, v in enumerate(self.vs):
            if i not in self.muted:
                v.tick()
        for i, v in enumerate(self.vs):
            for kind, payload in v.out.drain():
                if i not in self.muted:
                    self.deliver(i, kind, payload)
        for i, v in enumerate(self.vs):
            for certified in v.due_appends():
                if i not in self.muted and v.stream_seq == len(self.stream):
                    self.stream.append(certified)
        for v in self.vs:
            while v.stream_seq < len(self.stream):
                v.on_entry(Entry(v.stream_seq + 1, self.stream[v.stream_seq]))
        self.t += 0.01

    def run(self, steps: int = 200) -> None:
        for _ in range(steps):
            self.step()
            if all(len(v.mempool) == 0 for v in self.vs) and len(
                    {v.chain.head.hash for v in self.vs}) == 1:
                return


@pytest.fixture
def net():
    return Net()


def _committed_txs(v: Validator) -> int:
    return sum(len(b.block.transactions) for b in _blocks(v))


def _blocks(v: Validator):
    from testbed.ledger.chain import stored_blocks

    return list(stored_blocks(v.chain.store))


def test_four_validators_commit_the_market_load_identically(net):
    for tick in net.load:
        net.submit(tick)
    net.run(500)
    heads = {v.chain.head.hash for v in net.vs}
    assert len(heads) == 1 and net.vs[0].chain.height >= len(net.load)
    assert _committed_txs(net.vs[2]) == 1 + sum(len(t.txs) for t in net.load)
    for certified in _blocks(net.vs[3])[1:]:
        assert len(certified.certificate.votes) >= 3
        assert certified.block.header.timestamp in {t.time for t in net.load}
    assert len(net.stream) == net.vs[0].chain.height + 1  # one entry per height


def _proposal_to(net, v: Validator, block: Block, state, clock=None) -> list:
    """Hand ``block`` to ``v`` and return the votes it sends."""
    v.on_proposal(Proposal(0, clock, block))
    return [decode_vote(p) for kind, p in v.out.drain() if kind == "vote"]


def _next_block(net, txs: list[Transaction], proposer_index: int):
    v = net.vs[proposer_index]
    return build_block(v.chain.state, v.chain.head, txs, net.load[0].time,
                       v.key)


def _height_one(net):
    """The proposer of height 1, round 0, and a fresh validator to show blocks to."""
    proposer = net.vs[0].proposer(1, 0)
    index = next(i for i, v in enumerate(net.vs) if v.key.public == proposer)
    voter = net.vs[(index + 1) % 4]
    return index, voter


def test_invalid_proposals_get_no_honest_vote(net):
    index, voter = _height_one(net)
    txs = list(net.load[0].txs)
    clock = Clock.sign(CHAIN_ID, net.load[0].time, OPERATOR)
    good = _next_block(net, txs, index)
    key = net.vs[index].key
    h = good.block.header

    def resigned(header, transactions=good.block.transactions):
        return Block(header, key.sign(header.signing_message()), tuple(transactions))

    forged_tx = replace(txs[0], signature=bytes(64))
    import kernels

    bad = {
        "wrong state root": resigned(replace(h, state_root=bytes(32))),
        "forged transaction": resigned(
            replace(h, tx_root=kernels.merkle_root([forged_tx.txid, *(t.txid for t in txs[1:])])),
            [forged_tx, *txs[1:]]),
        "double spend": resigned(
            replace(h, tx_count=len(txs) + 1,
                    tx_root=kernels.merkle_root([t.txid for t in [*txs, txs[-1]]])),
            [*txs, txs[-1]]),
    }
    for name, block in bad.items():
        assert _proposal_to(net, voter, block, None, clock) == [], name
    assert _proposal_to(net, voter, good.block, None, None) == [], "a time the operator did not sign"
    clock_by_other = Clock.sign(CHAIN_ID, net.load[0].time, KEYS[index])
    assert _proposal_to(net, voter, good.block, None, clock_by_other) == []
    votes = _proposal_to(net, voter, good.block, None, clock)
    assert [v.block_hash for v in votes] == [good.block.header.hash]


def test_an_equivocating_proposer_gets_at_most_one_block_certified(net):
    index, _ = _height_one(net)
    liar = net.vs[index]
    txs = list(net.load[0].txs)
    clock = Clock.sign(CHAIN_ID, net.load[0].time, OPERATOR)
    a = _next_block(net, txs[:41], index).block
    b = _next_block(net, txs[:40], index).block
    assert a.header.height == b.header.height and a.header.hash != b.header.hash
    honest = [v for v in net.vs if v is not liar]
    votes = {a.header.hash: [liar.cast(a)], b.header.hash: [liar.cast(b)]}
    for v, first, second in ((honest[0], a, b), (honest[1], b, a), (honest[2], a, b)):
        for block in (first, second):  # each sees both; votes only for the first
            for vote in _proposal_to(net, v, block, None, clock):
                votes[vote.block_hash].append(vote)
    assert sorted(len(v) for v in votes.values()) == [2, 3]
    for v in honest:  # all votes reach everyone: the other block is never certified
        for vote in [*votes[a.header.hash], *votes[b.header.hash]]:
            v.on_vote(vote)
        assert b.header.hash not in v.certified
        assert (a.header.hash in v.certified) == (a.header.hash in v.pending)
    assert sum(a.header.hash in v.certified for v in honest) == 2


def test_the_next_proposer_builds_while_votes_come_in_and_no_one_votes_early(net):
    """The proposer of height 2 proposes on block 1 once it has validated it, before block 1
    is certified; no validator (its proposer included) votes for block 2 before it holds
    block 1's certificate, and then each does."""
    for tick in net.load[:2]:
        net.submit(tick)
    for i, v in enumerate(net.vs):  # the mempool messages
        for kind, payload in v.out.drain():
            net.deliver(i, kind, payload)
    first = net.by_key(net.vs[0].proposer(1, 0))
    second = net.by_key(net.vs[0].proposer(2, 0))
    first.tick()
    [proposal_1] = [decode_proposal(p) for kind, p in first.out.drain() if kind == "proposal"]
    block_1 = proposal_1.block
    votes_1 = [first.cast(block_1)]
    for v in net.vs:
        if v is not first:
            v.on_proposal(proposal_1)
            v.tick()  # the proposer of height 2 proposes now
    out = {v.name: v.out.drain() for v in net.vs}
    votes_1 += [decode_vote(p) for msgs in out.values() for kind, p in msgs if kind == "vote"]
    assert {vote.block_hash for vote in votes_1} == {block_1.header.hash}
    [proposal_2] = [decode_proposal(p) for kind, p in out[second.name] if kind == "proposal"]
    assert proposal_2.block.header.prev_hash == block_1.header.hash
    assert proposal_2.block.header.height == 2 and proposal_2.round == 0
    assert block_1.header.hash not in second.certified
    for v in net.vs:  # block 2 waits for block 1's certificate everywhere
        if v is not second:
            v.on_proposal(proposal_2)
        assert [kind for kind, _ in v.out.drain()] == []
    for v in net.vs:
        for vote in votes_1:
            if vote.validator != v.key.public:
                v.on_vote(vote)
        assert block_1.header.hash in v.certified
        votes_2 = [decode_vote(p) for kind, p in v.out.drain() if kind == "vote"]
        assert [vote.block_hash for vote in votes_2] == [proposal_2.block.header.hash]
    net.run(300)
    assert len({v.chain.head.hash for v in net.vs}) == 1 and net.vs[0].chain.height >= 2


def test_a_silent_proposer_passes_the_turn_on(net):
    index, _ = _height_one(net)
    net.muted = {index}
    net.submit(net.load[0], to=(index + 1) % 4)
    for _ in range(300):
        net.step()
        if net.vs[(index + 1) % 4].chain.height >= 1:
            break
    live = [v for i, v in enumerate(net.vs) if i != index]
    assert all(v.chain.height == 1 for v in live)
    assert _blocks(live[0])[1].block.header.proposer != KEYS[index].public
    net.muted = set()
    net.run(100)  # the silent one comes back and catches up from the stream
    assert len({v.chain.head.hash for v in net.vs}) == 1


def test_the_same_transaction_sent_to_two_nodes_is_committed_once(net):
    tick = net.load[0]
    net.submit(tick, to=0)
    net.submit(tick, to=2)
    net.run(300)
    txids = [tx.txid for b in _blocks(net.vs[1]) for tx in b.block.transactions]
    assert len(txids) == len(set(txids)) == 1 + len(tick.txs)


def test_a_retry_of_a_committed_transaction_is_answered_committed(net):
    tick = net.load[0]
    net.submit(tick)
    net.run(300)
    height = net.vs[0].chain.height
    net.vs[1].out.drain()
    again = net.vs[1].on_submission(
        Submission(Clock.sign(CHAIN_ID, tick.time, OPERATOR), tick.txs), from_client=True)
    assert all(r.accepted and r.reason == f"committed at height {height}" for r in again)
    assert len(net.vs[1].mempool) == 0
    assert not [kind for kind, _ in net.vs[1].out.drain() if kind == "mempool"]


def test_nodes_whose_round_counts_drifted_apart_meet_again(net):
    """Two of four down: no quorum, and the other two pass the turn on round after round.
    The two come back counting from round 0 with empty mempools, and all four commit."""
    net.muted = {2, 3}
    net.submit(net.load[0], to=0)
    for _ in range(500):  # five seconds without a quorum
        net.step()
    assert all(v.chain.height == 0 for v in net.vs) and net.vs[0].round >= 4
    for i in (2, 3):  # restarted from their stores
        net.vs[i] = Validator(net.vs[i].chain, KEYS[i], f"v{i}", round_timeout_s=1.0,
                              max_block_txs=2000, now=lambda: net.t)
    net.muted = set()
    net.run(600)
    assert all(v.chain.height == 1 for v in net.vs)
    assert len({v.chain.head.hash for v in net.vs}) == 1

# --- no party can stall the chain -----------------------------------------------------------

STRANGER = KeyPair.development("consensus/stranger")  # a home's key, on its own subject


def _as_home(v: Validator, txs, clock=None, key: KeyPair = STRANGER) -> list:
    return v.on_submission(Submission(clock, tuple(txs)), from_client=True,
                           submitter=key.public.hex())


def _orders(key: KeyPair, nonces) -> list[Transaction]:
    return [sign(OrderCommitment(10**9, bytes(32), BOND), key, n, CHAIN_ID) for n in nonces]


def _committed_all(net, ticks) -> bool:
    txids = {tx.txid for b in _blocks(net.vs[1]) for tx in b.block.transactions}
    return all(tx.txid in txids for tick in ticks for tx in tick.txs)


def test_a_nonce_far_ahead_is_refused_and_a_gap_holds_back_no_one(net):
    net.submit(net.load[0])
    net.run()
    v = net.vs[0]
    receipts = _as_home(v, _orders(STRANGER, [1_000_000, 3]))  # nonces 0..2 never come
    assert "nonce gap" in receipts[0].reason and not receipts[0].accepted
    assert receipts[1].accepted  # a small gap: held, for the node's latest (earliest) time
    for tick in net.load[1:]:
        net.submit(tick)
    for _ in range(500):
        net.step()
        if _committed_all(net, net.load):
            break
    assert _committed_all(net, net.load)  # the others' later blocks went on without it
    assert v.chain.next_nonce(STRANGER.public) == 0 and _orders(STRANGER, [3])[0].txid in (
        v.mempool)


def test_what_cannot_apply_expires_and_its_party_is_told(net):
    v = net.vs[0]
    gapped = _orders(STRANGER, [1])[0]
    assert _as_home(v, [gapped])[0].accepted
    net.t += MEMPOOL_TTL_S / 2
    v.tick()
    assert gapped.txid in v.mempool
    net.t += MEMPOOL_TTL_S / 2 + 1
    v.tick()
    assert gapped.txid not in v.mempool
    records = [p for kind, p in v.out.drain() if kind == "record"]
    assert records == [{"party": "operator", "txid": gapped.txid.hex(), "node": v.name,
                        "reason": f"expired: held {MEMPOOL_TTL_S:g} s and not committed "
                                  "(nonce 1 waits for nonce 0)"}]
    assert _as_home(v, _orders(STRANGER, [0]))[0].accepted  # nothing of it is left


def test_a_home_may_not_submit_for_a_time_far_ahead_of_the_chains_clock(net):
    net.submit(net.load[0])
    net.run()
    v = net.vs[0]
    now = net.load[0].time
    late = Clock.sign(CHAIN_ID, now + MAX_CLOCK_AHEAD_S + 1, OPERATOR)
    receipt, = _as_home(v, _orders(STRANGER, [0]), late)
    assert "ahead of the chain's clock" in receipt.reason and not receipt.accepted
    soon = Clock.sign(CHAIN_ID, now + MAX_CLOCK_AHEAD_S, OPERATOR)
    assert _as_home(v, _orders(STRANGER, [0]), soon)[0].accepted
    tick = net.load[1]  # the operator's clock is the chain's: not bounded
    far = Clock.sign(CHAIN_ID, tick.time + 10 * MAX_CLOCK_AHEAD_S, OPERATOR)
    assert all(r.accepted for r in v.on_submission(Submission(far, tick.txs), from_client=True))


def test_a_flooding_sender_fills_only_its_own_share(net):
    net.submit(net.load[0])
    net.run()
    v = net.vs[0]
    flood = _orders(STRANGER, range(1, SENDER_SHARE.txs + 11))  # nonce 0 never comes
    receipts = _as_home(v, flood)
    assert all(r.accepted for r in receipts[:SENDER_SHARE.txs])
    assert all("mempool full for this sender" in r.reason for r in receipts[SENDER_SHARE.txs:])
    net.submit(net.load[1])  # the operator's batch, with every home's transactions in it
    net.run(300)
    assert _committed_all(net, net.load[:2])


def test_a_full_mempool_refuses_until_blocks_drain_it(net):
    for v in net.vs:
        v.mempool = Mempool(OPERATOR.public, total=Share(50, 1 << 20))
    tick = net.load[0]
    clock = Clock.sign(CHAIN_ID, tick.time, OPERATOR)
    receipts = net.vs[0].on_submission(Submission(clock, tick.txs), from_client=True)
    assert [r.accepted for r in receipts] == [True] * 50 + [False] * (len(tick.txs) - 50)
    assert receipts[50].reason.startswith("mempool full (50 transactions")
    net.run(300)
    assert len(net.vs[0].mempool) == 0 and net.vs[0].chain.height >= 1
    rest = net.vs[0].on_submission(Submission(clock, tick.txs[50:]), from_client=True)
    assert all(r.accepted for r in rest)
    net.run(300)
    assert _committed_all(net, net.load[:1])


def test_an_idle_validators_tick_does_nothing_so_its_node_may_skip_it(net):
    """`Validator.idle` is what lets a node tick every POLL_S instead of every TICK_S: at
    every step of a market's load, a validator idle before its tick queues nothing, changes
    nothing and stays idle; it is busy while it holds transactions, idle again after."""
    assert all(v.idle() for v in net.vs)
    net.submit(net.load[0])
    assert not net.vs[0].idle()
    for tick in net.load[1:]:
        net.submit(tick)
    was_idle_and_ticked = 0
    for _ in range(500):
        for i, v in enumerate(net.vs):
            if v.idle():
                before = (v.status(), v.round_started, v._nothing_to_propose_at)
                v.tick()
                assert v.out.drain() == [] and v.idle()
                assert (v.status(), v.round_started, v._nothing_to_propose_at) == before
                was_idle_and_ticked += 1
        net.step()
        if all(len(v.mempool) == 0 for v in net.vs) and len({v.chain.head.hash
                                                             for v in net.vs}) == 1:
            break
    net.t += 10.0  # long past every round timeout
    net.step()
    assert all(v.idle() for v in net.vs) and was_idle_and_ticked > 0


def test_after_a_quiet_spell_the_heights_proposer_keeps_its_turn(net):
    """A round's clock runs from when there is something to propose: transactions that come
    after the network was idle for longer than a round are proposed in round 0 by that
    height's proposer, not after a turn passed on at the first tick."""
    net.submit(net.load[0])
    net.run(500)
    height = net.vs[0].chain.height
    net.t += 10 * net.vs[0].round_timeout_s  # idle, longer than any round
    net.submit(net.load[1], to=1)
    net.run(500)
    assert all(v.chain.height == height + 1 and v.round == 0 for v in net.vs)
    block = _blocks(net.vs[0])[-1].block
    assert block.header.proposer == net.vs[0].proposer(height + 1, 0)
