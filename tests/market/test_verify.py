"""`testbed verify` on a private market: with the validators' or an auditor's view key it
re-executes everything; without one it checks every rule that needs no plaintext and says
what it did not; a key that opens only some records (a home's) is not enough, and says so; a
key that opens none is an error."""

import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace

import pytest

from testbed.errors import InputError
from testbed.ledger.follow import Follower
from testbed.ledger.keys import DEV_PASSPHRASE, PASSPHRASE_ENV, ViewKey
from testbed.ledger.store.packing import pack, unpack
from testbed.ledger.transactions import RegisterAuditor, SealedReading, Side
from testbed.ledger.wire import decode_transactions
from testbed.market.verify import Executor, verify_ledger

from .conftest import VALIDATOR, VALIDATORS_VIEW, Market, T, key, with_broken_wrap

AUDITOR_VIEW = ViewKey.development("verify-test/auditor")


def private_ledger(path, auditor_wrap_broken: bool = False):
    m = Market(["A", "C"], deposit=5000, chain_path=str(path), private=True)
    m.apply(VALIDATOR, RegisterAuditor(key("auditor").public, AUDITOR_VIEW.public), 0)
    m.order("A", Side.BID, 1000, 250)
    m.order("C", Side.OFFER, 800, 100)
    m.clear()
    body = m.reading("A", 700, 0)
    if auditor_wrap_broken:  # a meter that cheats the auditor alone: the validators accept it
        body = replace(body, reading=with_broken_wrap(body.reading, AUDITOR_VIEW.public))
    m.apply(m.meters["A"], body, T + 900)
    m.read("C", 0, 800)
    m.settle()
    m.chain.close()
    return m


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    path = tmp_path_factory.mktemp("verify") / "private.sqlite"
    return path, private_ledger(path)


@pytest.mark.parametrize("view", [VALIDATORS_VIEW, AUDITOR_VIEW])
def test_a_readers_key_re_executes_everything(ledger, view):
    path, m = ledger
    report = verify_ledger(path, [view])
    assert report.ok and not report.unchecked
    assert report.line().startswith("valid: ") and report.head_hash == m.chain.head.hash


def test_without_a_key_every_rule_but_the_contract_is_checked_and_it_says_so(ledger):
    path, _ = ledger
    report = verify_ledger(path)
    assert report.ok and "the contract's re-execution" in report.unchecked
    line = report.line()
    assert line.startswith("valid as far as checked: ")
    assert "signatures, certificates and nonces checked; NOT checked:" in line
    assert "--view-key" in line


def test_a_homes_key_does_not_open_every_record(ledger):
    path, m = ledger
    report = verify_ledger(path, [m.views["A"]])
    assert report.ok and "does not open every sealed record" in report.unchecked


def test_a_key_that_opens_no_record_is_an_error_not_a_quiet_skip(ledger, tmp_path):
    path, _ = ledger
    wrong = ViewKey.development("verify-test/nobody")
    for keys in ([wrong], [VALIDATORS_VIEW, wrong]):
        with pytest.raises(InputError, match="opens none of its 4 sealed records"):
            verify_ledger(path, keys)
    wrong.save(tmp_path / "wrong.view", DEV_PASSPHRASE)
    done = subprocess.run([sys.executable, "-m", "testbed", "verify", str(path), "--view-key",
                           str(tmp_path / "wrong.view")], capture_output=True, text=True,
                          timeout=120, check=False,
                          env={**os.environ, PASSPHRASE_ENV: DEV_PASSPHRASE})
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert f"view key {wrong.public.hex()[:16]} opens none" in done.stderr


def test_a_keyless_verification_still_catches_a_changed_byte(ledger, tmp_path):
    path, _ = ledger
    copy = tmp_path / "changed.sqlite"
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as db:
        height, blob = next((h, unpack(b)) for h, b in db.execute(
            "SELECT height, transactions FROM blocks WHERE height > 0")
            if any(isinstance(tx.body, SealedReading) for tx in decode_transactions(unpack(b))))
        raw = next(tx.encoded for tx in decode_transactions(blob)
                   if isinstance(tx.body, SealedReading))
        changed = bytearray(blob)
        changed[blob.index(raw) + len(raw) - 64 - 10] ^= 1  # in the sealed reading's ciphertext
        db.execute("UPDATE blocks SET transactions = ? WHERE height = ?",
                   (pack(bytes(changed)), height))
    report = verify_ledger(copy)
    assert not report.ok and report.problem.startswith("height ")


def test_the_auditor_finds_a_record_sealed_to_it_that_does_not_open(tmp_path):
    path = tmp_path / "cheated.sqlite"
    private_ledger(path, auditor_wrap_broken=True)
    assert verify_ledger(path, [VALIDATORS_VIEW]).ok  # the validators' copy is fine
    report = verify_ledger(path, [AUDITOR_VIEW])
    assert not report.ok and "sealed reading does not open" in report.problem


def test_the_runs_follower_re_executes_a_private_ledger_as_its_auditor(ledger):
    """The follower replays in another process: the contract and its view key go there as a
    picklable `Executor`, and its report is the verifier's."""
    path, _ = ledger
    executor = pickle.loads(pickle.dumps(Executor.holding([AUDITOR_VIEW])))
    assert AUDITOR_VIEW.public in executor().view_keys
    answer = Follower(path, executor).finish(timeout_s=120)
    assert answer is not None
    report, _ = answer
    expected = verify_ledger(path, [AUDITOR_VIEW])
    assert report.ok and (report.head_hash, report.state_root) == (expected.head_hash,
                                                                  expected.state_root)
