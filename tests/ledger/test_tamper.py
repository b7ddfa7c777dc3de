"""Any single changed byte of any stored block, transaction or certificate is caught by verify,
whether in the stored (packed) form or in the canonical bytes it packs, and so are removed,
reordered and truncated records."""

import random
import sqlite3

from testbed.ledger.store.packing import pack, unpack
from testbed.ledger.verify import verify_file
from testbed.ledger.wire import decode_transactions, encode_transactions


def _blocks(path):
    db = sqlite3.connect(path)
    rows = db.execute("SELECT height, header, transactions, certificate FROM blocks").fetchall()
    db.close()
    return rows


def _set(path, column, value, height):
    db = sqlite3.connect(path)
    with db:
        db.execute(f"UPDATE blocks SET {column} = ? WHERE height = ?", (value, height))
    db.close()


def _flipped(blob: bytes, i: int, bit: int) -> bytes:
    b = bytearray(blob)
    b[i] ^= 1 << bit
    return bytes(b)


def test_untouched_chain_verifies(small_chain):
    report = verify_file(small_chain)
    assert report.ok, report.line()
    assert report.blocks == 6 and report.transactions == 1 + 4 + 4 + 15


def test_every_header_byte(small_chain):
    for height, header, _, _ in _blocks(small_chain):
        for i in range(len(header)):
            _set(small_chain, "header", _flipped(header, i, i % 8), height)
            report = verify_file(small_chain)
            assert not report.ok, f"header byte {i} of block {height} not caught"
            assert report.line().startswith("invalid: ")
            _set(small_chain, "header", header, height)
    assert verify_file(small_chain).ok


def test_every_transaction_and_certificate_byte(small_chain):
    rng = random.Random(2026)
    for height, _, txs, certificate in _blocks(small_chain):
        for column, blob in (("transactions", txs), ("certificate", certificate)):
            if blob is None:
                continue
            # every byte of one block's transactions, a sample of the others'
            every = column == "transactions" and height == 2
            positions = range(len(blob)) if every else rng.sample(range(len(blob)), 12)
            for i in positions:
                _set(small_chain, column, _flipped(blob, i, rng.randrange(8)), height)
                report = verify_file(small_chain)
                assert not report.ok, f"{column} byte {i} of block {height} not caught"
                _set(small_chain, column, blob, height)
    assert verify_file(small_chain).ok


def test_every_canonical_transaction_byte_packed_again(small_chain):
    """A change a writer packs properly (a checksum that matches) is the chain's to catch."""
    rng = random.Random(2027)
    for height, _, txs, _ in _blocks(small_chain):
        canonical = unpack(txs)
        every = height == 2
        positions = range(len(canonical)) if every else rng.sample(range(len(canonical)), 12)
        for i in positions:
            _set(small_chain, "transactions", pack(_flipped(canonical, i, rng.randrange(8))),
                 height)
            report = verify_file(small_chain)
            assert not report.ok, f"canonical byte {i} of block {height} not caught"
            assert report.problem.startswith(f"height {height}: "), report.problem
        _set(small_chain, "transactions", txs, height)
    assert verify_file(small_chain).ok


def test_reordered_removed_and_truncated_transactions(small_chain):
    height, _, blob, _ = _blocks(small_chain)[3]
    txs = decode_transactions(unpack(blob))
    for spoiled in (txs[1:], (txs[1], txs[0], *txs[2:]), txs + txs[:1]):
        _set(small_chain, "transactions", pack(encode_transactions(spoiled)), height)
        report = verify_file(small_chain)
        assert not report.ok and report.problem.startswith(f"height {height}:")
    for cut in (blob[:-1], pack(unpack(blob)[:-1])):  # the stored form cut, or what it packs
        _set(small_chain, "transactions", cut, height)
        report = verify_file(small_chain)
        assert not report.ok and report.problem.startswith(f"height {height}: transactions")
    _set(small_chain, "transactions", blob, height)
    assert verify_file(small_chain).ok


def test_removed_block_breaks_link(small_chain):
    db = sqlite3.connect(small_chain)
    with db:
        db.execute("DELETE FROM blocks WHERE height = 2")
    db.close()
    report = verify_file(small_chain)
    assert not report.ok and "out of order" in report.problem


def test_raw_file_byte_in_a_record(small_chain):
    """A byte changed in the file itself, inside a stored transaction, not through SQL."""
    db = sqlite3.connect(small_chain)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    stored = _blocks(small_chain)[4][2]
    data = bytearray(small_chain.read_bytes())
    at = data.find(stored[len(stored) // 2:][:16])
    assert at >= 0
    data[at] ^= 0x10
    small_chain.write_bytes(bytes(data))
    assert not verify_file(small_chain).ok
