"""Transactions: typed bodies in a signed, versioned envelope.

Wire layout (canonical, see `encoding`)::

    version u8 | type u8 | chain_id u32 | sender 32 | nonce u64 | body | signature 64

The signature is by ``sender`` over ``TX_DOMAIN | chain_id u32 | type u8 | unsigned bytes``
(everything above but the signature). The transaction id is SHA-256 of the whole encoding.
Nonces count each sender's transactions from 0, so a replayed or skipped one is refused.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import Any, ClassVar

import kernels
from testbed.ledger import encoding as enc
from testbed.ledger.encoding import (
    EncodingError,
    b32,
    blob,
    fixed,
    i64,
    list_of,
    nested,
    text,
    u8,
    u32,
    u64,
)
from testbed.ledger.ids import PublicKey, Signature, TxId, ViewPublicKey
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import (
    MAX_PARAMS_BYTES,
    MAX_TARIFF_BUSES,
    MAX_TEXT_BYTES,
    MAX_TRADES_PER_CLEARING,
    MAX_VALIDATORS,
    TX_DOMAIN,
    TX_VERSION,
)
from testbed.ledger.sealing import Sealed


class Role(IntEnum):
    CONSUMER = 1
    PRODUCER = 2
    PROSUMER = 3
    STORAGE = 4


class Side(IntEnum):
    BID = 1  # buy
    OFFER = 2  # sell


# --- bodies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Genesis:
    """First transaction of a chain: the proof-of-authority validator set, fixed for life, and
    the contract's parameters (opaque to the ledger), so the chain describes itself. Its
    signer is the chain's operator (`state.ChainState`)."""

    TYPE: ClassVar[int] = 1
    validators: tuple[PublicKey, ...] = list_of(enc.B32, MAX_VALIDATORS)
    contract_params: bytes = blob(MAX_PARAMS_BYTES)


@dataclass(frozen=True)
class RegisterParticipant:
    """The operator enrols a household: its account, where it sits on the feeder, what it
    does, the key of the meter it installed there (bound to this home alone) and the view key
    the home's sealed records are sealed to."""

    TYPE: ClassVar[int] = 2
    account: PublicKey = b32()
    bus: int = u32()
    role: int = u8()
    meter_key: PublicKey = b32()
    view_key: ViewPublicKey = b32()


@dataclass(frozen=True)
class RegisterAuditor:
    """The operator appoints an auditor: every sealed record is also sealed to its view key;
    its account may sign nothing."""

    TYPE: ClassVar[int] = 8
    account: PublicKey = b32()
    view_key: ViewPublicKey = b32()


@dataclass(frozen=True)
class SetValidatorsViewKey:
    """The operator names the view key every validator holds, once for the chain's life: every
    sealed record is sealed to it, so every validator re-executes everything."""

    TYPE: ClassVar[int] = 9
    view_key: ViewPublicKey = b32()


@dataclass(frozen=True)
class SetGridFees:
    """The operator's grid fees for the intervals from ``from_interval`` on, per kWh delivered
    on a trade (paid by the seller): ``flat_per_kwh`` on every trade, plus, between two buses
    both in ``buses`` (ascending), the entry of ``pair_per_kwh``, the matrix over ``buses``
    row by row (row: the seller's bus, column: the buyer's). The operator computes the pairs
    from its feeder model (by voltage level or electrical distance)."""

    TYPE: ClassVar[int] = 13
    from_interval: int = u64()
    flat_per_kwh: int = u64()
    buses: tuple[int, ...] = list_of(enc.U32, MAX_TARIFF_BUSES, True)
    pair_per_kwh: tuple[int, ...] = list_of(enc.U32, MAX_TARIFF_BUSES**2, True)


@dataclass(frozen=True)
class Deposit:
    """The utility (the chain's operator, who signed genesis) credits an account: money
    entering the market."""

    TYPE: ClassVar[int] = 3
    account: PublicKey = b32()
    amount_units: int = u64()


@dataclass(frozen=True)
class Order:
    """A bid (buy) or offer (sell) of energy for one delivery interval.

    ``interval`` is the interval's start in seconds since the Unix epoch; ``price_per_kwh`` is the
    limit price in the smallest currency unit per kWh.
    """

    TYPE: ClassVar[int] = 4
    interval: int = u64()
    side: int = u8()
    energy_wh: int = u64()
    price_per_kwh: int = u64()


@dataclass(frozen=True)
class OrderCommitment:
    """A sealed order (`market.sealed`): the hash of an order and a salt, before gate closure.
    ``escrow_units`` is locked now and must cover the order's escrow when it is revealed."""

    TYPE: ClassVar[int] = 10
    interval: int = u64()
    commitment: bytes = b32()
    escrow_units: int = u64()


