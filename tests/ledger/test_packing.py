"""A block's transactions as the store keeps them: compressed, and given back byte for byte;
a damaged, cut, padded or inflating (a compression bomb) stored form is refused before
anything unbounded is allocated."""

import sqlite3
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.demo import demo_orders
from testbed.errors import StoreError
from testbed.ledger.chain import Chain
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import MAX_BLOCK_TX_BYTES
from testbed.ledger.store.packing import pack, unpack
from testbed.ledger.verify import verify_file

HOMES = [KeyPair.development(f"home-{i}") for i in range(4)]  # the small chain's


def _stored(length: int, stream: bytes) -> bytes:
    """A stored form with any claimed length and a checksum that matches its stream."""
    return struct.pack(">II", length, zlib.crc32(stream)) + stream


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4000) | st.binary(max_size=40).map(lambda b: b * 200))
def test_round_trip(canonical):
    stored = pack(canonical)
    assert unpack(stored) == canonical
    assert pack(canonical) == stored  # one stored form for one block


def test_repeated_keys_and_zero_bytes_pack_small():
    keys = [bytes([i]) * 32 for i in range(8)]
    canonical = b"".join(keys[i % 8] + struct.pack(">QQ", i, 0) for i in range(400))
    assert len(pack(canonical)) < len(canonical) / 5


def test_a_compression_bomb_is_refused_without_inflating_it():
    bomb = zlib.compress(bytes(1 << 24), 9)  # 16 MiB of zeros in about 16 KiB
    assert len(bomb) < 1 << 15
    with pytest.raises(EncodingError, match="do not inflate to their 1000 bytes"):
        unpack(_stored(1000, bomb))  # claims 1000 bytes: inflating stops at 1001
    with pytest.raises(EncodingError, match="more than the"):
        unpack(_stored(MAX_BLOCK_TX_BYTES + 1, bomb))


def test_damaged_cut_and_padded_forms_are_refused():
    canonical = b"transactions " * 100
    stored = pack(canonical)
    stream = stored[8:]
    for bad, reason in (
        (stored[:5], "truncated"),
        (stored[:-1], "checksum"),
        (stored[:-3] + bytes([stored[-3] ^ 4]) + stored[-2:], "checksum"),  # padding bits too
        (_stored(len(canonical), stream[:-6]), "inflate"),  # the stream cut short
        (_stored(len(canonical), stream + b"\0"), "inflate"),  # bytes after its end
        (_stored(len(canonical) + 1, stream), "inflate to their"),
        (_stored(len(canonical) - 1, stream), "inflate to their"),
        (_stored(len(canonical), b"not zlib at all"), "do not inflate"),
    ):
        with pytest.raises(EncodingError, match=reason):
            unpack(bad)


def test_a_block_over_the_limit_is_not_stored(small_chain, validator, monkeypatch):
    """Refused whole, with the reason, before anything is written: a block a store could
    not give back is never stored."""
    from testbed.ledger.store import packing

    chain = Chain.open(small_chain)
    height = chain.height
    monkeypatch.setattr(packing, "MAX_BLOCK_TX_BYTES", 100)
    nonces = {k.public: chain.next_nonce(k.public) for k in HOMES}
    with pytest.raises(StoreError, match="not stored: .* more than the 100 a store keeps"):
        chain.produce(demo_orders(HOMES, 3, chain.head.timestamp + 2700, nonces, chain.chain_id),
                      chain.head.timestamp + 900, validator)
    assert chain.height == height
    chain.close()
    monkeypatch.undo()
    assert verify_file(small_chain).ok and verify_file(small_chain).blocks == height + 1


def test_a_ledger_of_the_format_before_packing_is_refused_with_the_reason(small_chain):
    with sqlite3.connect(small_chain) as db:
        db.execute("PRAGMA user_version = 3")  # as written before blocks were packed
    for read in (Chain.open, verify_file):
        with pytest.raises(StoreError, match=r"ledger format 3 is older than this testbed's "
                                             r"\(4\); verify it with the testbed that wrote it"):
            read(small_chain)
