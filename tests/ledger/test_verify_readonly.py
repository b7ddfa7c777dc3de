"""`verify` never changes the evidence: every byte of the file and its folder stays as found,
whatever the file is."""

import hashlib
import sqlite3

import pytest

from testbed.errors import StoreError
from testbed.ledger.chain import Chain
from testbed.ledger.verify import verify_file


def _snapshot(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


def _verified_unchanged(path):
    before = _snapshot(path.parent)
    try:
        report = verify_file(path)
    except StoreError as exc:
        report = exc
    assert _snapshot(path.parent) == before
    return report


def test_a_closed_ledger(small_chain):
    assert _verified_unchanged(small_chain).ok


def test_a_ledger_with_a_pending_write_ahead_log(small_chain, validator):
    """As a killed writer leaves it: committed blocks still in the -wal file."""
    chain = Chain.open(small_chain)
    chain.produce([], chain.head.timestamp + 1, validator)
    chain.store.db.execute("PRAGMA wal_autocheckpoint = 0")  # keep what follows in the log
    chain.produce([], chain.head.timestamp + 2, validator)
    copy = small_chain.parent / "frozen"
    copy.mkdir()
    for suffix in ("", "-wal", "-shm"):  # the files as a SIGKILL would leave them
        source = small_chain.with_name(small_chain.name + suffix)
        if source.exists():
            (copy / (small_chain.name + suffix)).write_bytes(source.read_bytes())
    chain.close()
    frozen = copy / small_chain.name
    assert frozen.with_name(frozen.name + "-wal").stat().st_size > 0
    report = _verified_unchanged(frozen)
    assert report.ok and report.blocks == 8


def test_a_ledger_in_rollback_journal_mode(small_chain):
    db = sqlite3.connect(small_chain)
    db.execute("PRAGMA journal_mode = DELETE")
    db.close()
    assert _verified_unchanged(small_chain).ok


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 100,
                                     b"SQLite format 3\x00" + bytes(200)])
def test_files_that_are_not_ledgers(tmp_path, content):
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(content)
    report = _verified_unchanged(path)
    assert isinstance(report, StoreError) and "not a ledger" in str(report)


def test_a_ledger_cut_short_or_extended_fails_against_its_recorded_head(small_chain, validator):
    head = verify_file(small_chain).head_hash.hex()
    assert verify_file(small_chain).expecting_head(head).ok
    chain = Chain.open(small_chain)
    chain.produce([], chain.head.timestamp + 1, validator)  # extended
    chain.close()
    report = verify_file(small_chain).expecting_head(head)
    assert report.ok is False and "cut short or extended" in report.problem
    db = sqlite3.connect(small_chain)
    with db:  # cut short: the last two blocks deleted
        db.execute("DELETE FROM blocks WHERE height >= 5")
    db.close()
    assert verify_file(small_chain).ok  # still a valid chain on its own
    assert not verify_file(small_chain).expecting_head(head).ok
