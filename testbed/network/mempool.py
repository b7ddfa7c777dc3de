"""The transactions a node holds until a block commits them, each with the time it is for.

A transaction arrives for a time: the operator's clock sent with it, or else the latest clock
the node holds (`wire.Submission`). One entry per transaction id: the same transaction sent
to two nodes is held, and committed, once. Every transaction held has had its signature
checked by this node.

No sender can hold the others back:

- **Only what can apply goes into a block.** A proposer takes each sender's transactions from
  its next nonce on, without a gap (`next_block`); a sender whose next nonce is missing is
  skipped, not waited for. The block's time is the earliest time of those ready transactions
  that is later than the parent's (and for which the node holds the operator's clock), else
  the parent's: transactions for an earlier time go into whichever block comes next, so
  entries for a past time never pin the chain's clock, and a gap never does.
- **Bounded.** Each sender holds at most its share (`SENDER_SHARE`; the operator, whose own
  transactions are the market's clearings, settlements and every home's registration,
  `OPERATOR_SHARE`), all senders together at most `TOTAL`, in transactions and in bytes; a
  transaction with more than `NONCE_WINDOW` of its sender's nonces missing below it is refused.
  A flood fills its own sender's share: the others' stay free.
- **Expiring.** Whatever is still held `timing.MEMPOOL_TTL_S` after it arrived is dropped
  (`expire`).

No I/O: the caller passes the clock (``now``) and the chain's nonces.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass

from testbed.ledger.ids import PublicKey, TxId
from testbed.ledger.params import MAX_TX_PER_BLOCK
from testbed.ledger.transactions import Transaction
from testbed.network.servers import MAX_PAYLOAD_BYTES
from testbed.network.timing import MEMPOOL_TTL_S


@dataclass(frozen=True)
class Share:
    """How much of the mempool one sender (or all together) may hold."""

    txs: int
    bytes: int


SENDER_SHARE = Share(256, 256 << 10)
"""A home's (and a meter's: each key is a sender). A home signs at most 2 transactions per
15-minute interval (a sealed order and its reveal), its meter 1 (a reading). The run hands the
nodes one batch at a time (the next waits in the run until this one commits), so a home has 3
at most held for it; a client that pipelines instead, at real-time factor 600 for a whole
2-minute commit deadline, has 80 intervals in flight: 256 leaves room for 3 per interval.
The largest a home or meter signs is a sealed reading to MAX_READERS readers, about 2.1 KB
(580 B with the usual 3): 256 KiB holds over 120 of them. 41 homes and their meters at full
share hold 21,000 transactions and 21 MiB, a third of `TOTAL`."""

OPERATOR_SHARE = Share(MAX_TX_PER_BLOCK, 4 * MAX_PAYLOAD_BYTES)
"""The operator's own transactions (the homes' and meters' that it relays count against their
own shares). Its largest batch registers and funds every home at a run's start (2 per home
and 1: 83 for 41 homes) and must fit whole however large the feeder, up to a block's worth,
MAX_TX_PER_BLOCK; its bytes are the clearings and settlements, which grow with the homes
(15 KB per settlement for 41 homes, about 3 MB for 8,000): four full submissions'
(MAX_PAYLOAD_BYTES, the largest message the servers pass) worth of them may wait at once,
more than the three that `testbed bench network` keeps in flight."""

TOTAL = Share(2 * MAX_TX_PER_BLOCK, 8 * MAX_PAYLOAD_BYTES)
"""Everything a node holds: two blocks' worth of transactions, one being committed while the
next arrives, and twice the operator's share in bytes (64 MiB: about 350 MB of decoded
transactions in the node's memory, 5.4 times their encoding)."""

FULL = "mempool full"
"""How a refusal for want of room begins: it passes as the mempool drains, so a client may
submit the same transactions again later (`NetworkLedger` does, until its deadline)."""

NONCE_WINDOW = 64
"""Most of a sender's nonces that may be missing below a transaction it holds. A gap opens
when a client's next submission reaches a node before the previous one (sent to another node,
or retried after a lost reply) has been passed on to it: the busiest sender of a submission
signs 8 transactions of one hour of market time (the bench's load), so 64 covers 8 of them
overtaken; a nonce beyond that (e.g. 1,000,000) cannot apply now and is refused."""



@dataclass(frozen=True)
class Pending:
    tx: Transaction
    at: int  # block time it is for (seconds since the Unix epoch)
    seq: int  # arrival order at this node
    since: float  # when it arrived (the caller's clock, seconds)


