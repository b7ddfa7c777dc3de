"""Sealed bids: commit before gate closure, reveal after it (a private market's orders).

Until gate closure nobody, the validators included, learns an order's side, energy or price:
the home sends an `OrderCommitment`, the hash

    SHA-256(ORDER_COMMIT_DOMAIN | chain_id u32 | owner 32 | interval u64 | side u8 |
            energy_wh u64 | price_per_kwh u64 | salt 32)

with a fresh random 32-byte salt (so the few possible prices cannot be guessed from it), and
locks ``escrow_units`` from its balance: at least ``unrevealed_penalty_units``, and enough for
the order it hides (homes lock one standard bond, `bond_units`, so the escrow says nothing of
the order). Its place in time priority is the commitment's arrival.

From gate closure until ``reveal_seconds`` after it the home sends an `OrderReveal`: the
contract recomputes the hash (a mismatch is refused), applies every rule of an order
(`MarketContract._order_rules`), keeps the order's escrow out of the lock (a lock too small is
refused) and returns the rest; the order is then on the book like any other. A reveal before
gate closure, after the window or after the interval's clearing is refused.

The operator clears once every commitment of the interval is revealed, or the window has
closed. A commitment never revealed stays off the book: at clearing its lock drops to the
penalty (the rest returns), and the settlement pays that to the utility (a FORFEIT payment), so
money is conserved to the unit. The penalty is what a home pays for the option of not
revealing after seeing the others' reveals.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from testbed.ledger.encoding import b32, u64
from testbed.ledger.ids import PublicKey, TxId
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import OrderCommitment, OrderReveal, Payment, Side, Transaction
from testbed.market.auction import OpenOrder
from testbed.market.params import UTILITY, MarketParams, PaymentKind, Privacy, escrow

if TYPE_CHECKING:
    from testbed.market.contract import MarketContract

ORDER_COMMIT_DOMAIN = b"p2p-energy-testbed/order-commitment/v1"
_ORDER = struct.Struct(">I32sQBQQ32s")


@dataclass(frozen=True)
class Commitment:
    """A sealed order not yet revealed (the contract's record of an `OrderCommitment`)."""

    order_id: TxId = b32()  # the commitment transaction's id: the order's id once revealed
    owner: PublicKey = b32()
    interval: int = u64()
    commitment: bytes = b32()
    seq: int = u64()  # arrival on the chain: the order's time priority
    locked_units: int = u64()


def commitment(chain_id: int, owner: bytes, interval: int, side: int, energy_wh: int,
               price_per_kwh: int, salt: bytes) -> bytes:
    """The hash a home commits to for an order."""
    return hashlib.sha256(ORDER_COMMIT_DOMAIN + _ORDER.pack(
        chain_id, owner, interval, side, energy_wh, price_per_kwh, salt)).digest()


def bond_units(params: MarketParams) -> int:
    """What a home locks for any sealed order: enough for the largest order of either side,
    and the unrevealed penalty."""
    return max(escrow(params, Side.BID, params.max_energy_wh),
               escrow(params, Side.OFFER, params.max_energy_wh),
               params.unrevealed_penalty_units, 1)


def commit(contract: MarketContract, tx: Transaction, body: OrderCommitment,
           ctx: BlockContext) -> None:
    prm = contract.params
    contract._require_privacy(Privacy.PRIVATE, "a sealed order")
    p = contract._participant(tx.sender)
    contract._before_gate(body.interval, ctx, "sealed order")
    floor = max(prm.unrevealed_penalty_units, 1)
    if body.escrow_units < floor:
        raise Rejected(f"a sealed order locks at least {floor} (the unrevealed penalty), "
                       f"not {body.escrow_units}")
    if body.escrow_units > p.balance_units:
        raise Rejected(f"escrow of {body.escrow_units} exceeds the balance of "
                       f"{p.balance_units}")
    contract.participants[p.account] = replace(p, balance_units=p.balance_units
                                               - body.escrow_units)
    contract.commitments[tx.txid] = Commitment(tx.txid, tx.sender, body.interval,
                                               body.commitment, contract.seq, body.escrow_units)
    contract.seq += 1


def reveal(contract: MarketContract, tx: Transaction, body: OrderReveal,
           ctx: BlockContext) -> None:
    prm = contract.params
    contract._require_privacy(Privacy.PRIVATE, "a reveal")
    c = contract.commitments.get(body.order)
    if c is None:
        known = body.order in contract.orders
        raise Rejected(f"sealed order {body.order.hex()[:16]} is "
                       + ("already revealed" if known else "unknown (or settled)"))
    if c.owner != tx.sender:
        raise Rejected(f"sealed order {body.order.hex()[:16]} is not {tx.sender.hex()[:16]}'s")
    gate = c.interval - prm.gate_closure_seconds
    closes = gate + prm.reveal_seconds
    if ctx.timestamp < gate:
        raise Rejected(f"reveal for interval {c.interval} before gate closure at {gate}")
    if ctx.timestamp >= closes or c.interval in contract.cleared:
        raise Rejected(f"reveal for interval {c.interval} after its reveal window closed at "
                       f"{closes} (or its clearing)")
    expected = commitment(ctx.chain_id, c.owner, c.interval, body.side, body.energy_wh,
                          body.price_per_kwh, body.salt)
    if expected != c.commitment:
        raise Rejected(f"reveal does not match the commitment of sealed order "
                       f"{body.order.hex()[:16]}")
    contract._order_rules(c.owner, c.interval, body.side, body.energy_wh, body.price_per_kwh)
    needed = escrow(prm, body.side, body.energy_wh)
    if needed > c.locked_units:
        raise Rejected(f"the order needs an escrow of {needed}, its commitment locked "
                       f"{c.locked_units}")
    owner = contract.participants[c.owner]
    contract.participants[c.owner] = replace(
        owner, balance_units=owner.balance_units + c.locked_units - needed)
    del contract.commitments[c.order_id]
    contract._place(OpenOrder(c.order_id, c.owner, c.interval, body.side, body.energy_wh,
                              body.price_per_kwh, c.seq, needed))


def unrevealed(contract: MarketContract, interval: int) -> list[Commitment]:
    """The commitments of ``interval`` not revealed, in arrival order."""
    return sorted((c for c in contract.commitments.values() if c.interval == interval),
                  key=lambda c: c.seq)


def check_reveals_over(contract: MarketContract, interval: int, ctx: BlockContext) -> None:
    """`Rejected` if clearing ``interval`` now would cut its reveal window short."""
    closes = interval - contract.params.gate_closure_seconds + contract.params.reveal_seconds
    waiting = unrevealed(contract, interval)
    if waiting and ctx.timestamp < closes:
        raise Rejected(f"clearing of interval {interval} while {len(waiting)} sealed orders "
                       f"may still be revealed (until {closes})")


def forfeit_unrevealed(contract: MarketContract, interval: int) -> None:
    """At clearing: each unrevealed commitment keeps only its penalty locked."""
    penalty = contract.params.unrevealed_penalty_units
    for c in unrevealed(contract, interval):
        keep = min(c.locked_units, penalty)
        owner = contract.participants[c.owner]
        contract.participants[c.owner] = replace(
            owner, balance_units=owner.balance_units + c.locked_units - keep)
        contract.commitments[c.order_id] = replace(c, locked_units=keep)


def forfeits(contract: MarketContract, interval: int) -> tuple[Payment, ...]:
    """The settlement's FORFEIT payments: every lock left on an unrevealed commitment."""
    return tuple(Payment(c.owner, UTILITY, c.locked_units, int(PaymentKind.FORFEIT))
                 for c in unrevealed(contract, interval) if c.locked_units)


def settle_forfeits(contract: MarketContract, interval: int) -> None:
    """At settlement: the unrevealed commitments are paid out (`forfeits`) and gone."""
    for c in unrevealed(contract, interval):
        del contract.commitments[c.order_id]
