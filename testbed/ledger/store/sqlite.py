"""The SQLite store: one ledger file, WAL mode, synchronous=NORMAL.

The stored bytes are the canonical encodings (signed block headers, signed transactions,
quorum certificates). Each append commits in one database transaction, so a process killed at any moment leaves every block committed before the kill,
and no partial one. With WAL, synchronous=NORMAL keeps that for a killed process (a commit is
in the log file before it returns) without an fsync per commit; a power cut may lose the last
commits since the log was last checkpointed, never a part of one.

Opened read-only (`verify`), the file and its folder are left exactly as found: a file with no
pending journal is opened immutable (SQLite then takes no locks and writes nothing); one with
a write-ahead log or rollback journal beside it (a writer killed or still running) is copied
with it into a temporary folder, and the copy is read.

Format 4 (``PRAGMA user_version``) stores a block per row: its signed header, its transactions
as one blob, packed (`packing`: compressed, with their length and a checksum), and its
certificate. Format 3 stored the transactions as they are, and with sealed records that carried
a key per reader (transaction version 1); a row per transaction with derived keys and their
indexes (format 2) took twice the space for lookups nothing made. A file of another format is
refused with the reason: its transactions and state roots follow other rules.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from testbed.errors import StoreError
from testbed.ledger.encoding import EncodingError
from testbed.ledger.store import StoredBlock
from testbed.ledger.store.packing import pack
from testbed.ledger.wire import encode_transactions

if TYPE_CHECKING:
    from testbed.ledger.certificates import CertifiedBlock

APPLICATION_ID = 0x50325045  # marks a file as a ledger of this project
FORMAT = 4  # PRAGMA user_version: 4 stores a block per row, its transactions compressed
PAGE_BYTES = 1024  # packed blocks overflow their leaf pages: small pages leave less slack
_JOURNALS = ("-wal", "-journal")  # files SQLite keeps beside a database with pending writes
_SCHEMA = """
CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    header BLOB NOT NULL,        -- canonical signed header
    transactions BLOB NOT NULL,  -- the signed transactions (u32 n, n x (u32 length, bytes)),
                                 -- packed: compressed, with their length and a checksum
    certificate BLOB             -- canonical quorum certificate (NULL: the genesis block)
);
"""


class SqliteStore:
    """Append-only block storage in one SQLite file; reads stream block by block."""

    def __init__(self, db: sqlite3.Connection, scratch: Path | None = None,
                 path: Path | None = None) -> None:
        self.db = db
        self._scratch = scratch  # the temporary copy read in place of the file, if any
        self._path = path  # the file, for a store this process created

    def append(self, blocks: Sequence[CertifiedBlock]) -> None:
        try:
            rows = [(c.block.header.height, c.block.signed_header,
                     pack(encode_transactions(c.block.transactions)),
                     None if c.certificate is None else c.certificate.encoded) for c in blocks]
        except EncodingError as exc:
            raise StoreError(f"not stored: {exc}") from None
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO blocks (height, header, transactions, certificate)"
                " VALUES (?, ?, ?, ?)", rows)

    def height(self) -> int:
        (h,) = self.db.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()
        return int(h)

    def blocks(self, after: int = -1) -> Iterator[StoredBlock]:
        rows = self.db.execute(
            "SELECT height, header, transactions, certificate FROM blocks WHERE height > ?"
            " ORDER BY height", (after,))
        for row in rows:
            yield StoredBlock(*row)

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
    db = _writer(str(path))
    store = SqliteStore(db, path=None if str(path) == ":memory:" else Path(path))
    try:
        db.execute(f"PRAGMA page_size = {PAGE_BYTES}")  # before the first page is written
        _writable(db)
        db.executescript(f"BEGIN; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
                         f"PRAGMA user_version = {FORMAT}; COMMIT;")
    except BaseException:
        store.discard()
        raise
    return store


def open_file(path: Path | str, *, readonly: bool = False, live: bool = False) -> SqliteStore:
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path}: no such ledger file")
    if live:  # a reader beside a running writer: the log's commits as they come, no copy
        uri = path.resolve().as_uri() + "?mode=ro"
        store = SqliteStore(sqlite3.connect(uri, uri=True, isolation_level=None))
    else:
        store = SqliteStore(*_connect(path, readonly))
    try:
        (app_id,) = store.db.execute("PRAGMA application_id").fetchone()
        if app_id != APPLICATION_ID:
            raise StoreError(f"{path}: not a ledger of this testbed")
        (version,) = store.db.execute("PRAGMA user_version").fetchone()
        if version != FORMAT:
            age = "newer" if version > FORMAT else "older"
            raise StoreError(f"{path}: ledger format {version} is {age} than this testbed's "
                             f"({FORMAT}); verify it with the testbed that wrote it")
        if not (readonly or live):
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
        return _writer(str(path)), None
    if not any(path.with_name(path.name + j).exists() for j in _JOURNALS):
        uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
        return sqlite3.connect(uri, uri=True, isolation_level=None), None
    scratch = Path(tempfile.mkdtemp(prefix="testbed-verify-"))
    for suffix in ("", *_JOURNALS):
        source = path.with_name(path.name + suffix)
        if source.exists():
            shutil.copyfile(source, scratch / ("ledger.sqlite" + suffix))
    return sqlite3.connect(str(scratch / "ledger.sqlite"), isolation_level=None), scratch


def _writer(location: str) -> sqlite3.Connection:
    """A writing connection. It may be used from another thread than the one that opened it
    (a network ledger's replica is written by the ledger's own thread), one thread at a time:
    the owner of the store sees to that."""
    return sqlite3.connect(location, isolation_level=None, check_same_thread=False)


def _writable(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
