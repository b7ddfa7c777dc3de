"""A validator's rules, without I/O: what it does with each message, and what it sends.

Heights are filled in rounds. The proposer of (height, round) is the validator at
``(height + round) mod n`` of the genesis set in byte order; a round passes the turn on when
``round_timeout_s`` goes by with transactions waiting and no new certified block. Each node
counts rounds on its own clock, so while a height stalls (no quorum: validators down) the
counts drift apart, and a restarted node starts again from 0; a node whose height has stalled
(a round gone by without a certified block) therefore joins a later round when that round's
proposer proposes in it, and they meet there. A node whose height goes well does not: a
proposer cannot take the others' turns.

- **Propose** (`tick`): on its turn, a validator fills a block from its mempool on top of its
  *tip*, the highest certified block it holds the state of (`Mempool.next_block`: each
  sender's transactions from its next nonce on, without a gap, at the earliest of their times
  after the tip's; `build_block` leaves out what the contract refuses), and sends it with the
  operator's clock for its time.
  The tip may be certified and not yet in the stream: proposing on it overlaps one block's
  ordering with the next one's validation. Its turn at the height after the tip's next one
  comes as soon as it has validated (and voted for) that block: it proposes on it while the
  votes on it come in (`next_turn`), and the others validate the proposal once the block
  it extends is certified.
- **Vote** (`on_proposal`): the block must come from the proposer of its round, extend a
  certified block, carry a time that equals its parent's or that the operator's signed clock
  allows, and pass `validate_block` (every signature, the contract re-executed, the state
  root). Then the validator votes, once per height and proposer: a proposer that signs two
  blocks at one height cannot get both certified.
- **Certify** (`on_vote`): votes go to everyone; 2f+1 for a block the validator has validated
  make its certificate. The block's proposer appends it to the stream; any validator does if it
  is still missing after half a round (`appends`).
- **Apply** (`on_entry`): the stream's entries in order; the first validly certified child of
  the head is applied (with the state computed when voting, or validated now when the node
  missed the proposal or is catching up), anything else is skipped.

Who submits: a client submits on its own subject, which only its credentials may publish on
(`access`): the operator's (it relays what homes and meters sign), or a home's, where a node
admits only the home's and its meter's transactions, for a time at most `MAX_CLOCK_AHEAD_S`
past the chain's clock. What cannot apply now is refused with the reason (a nonce used or
too far ahead, a sender over its share of the mempool: `mempool`) or expires; each party's
records (its transactions committed, or dropped or expired with the reason) are published on
its own subject.

Time: the operator (`ChainState.operator`) signs clocks (`wire.Clock`); a block may be later
than its parent only to a time the operator has signed, so no proposer can move the market's
time (gate closures, reading deadlines) on its own, and block times never go backwards.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import kernels
from testbed.ledger.blocks import Block, BlockHeader
from testbed.ledger.certificates import Certificate, CertifiedBlock, Vote, quorum
from testbed.ledger.chain import Chain, InvalidBlock, build_block, check_certificate, validate_block
from testbed.ledger.ids import BlockHash, PublicKey, Signature, TxId
from testbed.ledger.keys import KeyPair
from testbed.ledger.sealing import NotAddressed
from testbed.ledger.state import ChainState
from testbed.ledger.transactions import Transaction
from testbed.ledger.wire import Clock, Proposal, Submission
from testbed.market.contract import MarketContract
from testbed.network.blocklog import Entry
from testbed.network.mempool import Mempool

log = logging.getLogger("testbed.network")
OPERATOR_SUBMITTER = "operator"  # the operator's submission subject; a home's is its account
RECENT_TXIDS = 50_000
"""Committed transaction ids a node remembers, to answer a client's retry of one "committed"
(idempotence) rather than "nonce already used": a minute of the network's best throughput,
more than a client resubmits within its commit deadline at the run's load (~500 an interval);
about 5 MB."""
LOOKAHEAD = 8  # proposals and votes for heights further above the head are ignored: no one
# honest can be that far ahead, and a liar could otherwise fill the memory with them
MAX_CLOCK_AHEAD_S = 3600
"""How far past the chain's clock (the latest operator clock a node holds, or its head's time)
a home's submission may be for. A home has only the clocks the operator hands out, which reach
the nodes with the operator's own batch for that time; a node may see the home's copy first,
one clock step early (a market interval, 900 s, in a run; an hour of market time in the
bench's load). A time further ahead is one the operator has not reached: a block at it would
carry the chain past every gate closure in between. The operator's own clock is the chain's:
it is not bounded."""


def signed_by(key: PublicKey, message: bytes, signature: Signature) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Receipt:
    """A node's answer for one submitted transaction."""

    txid: TxId
    accepted: bool
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"txid": self.txid.hex(), "accepted": self.accepted, "reason": self.reason}