SALT_BYTES = 16  # a sealed order's salt: 128 bits, so its few possible orders cannot be guessed


@dataclass(frozen=True)
class Reveal:
    """The order behind a sealed order's commitment (by the commitment's transaction id)."""

    order: TxId = b32()
    side: int = u8()
    energy_wh: int = u64()
    price_per_kwh: int = u64()
    salt: bytes = fixed(SALT_BYTES)


@dataclass(frozen=True)
class RelayedReveal:
    """A reveal the operator relays in a `Clearing`: its sealed order named by its place among
    the interval's commitments not yet revealed, in arrival order, as the clearing finds
    them (`market.sealed.relayed`), instead of by its 32-byte id."""

    index: int = u32()
    side: int = u8()
    energy_wh: int = u64()
    price_per_kwh: int = u64()
    salt: bytes = fixed(SALT_BYTES)


@dataclass(frozen=True)
class OrderReveal:
    """A home reveals its own sealed orders after gate closure (the operator may instead
    relay the homes' reveals in the interval's `Clearing`)."""

    TYPE: ClassVar[int] = 11
    reveals: tuple[Reveal, ...] = list_of(Reveal, MAX_TRADES_PER_CLEARING)


@dataclass(frozen=True)
class MeterReading:
    """What a participant's meter measured over one interval, signed by the meter's key."""

    TYPE: ClassVar[int] = 5
    participant: PublicKey = b32()
    interval: int = u64()
    imported_wh: int = u64()
    exported_wh: int = u64()


@dataclass(frozen=True)
class SealedReading:
    """A meter reading sealed to its home, the validators and the auditors (`market.private`):
    whose (the home the signing meter is bound to) and when are public, how much is not."""

    TYPE: ClassVar[int] = 12
    interval: int = u64()
    reading: Sealed = nested(Sealed)


@dataclass(frozen=True)
class Constraint:
    """The grid limit that bound a trade (kind 0: none). Values in millionths of their unit."""

    kind: int = u8()
    element: str = text(MAX_TEXT_BYTES)
    value_micro: int = i64()
    limit_micro: int = i64()


@dataclass(frozen=True)
class Trade:
    """One matched pair of orders (by transaction id) and what the grid let through."""

    bid: TxId = b32()
    offer: TxId = b32()
    energy_wh: int = u64()
    price_per_kwh: int = u64()
    granted_wh: int = u64()
    constraint: Constraint = nested(Constraint)


@dataclass(frozen=True)
class Clearing:
    """The contract's outcome at gate closure: clearing price and trades, replayable by all;
    in a private market, first the sealed orders' reveals the operator relays."""

    TYPE: ClassVar[int] = 6
    interval: int = u64()
    price_per_kwh: int = u64()
    trades: tuple[Trade, ...] = list_of(Trade, MAX_TRADES_PER_CLEARING)
    reveals: tuple[RelayedReveal, ...] = list_of(RelayedReveal, MAX_TRADES_PER_CLEARING, True)


@dataclass(frozen=True)
class Payment:
    payer: PublicKey = b32()
    payee: PublicKey = b32()
    amount_units: int = u64()
    kind: int = u8()


@dataclass(frozen=True)
class Settlement:
    """The contract's payments for one delivered interval, public and replayable by all, and
    in a private market each trading home's detail (`market.private`), sealed like its
    readings: one per home that owns an order of the interval's trades, in account order
    (whose each is, the clearing and the orders' owners say)."""

    TYPE: ClassVar[int] = 7
    interval: int = u64()
    payments: tuple[Payment, ...] = list_of(Payment, MAX_TRADES_PER_CLEARING)
    details: tuple[Sealed, ...] = list_of(Sealed, MAX_TRADES_PER_CLEARING, True)


BODY_TYPES: dict[int, type] = {
    cls.TYPE: cls
    for cls in (Genesis, RegisterParticipant, Deposit, Order, MeterReading, Clearing, Settlement,
                RegisterAuditor, SetValidatorsViewKey, OrderCommitment, OrderReveal,
                SealedReading, SetGridFees)
}

# --- envelope -------------------------------------------------------------------------------

_HEAD = struct.Struct(">BBI32sQ")
_SIG_PREFIX = struct.Struct(">IB")
SIGNATURE_SIZE = 64
_SIGNED_HERE = "_signed_here"  # `Transaction.signed_here`'s mark in the object's own dict


