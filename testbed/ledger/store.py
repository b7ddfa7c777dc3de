"""The ledger file: SQLite in WAL mode with synchronous=FULL.

The stored bytes are the canonical encodings (signed block headers, signed transactions); the
other columns (hashes, sender, type) are derived, checked by `verify` and rebuilt by
`rebuild_derived`. Each block and its transactions commit in one database transaction, so a
process killed at any moment leaves every block committed before the kill, and no partial one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from testbed.errors import UserError
from testbed.ledger.blocks import Block, decode_signed_header
from testbed.ledger.transactions import decode_transaction

APPLICATION_ID = 0x50325045  # marks a file as a ledger of this project
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
"""


class Store:
    """Append-only block storage; reads stream block by block."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @classmethod
    def create(cls, path: Path | str) -> Store:
        """A new, empty ledger file; an existing file is never overwritten."""
        if str(path) != ":memory:":
            path = Path(path)
            if path.exists():
                raise UserError(f"{path} already exists; not overwriting a ledger")
            path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(path)
        db.executescript(f"BEGIN; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID}; COMMIT;")
        return cls(db)

    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such ledger file")
        try:
            db = _connect(path)
            (app_id,) = db.execute("PRAGMA application_id").fetchone()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path}: not a ledger ({exc})") from None
        if app_id != APPLICATION_ID:
            db.close()
            raise UserError(f"{path}: not a ledger of this testbed")
        return cls(db)

    def append(self, block: Block) -> None:
        """Store a block and its transactions in one database transaction."""
        header = block.header
        rows = [
            (header.height, i, tx.encoded, tx.txid, tx.sender, tx.type)
            for i, tx in enumerate(block.transactions)
        ]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO blocks (height, header, hash) VALUES (?, ?, ?)",
                (header.height, block.signed_header, header.hash),
            )
            self.db.executemany(
                "INSERT INTO transactions (height, idx, raw, txid, sender, type)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def height(self) -> int:
        """Height of the last block, -1 when empty."""
        (h,) = self.db.execute("SELECT COALESCE(MAX(height), -1) FROM blocks").fetchone()
        return h

    def blocks(self) -> Iterator[tuple[int, bytes, bytes, list[tuple]]]:
        """(height, signed header, stored hash, [(idx, raw, txid, sender, type)]) in order.

        Every row is returned as stored, so `verify` can check the derived columns too.
        """
        cur = self.db.execute("SELECT height, header, hash FROM blocks ORDER BY height")
        tx_cur = self.db.execute(
            "SELECT height, idx, raw, txid, sender, type FROM transactions ORDER BY height, idx"
        )
        pending = tx_cur.fetchone()
        for height, header, stored_hash in cur:
            txs = []
            while pending is not None and pending[0] <= height:
                if pending[0] < height:
                    raise UserError(f"height {pending[0]}: transactions of a missing block")
                txs.append(pending[1:])
                pending = tx_cur.fetchone()
            yield height, header, stored_hash, txs
        if pending is not None:
            raise UserError(f"height {pending[0]}: transactions of a missing block")

    def rebuild_derived(self) -> None:
        """Recompute every derived column from the canonical bytes."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for height, header in self.db.execute("SELECT height, header FROM blocks").fetchall():
                digest = decode_signed_header(header)[0].hash
                self.db.execute("UPDATE blocks SET hash = ? WHERE height = ?", (digest, height))
            rows = self.db.execute("SELECT height, idx, raw FROM transactions").fetchall()
            for height, idx, raw in rows:
                tx = decode_transaction(raw)
                self.db.execute(
                    "UPDATE transactions SET txid = ?, sender = ?, type = ?"
                    " WHERE height = ? AND idx = ?",
                    (tx.txid, tx.sender, tx.type, height, idx),
                )

    def close(self) -> None:
        self.db.close()


def _connect(path: Path | str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    return db