Message = tuple[str, bytes | dict[str, Any]]
"""(kind, payload): see `Outbox`."""


@dataclass
class Outbox:
    """What the validator wants sent: (kind, payload) messages, kind one of mempool, proposal,
    vote, record (JSON, with the party it is for), applied (JSON)."""

    messages: list[Message] = field(default_factory=list)

    def drain(self) -> list[Message]:
        out, self.messages = self.messages, []
        return out


class Validator:
    """One validator's view: the committed chain, its tip, mempool, votes and rounds."""

    def __init__(self, chain: Chain[MarketContract], key: KeyPair, name: str, *, round_timeout_s: float,
                 max_block_txs: int, now: Callable[[], float]) -> None:
        self.chain, self.key, self.name = chain, key, name
        self.validators = sorted(chain.state.validators)
        self.quorum = quorum(len(self.validators))
        self.round_timeout_s, self.max_block_txs, self.now = round_timeout_s, max_block_txs, now
        self.mempool = Mempool(chain.state.operator)
        self.recent: OrderedDict[TxId, int] = OrderedDict()  # committed txid -> its height
        self.clock: Clock | None = None  # the latest operator clock seen
        self.clocks: dict[int, Clock] = {}  # operator clocks by time, for times pending
        self.stream_seq = 1  # last stream entry applied or skipped (1: genesis)
        self.pending: dict[BlockHash, tuple[Block, ChainState[MarketContract]]] = {}  # validated, not committed
        self.parked: dict[BlockHash, list[Proposal]] = defaultdict(list)  # by unknown parent
        self.unvoted: dict[BlockHash, Block] = {}  # own proposal by its uncertified parent
        self.voted: set[tuple[int, PublicKey]] = set()  # (height, proposer)
        self.votes: dict[BlockHash, dict[PublicKey, Vote]] = defaultdict(dict)
        self.certified: dict[BlockHash, tuple[CertifiedBlock, float]] = {}  # and when
        self.to_append: dict[BlockHash, CertifiedBlock] = {}
        self.proposed: set[tuple[int, int]] = set()
        self._nothing_to_propose_at: tuple[int, BlockHash] | None = None  # (mempool version, tip)
        self._ready_at: tuple[int, BlockHash, bool] | None = None  # (version, tip, anything ready)
        self.tip: BlockHeader = chain.head
        self.round, self.round_started = 0, now()
        self._was_waiting = False  # whether the last tick found something to propose
        self.out = Outbox()

    # --- who and what -------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def operator(self) -> PublicKey:
        return self.chain.state.operator

    def proposer(self, height: int, round_: int) -> PublicKey:
        return self.validators[(height + round_) % len(self.validators)]

    def _state_of(self, block_hash: BlockHash,
                  ) -> tuple[BlockHeader, ChainState[MarketContract]] | None:
        if block_hash == self.chain.head.hash:
            return self.chain.head, self.chain.state
        known = self.pending.get(block_hash)
        return None if known is None else (known[0].header, known[1])

    def _certified_or_committed(self, block_hash: BlockHash) -> bool:
        return block_hash == self.chain.head.hash or block_hash in self.certified

    def _extends_head(self, block_hash: BlockHash) -> bool:
        """Whether ``block_hash`` is the head or a pending descendant of it."""
        while block_hash != self.chain.head.hash:
            known = self.pending.get(block_hash)
            if known is None:
                return False
            block_hash = known[0].header.prev_hash
        return True

    def _state_after(self, header: BlockHeader) -> ChainState[MarketContract]:
        """The state after ``header``, the tip or the block `next_turn` extends: the head's
        or a pending block's, so always known."""
        known = self._state_of(header.hash)
        assert known is not None, "the tip is the head or a pending block above it"
        return known[1]

    def _nonces_after(self, header: BlockHeader) -> Callable[[PublicKey], int]:
        """Each account's next nonce in the state after ``header`` (after the blocks above the
        head, whose transactions the mempool still holds)."""
        nonces = self._state_after(header).nonces
        return lambda account: nonces.get(account, 0)

    # --- clients and mempools -----------------------------------------------------------------

    def _clock_ok(self, clock: Clock | None) -> bool:
        return clock is None or (clock.chain_id == self.chain_id
                                 and signed_by(self.operator, clock.message(), clock.signature))

    def _see_clock(self, clock: Clock | None) -> None:
        if clock is None:
            return
        self.clocks.setdefault(clock.time, clock)
        if self.clock is None or clock.time > self.clock.time:
            self.clock = clock

    def on_submission(self, sub: Submission, *, from_client: bool,
                      submitter: str = OPERATOR_SUBMITTER) -> list[Receipt]:
        """Admit a client's transactions (or another node's, ``from_client`` False), checking
        every signature once here, so that blocks holding them need not check them again;
        a client's admitted ones are passed on to every other node. ``submitter``: whose
        subject they came on (the operator, or a home's account in hex)."""
        whole = ("clock not signed by the operator" if not self._clock_ok(sub.clock) else
                 self._too_far_ahead(sub.clock)
                 if from_client and submitter != OPERATOR_SUBMITTER else "")
        if whole:
            return [Receipt(tx.txid, False, whole) for tx in sub.transactions]
        self._see_clock(sub.clock)
        at = (sub.clock.time if sub.clock else
              self.clock.time if self.clock else self.chain.head.timestamp)
        first = {tx.txid: self._submitted_as(tx, submitter) or self._refusal(tx)
                 for tx in sub.transactions
                 if tx.txid not in self.recent}  # what needs no signature check
        fresh = [tx for tx in sub.transactions if tx.txid not in self.recent
                 and not first[tx.txid] and tx.txid not in self.mempool]
        signed_ok = dict(zip((tx.txid for tx in fresh), kernels.ed25519_verify_batch(
            [tx.sender for tx in fresh], [tx.signing_message() for tx in fresh],
            [tx.signature for tx in fresh]) if fresh else []))
        receipts, admitted, now = [], [], self.now()
        for tx in sub.transactions:
            if tx.txid in self.recent:  # a client's retry: already done
                receipts.append(Receipt(tx.txid, True, f"committed at height "
                                                       f"{self.recent[tx.txid]}"))
                continue
            reason = (first[tx.txid]
                      or ("" if signed_ok.get(tx.txid, True) else "bad signature")
                      or self.mempool.refusal(tx, self.chain.next_nonce(tx.sender)))
            if reason:
                receipts.append(Receipt(tx.txid, False, reason))
                continue
            if self.mempool.add(tx, at, now):
                admitted.append(tx)
            receipts.append(Receipt(tx.txid, True, "in the mempool"))
        if from_client and admitted:
            self.out.messages.append(("mempool", Submission(sub.clock, tuple(admitted)).encoded))
        return receipts

    def _submitted_as(self, tx: Transaction, submitter: str) -> str:
        """Why ``tx`` may not come on ``submitter``'s subject, or '': a home submits only its
        own and its meter's transactions; the operator relays any."""
        if submitter == OPERATOR_SUBMITTER:
            return ""
        contract = self.chain.state.contract
        try:
            home = PublicKey(bytes.fromhex(submitter))
        except ValueError:
            return f"unknown submitter {submitter!r}"
        participant = contract.participants.get(home) if contract is not None else None
        if tx.sender == home or (participant is not None and tx.sender == participant.meter_key):
            return ""
        return (f"a transaction of {tx.sender.hex()[:16]} submitted as home {submitter[:16]}: "
                "a home submits only its own and its meter's")

    def party(self, sender: PublicKey) -> str:
        """Whose records a transaction of ``sender`` belongs to: its home's (a home's or its
        meter's), else the operator's."""
        contract = self.chain.state.contract
        if contract is not None:
            if sender in contract.participants:
                return sender.hex()
            if sender in contract.meters:
                return contract.meters[sender].hex()
        return OPERATOR_SUBMITTER

    def _refusal(self, tx: Transaction) -> str:
        """Why ``tx`` is refused before its signature is checked, or ''."""
        if tx.chain_id != self.chain_id:
            return f"transaction for chain {tx.chain_id}, this is chain {self.chain_id}"
        if tx.nonce < self.chain.next_nonce(tx.sender):
            return f"nonce {tx.nonce} already used (next is {self.chain.next_nonce(tx.sender)})"
        return ""

    def _too_far_ahead(self, clock: Clock | None) -> str:
        """Why a home may not submit for ``clock``'s time, or ''."""
        now = max(self.chain.head.timestamp, self.clock.time if self.clock else 0)
        if clock is None or clock.time - now <= MAX_CLOCK_AHEAD_S:
            return ""
        return (f"block time {clock.time} is {clock.time - now} s ahead of the chain's clock "
                f"({now}; at most {MAX_CLOCK_AHEAD_S} s)")

    # --- proposing ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Pass the turn on after a silent round, append certified blocks still missing from
        the stream, and propose on this validator's turn."""
        now = self.now()
        for expired in self.mempool.expire(now):
            tx = expired.tx
            waits = self.chain.next_nonce(tx.sender)
            self._drop(tx, f"expired: held {self.mempool.ttl_s:g} s and not committed"
                       + (f" (nonce {tx.nonce} waits for nonce {waits})" if tx.nonce > waits
                          else ""))
        waiting = self._waiting()
        if waiting and not self._was_waiting:  # a round's clock runs while it has work:
            self.round_started = now  # after a quiet spell its proposer still has its turn
        self._was_waiting = waiting
        if now - self.round_started > self.round_timeout_s and waiting:
            self.round += 1
            self.round_started = now
            log.info("%s: height %d round %d (turn passed on)", self.name, self.tip.height + 1,
                     self.round)
        for certified, since in list(self.certified.values()):
            h = certified.block.header
            if h.height == self.chain.height + 1 and now - since > self.round_timeout_s / 2:
                self.to_append.setdefault(h.hash, certified)  # its proposer has not
                self.certified[h.hash] = (certified, now)  # and again a half round later
        parent, round_ = self.next_turn()
        height = parent.height + 1
        if (self.proposer(height, round_) == self.key.public
                and (height, round_) not in self.proposed
                and (self.mempool.version, parent.hash) != self._nothing_to_propose_at):
            self._propose(parent, round_)

    def idle(self) -> bool:
        """Whether nothing here waits on a timer: no transaction held, no block in flight or
        to append, no round passed on. An idle validator's tick does nothing."""
        return (not len(self.mempool) and not self.pending and not self.certified
                and not self.to_append and self.round == 0)

    def next_turn(self) -> tuple[BlockHeader, int]:
        """The block the next proposal extends, and its round: the tip, in this height's
        round; or, while the one block above the tip that this validator has validated waits
        for its certificate, that block, in round 0 of the height after it, so that the next
        block is built while the votes on this one come in. The others hold such a proposal
        until the block it extends is certified (`on_proposal`), and its proposer votes for
        it only then (`send_proposal`): a block is still voted for only on a certified
        parent. Not while a height stalls (round above 0)."""
        if self.round == 0:
            above = [block.header for block, _ in self.pending.values()
                     if block.header.prev_hash == self.tip.hash]
            if len(above) == 1:
                return above[0], 0
        return self.tip, self.round

    def _waiting(self) -> bool:
        """Whether the mempool holds anything that could go into a block on the tip."""
        key = (self.mempool.version, self.tip.hash)
        if self._ready_at is None or self._ready_at[:2] != key:
            self._ready_at = (*key, bool(self.mempool.ready(self._nonces_after(self.tip))))
        return self._ready_at[2]

    def due_appends(self) -> list[CertifiedBlock]:
        """Certified blocks this validator is to append now: children of the head."""
        return [c for c in self.to_append.values()
                if c.block.header.prev_hash == self.chain.head.hash]

    def appended(self, block_hash: BlockHash) -> None:
        """The stream acknowledged ``block_hash``: nothing more to do for it."""
        self.to_append.pop(block_hash, None)

    def candidates(self, parent: BlockHeader) -> tuple[int, list[Transaction]]:
        """The next block's time and transactions from the mempool: what can apply on
        ``parent`` (see `next_turn`), at a time the node holds the operator's clock for."""
        return self.mempool.next_block(parent.timestamp, self._nonces_after(parent),
                                       self.clocks, self.max_block_txs)

    def _propose(self, parent: BlockHeader, round_: int) -> None:
        """Build and send this validator's block on ``parent`` in ``round_`` (`next_turn`)."""
        height = parent.height + 1
        at, txs = self.candidates(parent)
        if not txs:
            self._nothing_to_propose_at = (self.mempool.version, parent.hash)
            return
        clock = self.clocks.get(at) if at > parent.timestamp else None
        state = self._state_after(parent)
        built = build_block(state, parent, txs, at, self.key, verified=self.mempool)
        self._sort_refused(built.refused, state)
        if not built.block.transactions:
            self._nothing_to_propose_at = (self.mempool.version, parent.hash)
            return
        self.proposed.add((height, round_))
        self.send_proposal(Proposal(round_, clock, built.block), built.state)

    def send_proposal(self, proposal: Proposal, state: ChainState[MarketContract]) -> None:
        """Send ``proposal`` (built by this validator into ``state``) and vote for it, at once
        if the block it extends is certified, else once it is (`_unpark`)."""
        block = proposal.block
        self.pending[block.header.hash] = (block, state)
        self.out.messages.append(("proposal", proposal.encoded))
        if self._certified_or_committed(block.header.prev_hash):
            self._vote(block)
        else:
            self.unvoted[block.header.prev_hash] = block

    def _sort_refused(self, refused: tuple[tuple[Transaction, str], ...],
                      state: ChainState[MarketContract]) -> None:
        """Keep what may apply later (a nonce ahead, or one already in a pending block); drop
        the rest and say why."""
        for tx, reason in refused:
            expected = state.nonces.get(tx.sender, 0)
            if tx.nonce != expected and reason != "bad signature":
                continue
            self.mempool.remove([tx.txid])
            self._drop(tx, reason)

    def _drop(self, tx: Transaction, reason: str) -> None:
        """Tell ``tx``'s party why it was dropped from the mempool."""
        self.out.messages.append(("record", {"party": self.party(tx.sender),
                                             "txid": tx.txid.hex(), "reason": reason,
                                             "node": self.name}))
        log.info("%s: dropped %s: %s", self.name, tx.txid.hex()[:16], reason)

    # --- voting -----------------------------------------------------------------------------

    def clock_allows(self, proposal: Proposal, parent: BlockHeader) -> str:
        """Why the block's time is not allowed after ``parent``'s, or ''."""
        t = proposal.block.header.timestamp
        if t == parent.timestamp:
            return ""
        if t < parent.timestamp:
            return "timestamp earlier than the previous block's"
        clock = proposal.clock
        if clock is None or clock.time != t:
            return f"timestamp {t} without the operator's clock for it"
        if not self._clock_ok(clock):
            return "clock not signed by the operator"
        return ""

    def on_proposal(self, proposal: Proposal) -> None:
        block = proposal.block
        h = block.header
        if h.chain_id != self.chain_id or not 0 < h.height - self.chain.height <= LOOKAHEAD:
            return
        if h.hash in self.pending or (h.height, h.proposer) in self.voted:
            return  # one vote per height and proposer
        ahead = proposal.round > self.round + 1 and h.prev_hash == self.tip.hash
        if ahead and not self._stalled():
            return  # a turn that has not come, while this height goes well
        if h.proposer != self.proposer(h.height, proposal.round):
            log.warning("%s: height %d: block from %s, not the proposer of round %d",
                        self.name, h.height, h.proposer.hex()[:16], proposal.round)
            return
        if ahead:  # rounds drifted apart while the height stalled: meet at this one
            self.round, self.round_started = proposal.round, self.now()
            log.info("%s: height %d round %d (joined a proposal)", self.name, h.height,
                     self.round)
        parent = self._state_of(h.prev_hash)
        if parent is None or not self._certified_or_committed(h.prev_hash):
            self.parked[h.prev_hash].append(proposal)
            return
        parent_header, parent_state = parent
        reason = self.clock_allows(proposal, parent_header)
        try:
            if reason:
                raise InvalidBlock(h.height, reason)
            state = validate_block(block, parent_state, parent_header, verified=self.mempool)
        except (InvalidBlock, NotAddressed) as exc:  # not addressed: see `Node`'s view key
            log.warning("%s: no vote for block %s: %s", self.name, h.hash.hex()[:16], exc)
            return
        self._see_clock(proposal.clock)
        self.pending[h.hash] = (block, state)
        self._vote(block)

    def _stalled(self) -> bool:
        """Whether this height has gone a round without a certified block (a node that
        just started counts from its start)."""
        return self.round > 0 or self.now() - self.round_started > self.round_timeout_s

    def _vote(self, block: Block) -> None:
        h = block.header
        self.voted.add((h.height, h.proposer))
        vote = self.cast(block)
        self.out.messages.append(("vote", vote.encoded))
        self._count(vote)

    def cast(self, block: Block) -> Vote:
        return Vote.cast(block, self.key)

    def on_vote(self, vote: Vote) -> None:
        if (vote.chain_id != self.chain_id
                or not 0 < vote.height - self.chain.height <= LOOKAHEAD
                or vote.validator not in self.chain.state.validators
                or vote.validator in self.votes.get(vote.block_hash, {})):
            return
        if not signed_by(vote.validator, vote.message(), vote.signature):
            log.warning("%s: forged vote from %s", self.name, vote.validator.hex()[:16])
            return
        self._count(vote)

    def _count(self, vote: Vote) -> None:
        votes = self.votes[vote.block_hash]
        votes[vote.validator] = vote
        known = self.pending.get(vote.block_hash)
        if len(votes) < self.quorum or known is None or vote.block_hash in self.certified:
            return
        block = known[0]
        certified = CertifiedBlock(block, Certificate.from_votes(block.header, votes.values()))
        self.certified[block.header.hash] = (certified, self.now())
        if block.header.proposer == self.key.public:
            self.to_append[block.header.hash] = certified
        self._advance_tip()

    def _advance_tip(self) -> None:
        """Move the tip up certified blocks whose state is known, and start their rounds."""
        moved = True
        while moved:
            moved = False
            for certified, _ in self.certified.values():
                h = certified.block.header
                if h.prev_hash == self.tip.hash and h.hash in self.pending:
                    self.tip, moved = h, True
                    self.round, self.round_started = 0, self.now()
                    self._unpark(h.hash)
                    break

    def _unpark(self, parent_hash: BlockHash) -> None:
        """``parent_hash`` is certified or committed: vote for this validator's own block on
        it, and validate the others' proposals on it."""
        own = self.unvoted.pop(parent_hash, None)
        if own is not None and own.header.hash in self.pending:
            self._vote(own)
        for proposal in self.parked.pop(parent_hash, []):
            self.on_proposal(proposal)

    # --- applying ---------------------------------------------------------------------------

    def on_entry(self, entry: Entry) -> bool:
        """Apply stream entry ``entry`` if it is a validly certified child of the head (True),
        else skip it."""
        self.stream_seq = entry.seq
        certified = entry.certified
        if certified is None:
            log.warning("%s: stream entry %d skipped: %s", self.name, entry.seq, entry.problem)
            return False
        h = certified.block.header
        if h.prev_hash != self.chain.head.hash or h.height != self.chain.height + 1:
            return False  # a stale duplicate, or another branch's block: not ours to apply
        try:
            check_certificate(h, certified.certificate, self.chain.state.validators)
            known = self.pending.get(h.hash)
            if known is not None:
                self.chain.commit(certified, known[1])
            else:
                self.chain.append(certified)
        except InvalidBlock as exc:
            log.warning("%s: stream entry %d skipped: %s", self.name, entry.seq, exc)
            return False
        self._committed(certified.block)
        return True

    def _committed(self, block: Block) -> None:
        height = block.header.height
        self.mempool.remove([tx.txid for tx in block.transactions])
        self.recent.update((tx.txid, height) for tx in block.transactions)
        while len(self.recent) > RECENT_TXIDS:
            self.recent.popitem(last=False)
        self.mempool.evict_stale(self.chain.next_nonce)
        self.pending = {k: v for k, v in self.pending.items() if v[0].header.height > height}
        self.certified = {k: v for k, v in self.certified.items()
                          if v[0].block.header.height > height}
        self.to_append = {k: v for k, v in self.to_append.items()
                          if v.block.header.height > height}
        self.votes = defaultdict(dict, {k: v for k, v in self.votes.items()
                                        if next(iter(v.values())).height > height})
        self.clocks = {t: c for t, c in self.clocks.items() if t >= block.header.timestamp}
        self.voted = {(hh, p) for hh, p in self.voted if hh > height}
        self.proposed = {(hh, r) for hh, r in self.proposed if hh > height}
        self.unvoted = {p: b for p, b in self.unvoted.items() if b.header.height > height}
        for parent in [p for p, props in self.parked.items()
                       if all(pr.block.header.height <= height for pr in props)]:
            del self.parked[parent]
        if not self._extends_head(self.tip.hash):
            if self.tip.hash != block.header.hash:
                self.round, self.round_started = 0, self.now()
            self.tip = self.chain.head
        self._advance_tip()
        self._unpark(block.header.hash)
        self.out.messages.append(("applied", {"node": self.name, "height": height,
                                              "hash": block.header.hash.hex(),
                                              "transactions": len(block.transactions)}))
        if block.header.proposer == self.key.public:  # its proposer tells each party
            committed: dict[str, list[str]] = defaultdict(list)
            for tx in block.transactions:
                committed[self.party(tx.sender)].append(tx.txid.hex())
            for party, txids in committed.items():
                self.out.messages.append(("record", {"party": party, "height": height,
                                                     "committed": txids}))

    def status(self) -> dict[str, Any]:
        return {"node": self.name, "height": self.chain.height,
                "head": self.chain.head.hash.hex(), "tip": self.tip.height,
                "round": self.round, "mempool": len(self.mempool),
                "validator": self.key.public.hex()}
