"""Any single changed byte of any stored block or transaction record is caught by verify."""

import random
import sqlite3

import pytest

from testbed.ledger.verify import verify_file


def _rows(path):
    db = sqlite3.connect(path)
    blocks = db.execute("SELECT height, header, hash FROM blocks").fetchall()
    txs = db.execute("SELECT height, idx, raw, txid, sender FROM transactions").fetchall()
    db.close()
    return blocks, txs


def _flip(path, sql, value, key):
    db = sqlite3.connect(path)
    with db:
        db.execute(sql, (value, *key))
    db.close()


def _flipped(blob: bytes, i: int, bit: int) -> bytes:
    b = bytearray(blob)
    b[i] ^= 1 << bit
    return bytes(b)


def test_untouched_chain_verifies(small_chain):
    report = verify_file(small_chain)
    assert report.ok, report.line()
    assert report.blocks == 6 and report.transactions == 1 + 4 + 4 + 15


def test_every_header_byte(small_chain, tmp_path):
    blocks, _ = _rows(small_chain)
    for height, header, _ in blocks:
        for i in range(len(header)):
            original = header
            _flip(small_chain, "UPDATE blocks SET header = ? WHERE height = ?",
                  _flipped(header, i, i % 8), (height,))
            report = verify_file(small_chain)
            assert not report.ok, f"header byte {i} of block {height} not caught"
            assert report.line().startswith("invalid: ")
            _flip(small_chain, "UPDATE blocks SET header = ? WHERE height = ?", original,
                  (height,))
    assert verify_file(small_chain).ok


@pytest.mark.parametrize("column", ["raw", "txid", "sender"])
def test_every_transaction_byte(small_chain, column):
    _, txs = _rows(small_chain)
    rng = random.Random(column)
    col = {"raw": 2, "txid": 3, "sender": 4}[column]
    for row in txs:
        height, idx, blob = row[0], row[1], row[col]
        positions = range(len(blob)) if column == "raw" and height == 2 else rng.sample(
            range(len(blob)), 8)
        for i in positions:
            sql = f"UPDATE transactions SET {column} = ? WHERE height = ? AND idx = ?"
            _flip(small_chain, sql, _flipped(blob, i, rng.randrange(8)), (height, idx))
            report = verify_file(small_chain)
            assert not report.ok, f"{column} byte {i} of tx {height}/{idx} not caught"
            _flip(small_chain, sql, blob, (height, idx))
    assert verify_file(small_chain).ok


def test_block_hash_column(small_chain):
    blocks, _ = _rows(small_chain)
    height, _, digest = blocks[2]
    _flip(small_chain, "UPDATE blocks SET hash = ? WHERE height = ?", _flipped(digest, 5, 1),
          (height,))
    assert "stored block hash" in verify_file(small_chain).problem


def test_reordered_swapped_and_removed_records(small_chain):
    db = sqlite3.connect(small_chain)
    with db:
        db.execute("UPDATE transactions SET idx = 99 WHERE height = 3 AND idx = 1")
    assert not verify_file(small_chain).ok
    with db:
        db.execute("UPDATE transactions SET idx = 1 WHERE height = 3 AND idx = 99")
        db.execute("DELETE FROM transactions WHERE height = 4 AND idx = 4")
    report = verify_file(small_chain)
    assert not report.ok and report.problem.startswith("height 4:")
    db.close()


def test_removed_block_breaks_link(small_chain):
    db = sqlite3.connect(small_chain)
    with db:
        db.execute("DELETE FROM transactions WHERE height = 2")
        db.execute("DELETE FROM blocks WHERE height = 2")
    db.close()
    report = verify_file(small_chain)
    assert not report.ok and "out of order" in report.problem


def test_raw_file_byte_in_a_record(small_chain):
    """A byte changed in the file itself, inside a stored transaction, not through SQL."""
    db = sqlite3.connect(small_chain)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _, txs = _rows(small_chain)
    db.close()
    raw = txs[7][2]
    data = bytearray(small_chain.read_bytes())
    at = data.find(raw)
    assert at >= 0
    data[at + len(raw) // 2] ^= 0x10
    small_chain.write_bytes(bytes(data))
    assert not verify_file(small_chain).ok
