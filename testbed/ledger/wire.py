"""What crosses a network between ledger parties: blocks, votes and batches of transactions.

Each message is the canonical encoding of the ledger's own bytes (`encoding`), so a message
decodes to exactly one value and re-encodes to the same bytes; anything else raises
`EncodingError`. Decoding checks form only: signatures, links and state are the chain's rules
(`chain.validate_block`), applied by whoever receives the message.

- block: ``signed header | u32 n | n x (u32 length | signed transaction)``
- transactions (a client's submission, a mempool exchange): ``u32 n | n x (u32 length | tx)``
- vote: ``chain_id u32 | height u64 | block_hash 32 | validator 32 | signature 64``, the
  signature by ``validator`` over ``VOTE_DOMAIN | chain_id | height | block_hash``
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from testbed.ledger import encoding as enc
from testbed.ledger.blocks import SIGNED_HEADER_SIZE, Block, decode_signed_header
from testbed.ledger.certificates import vote_message
from testbed.ledger.encoding import EncodingError
from testbed.ledger.ids import BlockHash, PublicKey, Signature
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import MAX_TX_BYTES, MAX_TX_PER_BLOCK
from testbed.ledger.transactions import Transaction, decode_transaction

_TRANSACTIONS = enc.ListOf(enc.Blob(MAX_TX_BYTES), MAX_TX_PER_BLOCK)
_VOTE = struct.Struct(">IQ32s32s64s")


def encode_transactions(txs: Sequence[Transaction]) -> bytes:
    return enc.encode(tuple(tx.encoded for tx in txs), _TRANSACTIONS)


def decode_transactions(data: bytes) -> tuple[Transaction, ...]:
    return tuple(decode_transaction(raw) for raw in enc.decode_exact(data, _TRANSACTIONS))


def encode_block(block: Block) -> bytes:
    return block.signed_header + encode_transactions(block.transactions)


def decode_block(data: bytes) -> Block:
    header, signature = decode_signed_header(data[:SIGNED_HEADER_SIZE])
    return Block(header, signature, decode_transactions(data[SIGNED_HEADER_SIZE:]))


@dataclass(frozen=True)
class Vote:
    """A validator's signature on a block header it validated: 2f+1 of them certify it."""

    chain_id: int
    height: int
    block_hash: BlockHash
    validator: PublicKey
    signature: Signature

    signing_message = staticmethod(vote_message)

    @classmethod
    def cast(cls, block: Block, key: KeyPair) -> Vote:
        h = block.header
        message = cls.signing_message(h.chain_id, h.height, h.hash)
        return cls(h.chain_id, h.height, BlockHash(h.hash), PublicKey(key.public),
                   Signature(key.sign(message)))

    def message(self) -> bytes:
        return self.signing_message(self.chain_id, self.height, self.block_hash)

    @property
    def encoded(self) -> bytes:
        sizes = (len(self.block_hash), len(self.validator), len(self.signature))
        if sizes != (32, 32, 64):
            raise EncodingError(f"vote hash, key and signature are {sizes} bytes, not 32, 32, 64")
        try:
            return _VOTE.pack(self.chain_id, self.height, self.block_hash, self.validator,
                              self.signature)
        except struct.error as exc:
            raise EncodingError(f"vote field out of range: {exc}") from None


def decode_vote(data: bytes) -> Vote:
    if len(data) != _VOTE.size:
        raise EncodingError(f"vote is {len(data)} bytes, expected {_VOTE.size}")
    chain_id, height, block_hash, validator, signature = _VOTE.unpack(data)
    return Vote(chain_id, height, BlockHash(block_hash), PublicKey(validator),
                Signature(signature))
