"""Quorum certificates: 2f+1 distinct validators' votes on the header hash, stored with each
block, checked on append and by verify; a proposer fills blocks leaving out what is refused."""

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.demo import demo_orders
from testbed.errors import StoreError
from testbed.ledger.certificates import (
    Certificate,
    CertifiedBlock,
    Vote,
    decode_certificate,
    quorum,
)
from testbed.ledger.chain import Chain, InvalidBlock, build_block
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import Deposit, sign
from testbed.ledger.verify import verify_file

VALIDATORS = [KeyPair.development(f"cert/validator-{i}") for i in range(4)]
OPERATOR = KeyPair.development("cert/operator")
HOMES = [KeyPair.development(f"cert/home-{i}") for i in range(3)]
T0 = 1_000_000


def test_quorum_is_more_than_two_thirds():
    assert [quorum(n) for n in (1, 2, 3, 4, 5, 6, 7, 10)] == [1, 2, 3, 3, 4, 5, 5, 7]
    for n in range(1, 65):
        q = quorum(n)
        assert 3 * q > 2 * n and 3 * (q - 1) <= 2 * n
        assert 2 * q - n > (n - 1) // 3  # two quorums share more than f validators


def _network_chain(path, voters=VALIDATORS):
    """A 4-validator chain with one certified block of orders, built as a proposer does."""
    chain = Chain.create(path, VALIDATORS, timestamp=T0, operator=OPERATOR)
    txs = demo_orders(HOMES, 6, T0 + 3600, {k.public: 0 for k in HOMES}, chain.chain_id)
    built = build_block(chain.state, chain.head, txs, T0, VALIDATORS[1])
    assert not built.refused
    votes = [Vote.cast(built.block, v) for v in voters]
    chain.append(CertifiedBlock(built.block, Certificate.from_votes(built.block.header, votes)))
    return chain, built.block


def test_a_quorum_certifies_and_verify_checks_it(tmp_path):
    chain, _ = _network_chain(tmp_path / "c.sqlite", VALIDATORS[:3])
    assert chain.height == 1 and chain.state.operator == OPERATOR.public
    chain.close()
    assert verify_file(tmp_path / "c.sqlite").ok


def test_too_few_votes_are_refused_and_nothing_stored(tmp_path):
    with pytest.raises(InvalidBlock, match="2 votes, a quorum is 3 of 4"):
        _network_chain(tmp_path / "c.sqlite", VALIDATORS[:2])
    chain = Chain.open(tmp_path / "c.sqlite")
    assert chain.height == 0
    chain.close()


@pytest.mark.parametrize("damage, reason", [
    ("stranger", "not a validator"),
    ("signature", "bad signature"),
    ("order", "ascending order"),
    ("other block", "another block"),
])
def test_a_damaged_certificate_is_named(tmp_path, damage, reason):
    chain, block = _network_chain(tmp_path / "c.sqlite")
    good = Certificate.from_votes(block.header, [Vote.cast(block, v) for v in VALIDATORS])
    votes = list(good.votes)
    if damage == "stranger":
        stranger = Vote.cast(block, OPERATOR)
        votes[0] = (stranger.validator, stranger.signature)
        votes.sort()
    elif damage == "signature":
        votes[2] = (votes[2][0], bytes(64))
    elif damage == "order":
        votes[0], votes[1] = votes[1], votes[0]
    cert = Certificate(good.chain_id, good.height + (damage == "other block"), good.block_hash,
                       tuple(votes))
    assert reason in cert.problem(block.header, chain.state.validators)
    chain.close()


def test_verify_refuses_a_stripped_or_forged_certificate(tmp_path):
    path = tmp_path / "c.sqlite"
    _network_chain(path)[0].close()
    with sqlite3.connect(path) as db:
        (raw,) = db.execute("SELECT certificate FROM blocks WHERE height = 1").fetchone()
        cert = decode_certificate(raw)
        forged = Certificate(cert.chain_id, cert.height, cert.block_hash,
                             tuple((k, bytes(64)) for k, _ in cert.votes))
        db.execute("UPDATE blocks SET certificate = ? WHERE height = 1", (forged.encoded,))
    report = verify_file(path)
    assert not report.ok and "height 1: certificate vote 0: bad signature" in report.problem
    with sqlite3.connect(path) as db:
        db.execute("UPDATE blocks SET certificate = NULL")
    report = verify_file(path)
    assert not report.ok and "height 1: no quorum certificate" in report.problem


def test_embedded_chain_certifies_itself_and_other_formats_are_refused(tmp_path, small_chain):
    with sqlite3.connect(small_chain) as db:
        heights = [h for (h,) in db.execute(
            "SELECT height FROM blocks WHERE certificate IS NOT NULL")]
        assert heights == list(range(1, 6))  # every block but genesis
        db.execute("PRAGMA user_version = 2")  # as a ledger of an older testbed
    with pytest.raises(StoreError, match="ledger format 2 is older than this testbed's"):
        Chain.open(small_chain)

def test_an_embedded_chain_of_many_validators_certifies_with_their_keys(tmp_path):
    chain = Chain.create(tmp_path / "c.sqlite", VALIDATORS, timestamp=T0)
    with pytest.raises(InvalidBlock, match="needs 3 votes, this process holds 1"):
        chain.produce([], T0, VALIDATORS[0])
    chain.produce([], T0, VALIDATORS[1], voters=VALIDATORS[2:])
    chain.close()
    assert verify_file(tmp_path / "c.sqlite").ok


def test_build_block_leaves_out_what_is_refused(tmp_path):
    chain = Chain.create(tmp_path / "c.sqlite", VALIDATORS, timestamp=T0, operator=OPERATOR)
    good = demo_orders(HOMES, 3, T0 + 3600, {k.public: 0 for k in HOMES}, chain.chain_id)
    replayed = good[0]
    forged = sign(Deposit(HOMES[0].public, 5), OPERATOR, 0, chain.chain_id)
    forged = type(forged)(forged.chain_id, forged.sender, forged.nonce, forged.body, bytes(64))
    built = build_block(chain.state, chain.head, [*good, replayed, forged], T0, VALIDATORS[0])
    assert built.block.transactions == tuple(good)
    reasons = [reason for _, reason in built.refused]
    assert "nonce 0" in reasons[0] and reasons[1] == "bad signature"
    votes = [Vote.cast(built.block, v) for v in VALIDATORS[:3]]
    chain.append(CertifiedBlock(built.block, Certificate.from_votes(built.block.header, votes)))
    assert chain.height == 1
    chain.close()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_certificate_decoding_refuses_anything_but_canonical_bytes(data):
    try:
        cert = decode_certificate(data)
    except EncodingError:
        return
    assert cert.encoded == data
