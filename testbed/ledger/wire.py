"""What crosses a network between ledger parties: blocks, votes and batches of transactions.

Each message is the canonical encoding of the ledger's own bytes (`encoding`), so a message
decodes to exactly one value and re-encodes to the same bytes; anything else raises
`EncodingError`. Decoding checks form only: signatures, links and state are the chain's rules
(`chain.validate_block`), applied by whoever receives the message.

- block: ``signed header | u32 n | n x (u32 length | signed transaction)``
- transactions (a client's submission, a mempool exchange): ``u32 n | n x (u32 length | tx)``
- vote (`certificates.Vote`, beside the certificates that votes make): ``chain_id u32 | height u64 | block_hash 32 | validator 32 | signature 64``, the
  signature by ``validator`` over ``VOTE_DOMAIN | chain_id | height | block_hash``
- clock: ``chain_id u32 | time u64 | signature 64``, the operator's word that block time may
  reach ``time`` (seconds since the Unix epoch: scenario time in a simulation), signed over
  ``CLOCK_DOMAIN | chain_id | time``
- submission (a client's transactions, and their exchange between mempools): ``u8 has_clock |
  [clock] | transactions``: with a clock, they are for that time; without, for the time the
  receiving node holds
- proposal: ``round u32 | u8 has_clock | [clock] | block``: the clock justifies a timestamp
  later than the previous block's
- certified block (one message of the ordering stream): ``u32 n | certificate (n bytes) |
  block``
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from testbed.ledger import encoding as enc
from testbed.ledger.blocks import SIGNED_HEADER_SIZE, Block, decode_signed_header
from testbed.ledger.certificates import Certificate, CertifiedBlock, decode_certificate
from testbed.ledger.encoding import EncodingError
from testbed.ledger.ids import Signature
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import CLOCK_DOMAIN, MAX_TX_BYTES, MAX_TX_PER_BLOCK
from testbed.ledger.transactions import Transaction, decode_transaction

_TRANSACTIONS = enc.ListOf(enc.Blob(MAX_TX_BYTES), MAX_TX_PER_BLOCK)
_CLOCK = struct.Struct(">IQ64s")
_U32 = struct.Struct(">I")


def encode_transactions(txs: Sequence[Transaction]) -> bytes:
    return enc.encode(tuple(tx.encoded for tx in txs), _TRANSACTIONS)


def decode_transactions(
    data: bytes, known: Mapping[bytes, Transaction] | None = None,
) -> tuple[Transaction, ...]:
    """The transactions; ``known`` maps canonical bytes to transactions already decoded (a
    node's mempool), which are reused instead of decoded again."""
    raws = enc.decode_exact(data, _TRANSACTIONS)
    if known is None:
        return tuple(decode_transaction(raw) for raw in raws)
    return tuple(known.get(raw) or decode_transaction(raw) for raw in raws)


def encode_block(block: Block) -> bytes:
    return block.signed_header + encode_transactions(block.transactions)


def decode_block(data: bytes, known: Mapping[bytes, Transaction] | None = None) -> Block:
    header, signature = decode_signed_header(data[:SIGNED_HEADER_SIZE])
    return Block(header, signature, decode_transactions(data[SIGNED_HEADER_SIZE:], known))


@dataclass(frozen=True)
class Clock:
    """The operator's signed word that block time may reach ``time``."""

    chain_id: int
    time: int
    signature: Signature

    @staticmethod
    def signing_message(chain_id: int, time: int) -> bytes:
        return CLOCK_DOMAIN + struct.pack(">IQ", chain_id, time)

    @classmethod
    def sign(cls, chain_id: int, time: int, operator: KeyPair) -> Clock:
        return cls(chain_id, time, Signature(operator.sign(cls.signing_message(chain_id, time))))

    def message(self) -> bytes:
        return self.signing_message(self.chain_id, self.time)

    @property
    def encoded(self) -> bytes:
        if len(self.signature) != 64:
            raise EncodingError("clock signature must be 64 bytes")
        try:
            return _CLOCK.pack(self.chain_id, self.time, self.signature)
        except struct.error as exc:
            raise EncodingError(f"clock field out of range: {exc}") from None


def _encode_clock(clock: Clock | None) -> bytes:
    return b"\x00" if clock is None else b"\x01" + clock.encoded


def _decode_clock(data: bytes) -> tuple[Clock | None, int]:
    """The optional clock at the start of ``data`` and the bytes it took."""
    if not data or data[0] > 1:
        raise EncodingError("expected a clock flag of 0 or 1")
    if data[0] == 0:
        return None, 1
    if len(data) < 1 + _CLOCK.size:
        raise EncodingError("truncated clock")
    chain_id, time, signature = _CLOCK.unpack_from(data, 1)
    return Clock(chain_id, time, Signature(signature)), 1 + _CLOCK.size


@dataclass(frozen=True)
class Submission:
    """Signed transactions for one time: a client's request, or one node's to the others."""

    clock: Clock | None
    transactions: tuple[Transaction, ...]

    @property
    def encoded(self) -> bytes:
        return _encode_clock(self.clock) + encode_transactions(self.transactions)


def decode_submission(data: bytes) -> Submission:
    clock, used = _decode_clock(data)
    return Submission(clock, decode_transactions(data[used:]))


@dataclass(frozen=True)
class Proposal:
    """A proposer's block for its round, with the clock that justifies its timestamp."""

    round: int
    clock: Clock | None
    block: Block

    @property
    def encoded(self) -> bytes:
        try:
            head = _U32.pack(self.round)
        except struct.error as exc:
            raise EncodingError(f"round out of range: {exc}") from None
        return head + _encode_clock(self.clock) + encode_block(self.block)


def decode_proposal(data: bytes, known: Mapping[bytes, Transaction] | None = None) -> Proposal:
    if len(data) < _U32.size:
        raise EncodingError("truncated proposal")
    (round_,) = _U32.unpack_from(data)
    clock, used = _decode_clock(data[_U32.size:])
    return Proposal(round_, clock, decode_block(data[_U32.size + used:], known))


def encode_certified(certified: CertifiedBlock) -> bytes:
    cert = b"" if certified.certificate is None else certified.certificate.encoded
    return _U32.pack(len(cert)) + cert + encode_block(certified.block)


def decode_certified(data: bytes, known: Mapping[bytes, Transaction] | None = None,
                     ) -> CertifiedBlock:
    """A certified block; ``known``: as for `decode_transactions` (a node reading back from
    the stream a block whose transactions its mempool holds decoded)."""
    if len(data) < _U32.size:
        raise EncodingError("truncated certified block")
    (n,) = _U32.unpack_from(data)
    end = _U32.size + n
    if len(data) < end:
        raise EncodingError("truncated certificate")
    certificate: Certificate | None = decode_certificate(data[_U32.size:end]) if n else None
    return CertifiedBlock(decode_block(data[end:], known), certificate)
