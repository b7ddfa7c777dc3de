"""Network messages round-trip exactly, and anything else is refused."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.demo import demo_orders
from testbed.ledger.certificates import Vote, decode_vote
from testbed.ledger.chain import Chain
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair
from testbed.ledger.wire import (
    decode_block,
    decode_transactions,
    encode_block,
    encode_certified,
    encode_transactions,
)

VALIDATOR = KeyPair.development("wire/validator")
HOMES = [KeyPair.development(f"wire/home-{i}") for i in range(3)]


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    chain = Chain.create(tmp_path_factory.mktemp("wire") / "c.sqlite", [VALIDATOR],
                         timestamp=1_000)
    txs = demo_orders(HOMES, 5, 3_600, {k.public: 0 for k in HOMES}, chain.chain_id)
    try:
        return chain.produce(txs, 1_000, VALIDATOR)
    finally:
        chain.close()


def test_block_round_trip(block):
    data = encode_block(block)
    again = decode_block(data)
    assert again == block and encode_block(again) == data


def test_transactions_round_trip(block):
    data = encode_transactions(block.transactions)
    assert decode_transactions(data) == block.transactions
    assert decode_transactions(encode_transactions(())) == ()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_length_or_truncation_is_refused(block, data):
    wire = encode_block(block)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(EncodingError):
        decode_block(wire[:cut])
    with pytest.raises(EncodingError):
        decode_block(wire + data.draw(st.binary(min_size=1, max_size=8)))


def test_vote_round_trip_and_signature(block):
    from kernels import ed25519_verify_batch

    vote = Vote.cast(block, VALIDATOR)
    assert decode_vote(vote.encoded) == vote
    assert vote.block_hash == block.header.hash and vote.height == block.header.height
    assert ed25519_verify_batch([vote.validator], [vote.message()], [vote.signature]).all()
    with pytest.raises(EncodingError, match="expected 140"):
        decode_vote(vote.encoded[:-1])


def _messages(block):
    from testbed.ledger.certificates import Certificate, CertifiedBlock
    from testbed.ledger.wire import Clock, Proposal, Submission

    clock = Clock.sign(block.header.chain_id, 1_000, VALIDATOR)
    cert = Certificate.from_votes(block.header, [Vote.cast(block, VALIDATOR)])
    return {
        "submission": (Submission(clock, block.transactions).encoded,
                       "decode_submission"),
        "submission without clock": (Submission(None, block.transactions).encoded,
                                     "decode_submission"),
        "proposal": (Proposal(3, clock, block).encoded, "decode_proposal"),
        "certified": (encode_certified(CertifiedBlock(block, cert)), "decode_certified"),
    }


def test_network_messages_round_trip(block):
    from testbed.ledger import wire

    for name, (data, decoder) in _messages(block).items():
        value = getattr(wire, decoder)(data)
        again = (value.encoded if hasattr(value, "encoded")
                 else encode_certified(value))
        assert again == data, name


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_truncated_network_messages_are_refused(block, data):
    from testbed.ledger import wire

    for data_bytes, decoder in _messages(block).values():
        cut = data.draw(st.integers(0, len(data_bytes) - 1))
        with pytest.raises(EncodingError):
            getattr(wire, decoder)(data_bytes[:cut])


def test_known_transactions_are_reused_and_only_for_their_exact_bytes(block):
    """A node decodes a block it reads back from the stream with its mempool as ``known``:
    a transaction held is reused (the same object), one not held, or held under other bytes,
    is decoded from the message's own bytes."""
    from testbed.ledger import wire

    first, *rest = block.transactions
    other = rest[0]
    known = {first.encoded: first, other.encoded + b"x": first}
    for name, (data, decoder) in _messages(block).items():
        if decoder == "decode_submission":
            continue
        value = getattr(wire, decoder)(data, known)
        txs = value.block.transactions
        assert txs[0] is first, name
        assert txs[1] == other and txs[1] is not other and txs[1] is not first, name
        assert txs == block.transactions, name