class Mempool:
    def __init__(self, operator: PublicKey, *, sender_share: Share = SENDER_SHARE,
                 operator_share: Share = OPERATOR_SHARE, total: Share = TOTAL,
                 nonce_window: int = NONCE_WINDOW, ttl_s: float = MEMPOOL_TTL_S) -> None:
        self.operator = operator
        self.sender_share, self.operator_share, self.total = sender_share, operator_share, total
        self.nonce_window, self.ttl_s = nonce_window, ttl_s
        self._entries: dict[TxId, Pending] = {}  # by txid, in arrival order
        self.by_bytes: dict[bytes, Transaction] = {}  # canonical bytes -> transaction held
        self._by_nonce: dict[PublicKey, dict[int, TxId]] = defaultdict(dict)  # sender: nonce: txid
        self._nonces: dict[PublicKey, list[int]] = defaultdict(list)  # sender: its nonces, sorted
        self._held: dict[PublicKey, list[int]] = defaultdict(lambda: [0, 0])  # sender: [txs, bytes]
        self._held_txs = self._held_bytes = 0
        self._arrivals = itertools.count()
        self.version = 0  # changes whenever the contents do

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, txid: object) -> bool:
        return txid in self._entries

    def share(self, sender: PublicKey) -> Share:
        return self.operator_share if sender == self.operator else self.sender_share

    def refusal(self, tx: Transaction, next_nonce: int) -> str:
        """Why ``tx`` may not be held now (its sender's next nonce on the chain is
        ``next_nonce``), or '': a nonce used or taken, too many missing below it, its sender's
        share or the mempool full."""
        if tx.txid in self._entries:
            return ""
        if tx.nonce < next_nonce:
            return f"nonce {tx.nonce} already used (next is {next_nonce})"
        taken = self._by_nonce.get(tx.sender, {}).get(tx.nonce)
        if taken is not None:
            return (f"nonce {tx.nonce} is taken by another transaction in the mempool "
                    f"({taken.hex()[:16]})")
        nonces = self._nonces.get(tx.sender, [])
        held_below = bisect.bisect_left(nonces, tx.nonce) - bisect.bisect_left(nonces, next_nonce)
        missing = tx.nonce - next_nonce - held_below
        if missing > self.nonce_window:
            return (f"nonce gap: nonce {tx.nonce} with {missing} nonces missing below it "
                    f"(next is {next_nonce}, at most {self.nonce_window} may be missing)")
        size = len(tx.encoded)
        share, (txs, held) = self.share(tx.sender), self._held.get(tx.sender, (0, 0))
        if txs + 1 > share.txs or held + size > share.bytes:
            return (f"{FULL} for this sender ({txs} transactions, {held} bytes held; "
                    f"its share is {share.txs} and {share.bytes} bytes)")
        if self._held_txs + 1 > self.total.txs or self._held_bytes + size > self.total.bytes:
            return (f"{FULL} ({self._held_txs} transactions, {self._held_bytes} bytes "
                    f"held; at most {self.total.txs} and {self.total.bytes} bytes)")
        return ""

    def add(self, tx: Transaction, at: int, now: float) -> bool:
        """Hold ``tx`` for time ``at`` from ``now``; False when it is already held. The caller
        has checked `refusal`."""
        if tx.txid in self._entries:
            return False
        self._entries[tx.txid] = Pending(tx, at, next(self._arrivals), now)
        self.by_bytes[tx.encoded] = tx
        self._by_nonce[tx.sender][tx.nonce] = tx.txid
        bisect.insort(self._nonces[tx.sender], tx.nonce)
        held = self._held[tx.sender]
        held[0] += 1
        held[1] += len(tx.encoded)
        self._held_txs += 1
        self._held_bytes += len(tx.encoded)
        self.version += 1
        return True

    def ready(self, next_nonce: Callable[[PublicKey], int]) -> list[tuple[int, int, int, Pending]]:
        """What can apply on a state whose nonces are ``next_nonce``: each sender's entries
        from its next nonce on, up to its first gap, as (time, arrival, nonce, entry) with the
        time and arrival of each the latest of its sender's up to it (so that sorting keeps
        each sender's nonces in order)."""
        out = []
        for sender, by_nonce in self._by_nonce.items():
            nonce = next_nonce(sender)
            at = seq = -1
            while (txid := by_nonce.get(nonce)) is not None:
                entry = self._entries[txid]
                at, seq = max(at, entry.at), max(seq, entry.seq)
                out.append((at, seq, nonce, entry))
                nonce += 1
        return out

    def next_block(self, after: int, next_nonce: Callable[[PublicKey], int],
                   times: Collection[int], limit: int) -> tuple[int, list[Transaction]]:
        """The next block's time and up to ``limit`` transactions, in order, on a parent of
        time ``after`` whose state has nonces ``next_nonce``: the time is the earliest of
        the ready ones later than ``after`` among ``times`` (those the node holds the
        operator's clock for), else ``after``; none ready: (after, [])."""
        ready = self.ready(next_nonce)
        later = [at for at, _, _, _ in ready if at > after and at in times]
        at = min(later, default=after)
        chosen = sorted(r for r in ready if r[0] <= at)
        return at, [entry.tx for _, _, _, entry in chosen[:limit]]

    def remove(self, txids: Collection[TxId]) -> list[Pending]:
        """Drop ``txids``; the entries that were held."""
        gone = [p for p in (self._entries.pop(t, None) for t in txids) if p is not None]
        dropped: dict[PublicKey, set[int]] = defaultdict(set)
        for p in gone:
            tx = p.tx
            del self.by_bytes[tx.encoded]
            del self._by_nonce[tx.sender][tx.nonce]
            dropped[tx.sender].add(tx.nonce)
            held = self._held[tx.sender]
            held[0] -= 1
            held[1] -= len(tx.encoded)
            self._held_txs -= 1
            self._held_bytes -= len(tx.encoded)
        for sender, nonces in dropped.items():
            if not self._by_nonce[sender]:
                del self._by_nonce[sender], self._nonces[sender], self._held[sender]
            else:
                self._nonces[sender] = [n for n in self._nonces[sender] if n not in nonces]
        if gone:
            self.version += 1
        return gone

    def evict_stale(self, next_nonce: Callable[[PublicKey], int]) -> None:
        """Drop what can never be committed: nonces its sender has already used."""
        stale = []
        for sender, nonces in self._nonces.items():
            used = bisect.bisect_left(nonces, next_nonce(sender))
            stale += [self._by_nonce[sender][n] for n in nonces[:used]]
        self.remove(stale)

    def expire(self, now: float) -> list[Pending]:
        """Drop what has been held longer than the time to live at ``now``; the entries."""
        old = list(itertools.takewhile(lambda p: now - p.since > self.ttl_s,
                                       self._entries.values()))
        return self.remove([p.tx.txid for p in old])
