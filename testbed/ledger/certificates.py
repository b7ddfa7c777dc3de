"""Quorum certificates: the votes of more than two thirds of the validators on a block header.

A block is committed only with a certificate: ``quorum(n)`` = 2f+1 distinct validators of the
3f+1 named in genesis (more than two thirds; one validator: its own vote) each signed
``VOTE_DOMAIN | chain_id u32 | height u64 | block_hash`` (a `Vote`). Any two quorums
share more than f validators, so at least one honest validator is in both: an honest
validator votes once per height and proposer, so a proposer that signs two blocks at one
height cannot get both certified, and f lying validators cannot certify a block that no honest
validator checked.

Layout (canonical, stored beside the block, not part of its hash, since it signs the hash)::

    chain_id u32 | height u64 | block_hash 32 | u32 n | n x (validator 32 | signature 64)

with the validators in ascending byte order, each once. The genesis block has none: it names
the validators, and every party agrees on it by its hash.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import kernels
from testbed.ledger.encoding import EncodingError
from testbed.ledger.ids import BlockHash, PublicKey, Signature
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import MAX_VALIDATORS, VOTE_DOMAIN

if TYPE_CHECKING:
    from testbed.ledger.blocks import Block, BlockHeader

_HEAD = struct.Struct(">IQ32sI")
_VOTE = struct.Struct(">32s64s")  # one vote in a certificate
_VOTE_MESSAGE = struct.Struct(">IQ32s32s64s")  # one vote on the wire


def quorum(validators: int) -> int:
    """Votes needed among ``validators``: more than two thirds (2f+1 of 3f+1)."""
    return 2 * validators // 3 + 1


def vote_message(chain_id: int, height: int, block_hash: bytes) -> bytes:
    """What a validator signs to vote for a block."""
    return VOTE_DOMAIN + struct.pack(">IQ", chain_id, height) + block_hash


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
            return _VOTE_MESSAGE.pack(self.chain_id, self.height, self.block_hash, self.validator,
                              self.signature)
        except struct.error as exc:
            raise EncodingError(f"vote field out of range: {exc}") from None


def decode_vote(data: bytes) -> Vote:
    if len(data) != _VOTE_MESSAGE.size:
        raise EncodingError(f"vote is {len(data)} bytes, expected {_VOTE_MESSAGE.size}")
    chain_id, height, block_hash, validator, signature = _VOTE_MESSAGE.unpack(data)
    return Vote(chain_id, height, BlockHash(block_hash), PublicKey(validator),
                Signature(signature))


@dataclass(frozen=True)
class Certificate:
    """Votes for one block: (validator, signature) pairs in ascending validator order."""

    chain_id: int
    height: int
    block_hash: bytes
    votes: tuple[tuple[bytes, bytes], ...]

    @classmethod
    def from_votes(cls, header: BlockHeader, votes: Iterable[Vote]) -> Certificate:
        """The certificate of ``header`` from the votes for it (others ignored, one per
        validator)."""
        mine = {v.validator: v.signature for v in votes
                if (v.chain_id, v.height, v.block_hash)
                == (header.chain_id, header.height, header.hash)}
        return cls(header.chain_id, header.height, header.hash, tuple(sorted(mine.items())))

    @cached_property
    def encoded(self) -> bytes:
        if len(self.block_hash) != 32 or any(len(k) != 32 or len(s) != 64
                                             for k, s in self.votes):
            raise EncodingError("certificate hash, keys or signatures of the wrong size")
        try:
            head = _HEAD.pack(self.chain_id, self.height, self.block_hash, len(self.votes))
        except struct.error as exc:
            raise EncodingError(f"certificate field out of range: {exc}") from None
        return head + b"".join(_VOTE.pack(k, s) for k, s in self.votes)

    def problem(self, header: BlockHeader, validators: frozenset[bytes]) -> str | None:
        """Why this does not certify ``header`` under ``validators``, or None when it does.
        Every signature is checked, in one batch."""
        if (self.chain_id, self.height, self.block_hash) != (
                header.chain_id, header.height, header.hash):
            return "certificate is for another block"
        keys = [k for k, _ in self.votes]
        if keys != sorted(set(keys)):
            return "certificate votes not in ascending order of distinct validators"
        strangers = [k for k in keys if k not in validators]
        if strangers:
            return f"certificate vote from {strangers[0].hex()[:16]}, not a validator"
        need = quorum(len(validators))
        if len(keys) < need:
            return f"certificate has {len(keys)} votes, a quorum is {need} of {len(validators)}"
        message = vote_message(self.chain_id, self.height, self.block_hash)
        ok = kernels.ed25519_verify_batch(keys, [message] * len(keys),
                                          [s for _, s in self.votes])
        if not ok.all():
            return f"certificate vote {int((~ok).argmax())}: bad signature"
        return None


def decode_certificate(data: bytes) -> Certificate:
    """Parse one canonical certificate (form only: `Certificate.problem` checks the votes)."""
    if len(data) < _HEAD.size:
        raise EncodingError("certificate too short")
    chain_id, height, block_hash, n = _HEAD.unpack_from(data)
    if n > MAX_VALIDATORS or len(data) != _HEAD.size + n * _VOTE.size:
        raise EncodingError(f"certificate of {len(data)} bytes does not hold {n} votes")
    votes = tuple(_VOTE.unpack_from(data, _HEAD.size + i * _VOTE.size) for i in range(n))
    return Certificate(chain_id, height, block_hash, votes)


@dataclass(frozen=True)
class CertifiedBlock:
    """A block with the certificate that commits it (None only for genesis)."""

    block: Block
    certificate: Certificate | None
