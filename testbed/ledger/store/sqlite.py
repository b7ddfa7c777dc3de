"""The SQLite store: one ledger file, WAL mode, synchronous=FULL.

The stored bytes are the canonical encodings (signed block headers, signed transactions,
quorum certificates); the
other columns (hashes, sender, type) are derived keys for lookups, returned with every record
so that `verify` checks them. Each append commits in one database transaction, so a process
killed at any moment leaves every block committed before the kill, and no partial one.

Opened read-only (`verify`), the file and its folder are left exactly as found: a file with no
pending journal is opened immutable (SQLite then takes no locks and writes nothing); one with
a write-ahead log or rollback journal beside it (a writer killed or still running) is copied
with it into a temporary folder, and the copy is read.

Format 2 (``PRAGMA user_version = 2``) added the certificates table. A file of format 1 (written
before it) is read as having no certificates, which `chain.replay` accepts only on a
one-validator chain; it is never written to.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from testbed.errors import StoreError
from testbed.ledger.store import StoredBlock, StoredTransaction

if TYPE_CHECKING:
    from testbed.ledger.certificates import CertifiedBlock

APPLICATION_ID = 0x50325045  # marks a file as a ledger of this project
FORMAT = 2  # PRAGMA user_version: 2 added certificates (files of format 1 have user_version 0)
_JOURNALS = ("-wal", "-journal")  # files SQLite keeps beside a database with pending writes
_SCHEMA = """
CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    header BLOB NOT NULL,   -- canonical signed header
    hash BLOB NOT NULL      -- derived: SHA-256 of the header
);
CREATE TABLE transactions (
    height INTEGER NOT NULL REFERENCES blocks(height),
    idx INTEGER NOT NULL,
    raw BLOB NOT NULL,      -- canonical signed transaction
    txid BLOB NOT NULL,     -- derived: SHA-256 of raw
    sender BLOB NOT NULL,   -- derived
    type INTEGER NOT NULL,  -- derived
    PRIMARY KEY (height, idx)
);
CREATE INDEX transactions_by_txid ON transactions(txid);
CREATE INDEX transactions_by_sender ON transactions(sender);
CREATE TABLE certificates (
    height INTEGER PRIMARY KEY REFERENCES blocks(height),
    certificate BLOB NOT NULL  -- canonical quorum certificate of the block at this height
);
"""


class SqliteStore:
    """Append-only block storage in one SQLite file; reads stream block by block."""

    def __init__(self, db: sqlite3.Connection, scratch: Path | None = None,
                 path: Path | None = None) -> None:
        self.db = db
        self._scratch = scratch  # the temporary copy read in place of the file, if any
        self._path = path  # the file, for a store this process created
        self.format = FORMAT  # of a file opened: read by `open_file`

    def append(self, blocks: Sequence[CertifiedBlock]) -> None:
        if self.format != FORMAT:
            raise StoreError("this ledger was written before quorum certificates: it can be "
                             "verified, not extended")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO blocks (height, header, hash) VALUES (?, ?, ?)",
                [(c.block.header.height, c.block.signed_header, c.block.header.hash)
                 for c in blocks],
            )
            self.db.executemany(
                "INSERT INTO transactions (height, idx, raw, txid, sender, type)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(c.block.header.height, i, tx.encoded, tx.txid, tx.sender, tx.type)
                 for c in blocks for i, tx in enumerate(c.block.transactions)],
            )
            self.db.executemany(
                "INSERT INTO certificates (height, certificate) VALUES (?, ?)",
                [(c.block.header.height, c.certificate.encoded)
                 for c in blocks if c.certificate is not None],
            )

    def height(self) -> int:
        (h,) = self.db.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()
        return h

    def blocks(self) -> Iterator[StoredBlock]:
        cur = self.db.execute(
            "SELECT height, header, hash, certificate FROM blocks"
            " LEFT JOIN certificates USING (height) ORDER BY height"
            if self.format >= FORMAT else
            "SELECT height, header, hash, NULL FROM blocks ORDER BY height")
        tx_cur = self.db.execute(
            "SELECT height, idx, raw, txid, sender, type FROM transactions ORDER BY height, idx"
        )
        pending = tx_cur.fetchone()
        for height, header, stored_hash, certificate in cur:
            txs = []
            while pending is not None and pending[0] <= height:
                if pending[0] < height:
                    raise StoreError(f"height {pending[0]}: transactions of a missing block")
                txs.append(StoredTransaction(*pending[1:]))
                pending = tx_cur.fetchone()
            yield StoredBlock(height, header, stored_hash, tuple(txs), certificate)
        if pending is not None:
            raise StoreError(f"height {pending[0]}: transactions of a missing block")

    def close(self) -> None:
        self.db.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def discard(self) -> None:
        self.close()
        if self._path is not None:
            for suffix in ("", "-wal", "-shm"):
                self._path.with_name(self._path.name + suffix).unlink(missing_ok=True)


def create(path: Path | str) -> SqliteStore:
    """A new, empty ledger file (``":memory:"``: in memory); an existing file is never
    overwritten."""
    if str(path) != ":memory:":
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists; not overwriting a ledger")
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None)
    store = SqliteStore(db, path=None if str(path) == ":memory:" else Path(path))
    try:
        _writable(db)
        db.executescript(f"BEGIN; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
                         f"PRAGMA user_version = {FORMAT}; COMMIT;")
    except BaseException:
        store.discard()
        raise
    return store


def open_file(path: Path | str, *, readonly: bool = False) -> SqliteStore:
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such ledger file")
    store = SqliteStore(*_connect(path, readonly))
    try:
        (app_id,) = store.db.execute("PRAGMA application_id").fetchone()
        if app_id != APPLICATION_ID:
            raise StoreError(f"{path}: not a ledger of this testbed")
        (store.format,) = store.db.execute("PRAGMA user_version").fetchone()
        if store.format > FORMAT:
            raise StoreError(f"{path}: ledger format {store.format} is newer than this testbed's")
        if not readonly:
            _writable(store.db)
    except sqlite3.DatabaseError as exc:
        store.close()
        raise StoreError(f"{path}: not a ledger ({exc})") from None
    except BaseException:
        store.close()
        raise
    return store


def _connect(path: Path, readonly: bool) -> tuple[sqlite3.Connection, Path | None]:
    """A connection to ``path``, or read-only to a copy of it when a journal is pending."""
    if not readonly:
        return sqlite3.connect(str(path), isolation_level=None), None
    if not any(path.with_name(path.name + j).exists() for j in _JOURNALS):
        uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        return sqlite3.connect(uri, uri=True, isolation_level=None), None
    scratch = Path(tempfile.mkdtemp(prefix="testbed-verify-"))
    for suffix in ("", *_JOURNALS):
        source = path.with_name(path.name + suffix)
        if source.exists():
            shutil.copyfile(source, scratch / ("ledger.sqlite" + suffix))
    return sqlite3.connect(str(scratch / "ledger.sqlite"), isolation_level=None), scratch


def _writable(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
