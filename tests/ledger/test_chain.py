"""Bad input to the chain is refused with a one-line reason and stores nothing."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import ed25519_verify_batch
from testbed.ledger.blocks import Block
from testbed.ledger.certificates import CertifiedBlock
from testbed.ledger.chain import Chain, InvalidBlock, local_certificate
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import Order, Side, Transaction, decode_transaction, sign
from testbed.ledger.verify import verify_file

ALICE = KeyPair.development("alice")


def _order(nonce, chain_id, key=ALICE):
    return sign(Order(3_600, Side.BID, 1_000, 150), key, nonce, chain_id)


def _file_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def chain(tmp_path, validator):
    c = Chain.create(tmp_path / "c.sqlite", [validator], timestamp=100)
    yield c
    c.close()


def _refused(chain, txs, validator, match):
    height, root = chain.height, chain.state.root()
    with pytest.raises(InvalidBlock, match=match) as info:
        chain.produce(txs, 200, validator)
    assert "\n" not in str(info.value)
    assert chain.height == height and chain.state.root() == root
    assert chain.store.height() == height


def test_good_block(chain, validator):
    chain.produce([_order(0, chain.chain_id), _order(1, chain.chain_id)], 200, validator)
    assert chain.height == 1 and chain.next_nonce(ALICE.public) == 2


def test_replayed_nonce(chain, validator):
    chain.produce([_order(0, chain.chain_id)], 200, validator)
    _refused(chain, [_order(1, chain.chain_id), _order(0, chain.chain_id)], validator,
             "transaction 1: nonce 0 .* expected 2")


def test_skipped_nonce(chain, validator):
    _refused(chain, [_order(1, chain.chain_id)], validator, "nonce 1 .* expected 0")


def test_wrong_chain_id(chain, validator):
    _refused(chain, [_order(0, chain.chain_id + 1)], validator, "chain")


def test_bad_signature(chain, validator):
    good = _order(0, chain.chain_id)
    forged = Transaction(good.chain_id, good.sender, good.nonce, good.body, bytes(64))
    _refused(chain, [forged], validator, "transaction 0: bad signature")


def test_non_validator_proposer(chain):
    _refused(chain, [_order(0, chain.chain_id)], ALICE, "not a validator")


def test_second_genesis(chain, validator):
    from testbed.ledger.transactions import Genesis

    tx = sign(Genesis((ALICE.public,), b""), ALICE, 0, chain.chain_id)
    _refused(chain, [tx], validator, "genesis")


def test_blocks_out_of_order_and_from_a_non_validator(tmp_path, validator):
    import shutil

    Chain.create(tmp_path / "a.sqlite", [validator], timestamp=100).close()
    shutil.copy(tmp_path / "a.sqlite", tmp_path / "b.sqlite")  # a second validator's copy
    a, b = Chain.open(tmp_path / "a.sqlite"), Chain.open(tmp_path / "b.sqlite")
    blocks = [a.produce([_order(i, a.chain_id)], 200 + i, validator) for i in range(3)]

    def certified(block):
        return CertifiedBlock(block, local_certificate(block, [validator]))

    with pytest.raises(InvalidBlock, match="out of order"):
        b.append(certified(blocks[1]))
    b.append(certified(blocks[0]))
    forged = Block(blocks[1].header, ALICE.sign(blocks[1].header.signing_message()),
                   blocks[1].transactions)
    with pytest.raises(InvalidBlock, match="bad block signature"):
        b.append(certified(forged))
    assert b.height == 1


def test_state_survives_reopen(tmp_path, validator):
    path = tmp_path / "r.sqlite"
    a = Chain.create(path, [validator], timestamp=100)
    a.produce([_order(0, a.chain_id)], 200, validator)
    root = a.state.root()
    a.close()
    b = Chain.open(path)
    assert b.state.root() == root and b.next_nonce(ALICE.public) == 1
    b.produce([_order(1, b.chain_id)], 300, validator)
    b.close()
    assert verify_file(path).ok


def test_refused_block_leaves_file_unchanged(chain, validator, tmp_path):
    chain.produce([_order(0, chain.chain_id)], 200, validator)
    before = _file_digest(tmp_path / "c.sqlite")
    with pytest.raises(InvalidBlock):
        chain.produce([_order(1, chain.chain_id), _order(5, chain.chain_id)], 300, validator)
    assert _file_digest(tmp_path / "c.sqlite") == before


SIGNED = _order(7, 42)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(SIGNED.encoded) - 1), delta=st.integers(1, 255))
def test_every_single_byte_change_of_a_signed_transaction_is_rejected(position, delta):
    raw = bytearray(SIGNED.encoded)
    raw[position] = (raw[position] + delta) % 256
    try:
        tx = decode_transaction(bytes(raw))
    except EncodingError:
        return
    ok = ed25519_verify_batch([tx.sender], [tx.signing_message()], [tx.signature])
    assert not ok[0], f"byte {position} changed and the transaction still verifies"


def test_only_a_signature_made_here_is_taken_as_checked(chain, validator):
    """`Transaction.signed_here` marks the object `sign` made, never one decoded, rebuilt,
    copied or unpickled (a forged copy of a good transaction is checked and refused)."""
    import copy
    import pickle
    from dataclasses import replace

    good = _order(0, chain.chain_id)
    assert good.signed_here
    for other in (decode_transaction(good.encoded), replace(good), copy.copy(good),
                  pickle.loads(pickle.dumps(good))):
        assert other == good and not other.signed_here
    forged = replace(good, signature=bytes(64))
    _refused(chain, [forged], validator, "transaction 0: bad signature")
    with pytest.raises(InvalidBlock, match="transaction 0: bad signature"):
        chain.produce([forged], 200, validator, verified={good.txid})  # another txid
    chain.produce([good], 200, validator, verified={good.txid})
    assert chain.height == 1


def test_a_block_starts_from_its_preview_and_ends_as_without_it(tmp_path, validator):
    """`produce` resumes from the last `preview` of its first transactions: the same block
    and state as executing them all, whatever the caller did with the preview's state, and a
    refusal after them still stores nothing."""
    plain = Chain.create(tmp_path / "plain.sqlite", [validator], timestamp=100)
    previewed = Chain.create(tmp_path / "previewed.sqlite", [validator], timestamp=100)
    first, later = _order(0, plain.chain_id), _order(1, plain.chain_id)
    try:
        previewed.preview([first], 200, validator.public)
        _refused(previewed, [first, _order(5, plain.chain_id)], validator,
                 "transaction 1: nonce 5")
        seen = previewed.preview([first], 200, validator.public)
        seen.nonces[ALICE.public] = 99  # the caller's copy: not the block's
        a = plain.produce([first, later], 200, validator)
        b = previewed.produce([first, later], 200, validator)
        assert a.header == b.header and previewed.next_nonce(ALICE.public) == 2
        previewed.preview([_order(2, plain.chain_id)], 300, validator.public)
        plain.produce([_order(2, plain.chain_id)], 301, validator)  # another time: not reused
        previewed.produce([_order(2, plain.chain_id)], 301, validator)
        assert plain.head == previewed.head
    finally:
        plain.close()
        previewed.close()
