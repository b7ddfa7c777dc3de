"""Where a chain keeps its blocks: a small interface, with the backends beside it.

A backend stores the canonical bytes of signed headers, transactions and quorum certificates
(`certificates`) and may index them by
derived keys (block hash, transaction id, sender, type); it returns every record with the keys
it holds, so `chain.stored_blocks` can check each key against the bytes it derives from.
Appends are atomic: a killed process leaves every block appended before the kill, and no part
of the one it was appending.

Backends: `sqlite` (a file, the default). Another backend (PostgreSQL, a remote store) is one
more module with the same `create` and `open` functions, chosen here by its location.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from testbed.ledger.certificates import CertifiedBlock


@dataclass(frozen=True)
class StoredTransaction:
    """A transaction record as stored: its position, canonical bytes and derived keys."""

    idx: int
    raw: bytes
    txid: bytes
    sender: bytes
    type: int


@dataclass(frozen=True)
class StoredBlock:
    """A block record as stored: the signed header, its derived hash, its transactions and its
    certificate (None for genesis, and for every block of a ledger written before
    certificates)."""

    height: int
    signed_header: bytes
    hash: bytes
    transactions: tuple[StoredTransaction, ...]
    certificate: bytes | None


class Store(Protocol):
    """Append-only block storage."""

    def append(self, blocks: Sequence[CertifiedBlock]) -> None:
        """Store ``blocks`` (consecutive heights), their transactions and certificates in one
        atomic commit."""

    def height(self) -> int:
        """Height of the last stored block, -1 when empty."""

    def blocks(self) -> Iterator[StoredBlock]:
        """Every stored block in height order, as stored; raises `StoreError` on a record that
        cannot be read at all (e.g. transactions without their block)."""

    def close(self) -> None:
        """Release the storage; a read-only store leaves every byte as it found it."""

    def discard(self) -> None:
        """Close and remove a store just created, that never got its first block."""


def create_store(location: Path | str) -> Store:
    """A new, empty store; an existing one is never overwritten (`StoreError`)."""
    from testbed.ledger.store import sqlite

    return sqlite.create(location)


def open_store(location: Path | str, *, readonly: bool = False) -> Store:
    """An existing store; ``readonly`` changes nothing in it or beside it (for `verify`)."""
    from testbed.ledger.store import sqlite

    return sqlite.open_file(location, readonly=readonly)
