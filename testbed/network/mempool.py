"""The transactions a node holds until a block commits them, each with the time it is for.

A transaction arrives for a time: the operator's clock sent with it, or else the latest clock
the node holds (`wire.Submission`). A proposer takes the earliest time pending and the
transactions for that time or before, in arrival order: so what a client sent for gate closure
minus a minute is executed before what it sent for gate closure, whichever node proposes
(clients that pipeline submit through one node, whose messages every node receives in order).
One entry per transaction id: the same transaction sent to two nodes is held, and committed,
once. Every transaction held has had its signature checked by this node.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass

from testbed.ledger.transactions import Transaction


@dataclass(frozen=True)
class Pending:
    tx: Transaction
    at: int  # block time it is for (seconds since the Unix epoch)
    seq: int  # arrival order at this node


class Mempool:
    def __init__(self) -> None:
        self._entries: dict[bytes, Pending] = {}
        self.by_bytes: dict[bytes, Transaction] = {}  # canonical bytes -> transaction held
        self._arrivals = itertools.count()
        self.version = 0  # changes whenever the contents do

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, txid: bytes) -> bool:
        return txid in self._entries

    def add(self, tx: Transaction, at: int) -> bool:
        """Hold ``tx`` for time ``at``; False when it is already held."""
        if tx.txid in self._entries:
            return False
        self._entries[tx.txid] = Pending(tx, at, next(self._arrivals))
        self.by_bytes[tx.encoded] = tx
        self.version += 1
        return True

    def next_block(
        self, after: int, exclude: Collection[bytes], limit: int
    ) -> tuple[int, list[Transaction]]:
        """The next block's time (the earliest pending time, not before ``after``) and up to
        ``limit`` transactions for that time or earlier, in order; none left: (after, [])."""
        pending = [p for p in self._entries.values() if p.tx.txid not in exclude]
        if not pending:
            return after, []
        at = max(after, min(p.at for p in pending))
        chosen = sorted((p for p in pending if p.at <= at), key=lambda p: (p.at, p.seq))
        return at, [p.tx for p in chosen[:limit]]

    def remove(self, txids: Collection[bytes]) -> None:
        for txid in txids:
            gone = self._entries.pop(txid, None)
            if gone is not None:
                del self.by_bytes[gone.tx.encoded]
                self.version += 1

    def evict_stale(self, next_nonce: Callable[[bytes], int]) -> None:
        """Drop what can never be committed: nonces its sender has already used."""
        stale = [t for t, p in self._entries.items() if p.tx.nonce < next_nonce(p.tx.sender)]
        self.remove(stale)
