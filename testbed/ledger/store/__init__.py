"""Where a chain keeps its blocks: a small interface, with the backends beside it.

A backend stores each block as its canonical bytes: the signed header, its transactions (the
wire encoding of the batch, `wire.encode_transactions`, packed: compressed, with their length
and a checksum, `packing`) and its quorum certificate (`certificates`); `chain.stored_blocks`
unpacks, decodes and checks them. Appends are atomic: a killed
process leaves every block appended before the kill, and no part of the one it was appending.

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
class StoredBlock:
    """A block record as stored: the signed header, its transactions' bytes packed
    (`packing.unpack` gives the canonical ones) and its certificate (None for genesis)."""

    height: int
    signed_header: bytes
    transactions: bytes
    certificate: bytes | None


class Store(Protocol):
    """Append-only block storage."""

    def append(self, blocks: Sequence[CertifiedBlock]) -> None:
        """Store ``blocks`` (consecutive heights), their transactions and certificates in one
        atomic commit."""

    def height(self) -> int:
        """Height of the last stored block, -1 when empty."""

    def blocks(self, after: int = -1) -> Iterator[StoredBlock]:
        """Every stored block above height ``after``, in height order, as stored."""

    def close(self) -> None:
        """Release the storage; a read-only store leaves every byte as it found it."""

    def discard(self) -> None:
        """Close and remove a store just created, that never got its first block."""


def create_store(location: Path | str) -> Store:
    """A new, empty store; an existing one is never overwritten (`StoreError`)."""
    from testbed.ledger.store import sqlite

    return sqlite.create(location)


def open_store(location: Path | str, *, readonly: bool = False, live: bool = False) -> Store:
    """An existing store; ``readonly`` changes nothing in it or beside it (for `verify`);
    ``live``: read while another process writes it, seeing each append as it commits."""
    from testbed.ledger.store import sqlite

    return sqlite.open_file(location, readonly=readonly, live=live)


def settle(location: Path | str) -> None:
    """Fold a finished ledger's pending writes into its file, so the file alone holds every
    block (a copy of it is the whole ledger); call once no other process has it open."""
    open_store(location).close()
