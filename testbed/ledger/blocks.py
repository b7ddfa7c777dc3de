"""Blocks: a header committing to its transactions (Merkle root) and to the state after them,
signed by a proof-of-authority validator.

Header layout (fixed size, canonical)::

    version u8 | chain_id u32 | height u64 | prev_hash 32 | timestamp u64 | tx_root 32 |
    state_root 32 | proposer 32 | tx_count u32

The block hash is SHA-256 of the header; the proposer signs ``BLOCK_DOMAIN | header``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property

from testbed.ledger.encoding import EncodingError
from testbed.ledger.ids import BlockHash, PublicKey, Root, Signature
from testbed.ledger.params import BLOCK_DOMAIN, BLOCK_VERSION
from testbed.ledger.transactions import SIGNATURE_SIZE, Transaction

_HEADER = struct.Struct(">BIQ32sQ32s32s32sI")
SIGNED_HEADER_SIZE = _HEADER.size + SIGNATURE_SIZE


@dataclass(frozen=True)
class BlockHeader:
    chain_id: int
    height: int
    prev_hash: BlockHash
    timestamp: int
    tx_root: Root
    state_root: Root
    proposer: PublicKey
    tx_count: int
    version: int = BLOCK_VERSION

    @cached_property
    def encoded(self) -> bytes:
        try:
            return _HEADER.pack(
                self.version, self.chain_id, self.height, self.prev_hash, self.timestamp,
                self.tx_root, self.state_root, self.proposer, self.tx_count,
            )
        except struct.error as exc:
            raise EncodingError(f"block header field out of range: {exc}") from None

    @cached_property
    def hash(self) -> BlockHash:
        return BlockHash(hashlib.sha256(self.encoded).digest())

    def signing_message(self) -> bytes:
        return BLOCK_DOMAIN + self.encoded


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    signature: Signature
    transactions: tuple[Transaction, ...]

    @property
    def signed_header(self) -> bytes:
        return self.header.encoded + self.signature


def decode_signed_header(data: bytes) -> tuple[BlockHeader, Signature]:
    """Header and signature from their stored bytes; anything not canonical is refused."""
    if len(data) != SIGNED_HEADER_SIZE:
        raise EncodingError(f"block header is {len(data)} bytes, expected {SIGNED_HEADER_SIZE}")
    version, chain_id, height, prev, ts, tx_root, state_root, proposer, count = _HEADER.unpack(
        data[: _HEADER.size]
    )
    if version != BLOCK_VERSION:
        raise EncodingError(f"unknown block version {version}")
    header = BlockHeader(chain_id, height, BlockHash(prev), ts, Root(tx_root), Root(state_root),
                         PublicKey(proposer), count, version)
    return header, Signature(bytes(data[_HEADER.size :]))