@dataclass(frozen=True)
class Transaction:
    """A signed transaction. Build with `sign`, read with `decode_transaction`."""

    chain_id: int
    sender: PublicKey
    nonce: int
    body: Any
    signature: Signature

    @cached_property
    def unsigned(self) -> bytes:
        return unsigned_bytes(self.chain_id, self.sender, self.nonce, self.body)

    @cached_property
    def encoded(self) -> bytes:
        return self.unsigned + self.signature

    @cached_property
    def txid(self) -> TxId:
        return TxId(hashlib.sha256(self.encoded).digest())

    @property
    def signed_here(self) -> bool:
        """Whether `sign` or `sign_batch` made this very object in this process, with the
        sender's key: its signature is valid by construction, and the embedded ledger does
        not check it again (the follower and `testbed verify` check every signature). A
        decoded, replaced, copied or unpickled transaction is another object: False."""
        return self.__dict__.get(_SIGNED_HERE) is True

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)  # the cached encodings travel; the mark stays here
        state.pop(_SIGNED_HERE, None)
        return state

    @property
    def type(self) -> int:
        tx_type: int = self.body.TYPE  # the body is one of BODY_TYPES
        return tx_type

    def signing_message(self) -> bytes:
        return signing_message(self.chain_id, self.body.TYPE, self.unsigned)


def unsigned_bytes(chain_id: int, sender: bytes, nonce: int, body: Any) -> bytes:
    if type(body) not in BODY_TYPES.values():
        raise EncodingError(f"not a transaction body: {type(body).__name__}")
    if not isinstance(sender, bytes) or len(sender) != 32:
        raise EncodingError("sender must be a 32-byte public key")
    if not (0 <= chain_id < 1 << 32 and 0 <= nonce < 1 << 64):
        raise EncodingError("chain id or nonce out of range")
    return _HEAD.pack(TX_VERSION, body.TYPE, chain_id, sender, nonce) + enc.encode(body)


def signing_message(chain_id: int, tx_type: int, unsigned: bytes) -> bytes:
    return TX_DOMAIN + _SIG_PREFIX.pack(chain_id, tx_type) + unsigned


def sign(body: Any, key: KeyPair, nonce: int, chain_id: int) -> Transaction:
    """A transaction from ``key`` with its signature."""
    unsigned = unsigned_bytes(chain_id, key.public, nonce, body)
    signature = key.sign(signing_message(chain_id, body.TYPE, unsigned))
    tx = Transaction(chain_id, key.public, nonce, body, signature)
    tx.__dict__["unsigned"] = unsigned
    tx.__dict__[_SIGNED_HERE] = True
    return tx


def sign_batch(
    bodies: Sequence[Any], keys: Sequence[KeyPair], nonces: Sequence[int], chain_id: int
) -> list[Transaction]:
    """Transactions i from ``keys[i]`` with ``bodies[i]`` and ``nonces[i]``, signed in one
    batch (kernels.ed25519_sign_batch): the very bytes that `sign` makes one at a time."""
    unsigned = [
        unsigned_bytes(chain_id, k.public, n, b) for b, k, n in zip(bodies, keys, nonces, strict=True)
    ]
    signatures = kernels.ed25519_sign_batch(
        [key.secret_seed() for key in keys],
        [signing_message(chain_id, b.TYPE, u) for b, u in zip(bodies, unsigned)],
    )
    txs = []
    for body, key, nonce, u, signature in zip(bodies, keys, nonces, unsigned, signatures):
        tx = Transaction(chain_id, key.public, nonce, body, Signature(signature.tobytes()))
        tx.__dict__["unsigned"] = u
        tx.__dict__[_SIGNED_HERE] = True
        txs.append(tx)
    return txs


def decode_transaction(data: bytes) -> Transaction:
    """Parse exactly one canonical transaction; anything else raises `EncodingError`.

    The signature is not checked here: verification is batched (see `verify`).
    """
    if len(data) < _HEAD.size + SIGNATURE_SIZE:
        raise EncodingError("transaction too short")
    version, tx_type, chain_id, sender, nonce = _HEAD.unpack_from(data)
    if version != TX_VERSION:
        raise EncodingError(f"unknown transaction version {version}")
    cls = BODY_TYPES.get(tx_type)
    if cls is None:
        raise EncodingError(f"unknown transaction type {tx_type}")
    body: Any = enc.decode_exact(data[_HEAD.size : -SIGNATURE_SIZE], enc.struct_codec(cls))
    tx = Transaction(chain_id, PublicKey(sender), nonce, body,
                     Signature(bytes(data[-SIGNATURE_SIZE:])))
    tx.__dict__["unsigned"] = bytes(data[:-SIGNATURE_SIZE])
    tx.__dict__["encoded"] = bytes(data)
    return tx
