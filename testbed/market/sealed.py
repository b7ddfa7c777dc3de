"""Sealed bids: commit before gate closure, reveal after it (a private market's orders).

Until gate closure nobody, the validators included, learns an order's side, energy or price:
the home sends an `OrderCommitment`, the hash

    SHA-256(ORDER_COMMIT_DOMAIN | chain_id u32 | owner 32 | interval u64 | side u8 |
            energy_wh u64 | price_per_kwh u64 | salt 16)

with a fresh random 16-byte salt (so the few possible prices cannot be guessed from it), and
locks ``escrow_units`` from its balance: at least ``unrevealed_penalty_units``, and enough for
the order it hides (homes lock one standard bond, `bond_units`, so the escrow says nothing of
the order). Its place in time priority is the commitment's arrival.

From gate closure until ``reveal_seconds`` after it the order is revealed: by the home (an
`OrderReveal` of its own orders) or by the operator, who relays the reveals the homes hand it
in the interval's `Clearing` (one transaction for all, applied before the matching, each
naming its commitment by its place among those still sealed, in arrival order; a home
the operator leaves out can still reveal itself before the window closes: the clearing
waits for it). The hash binds the owner, so a relayed reveal needs no signature of its own.
The contract recomputes the hash (a mismatch is refused), applies every rule of an order
(`MarketState.check_order`), keeps the order's escrow out of the lock (a lock too small is
refused) and returns the rest; the order is then on the book like any other. A reveal before
gate closure, after the window or after the interval's clearing is refused; a transaction
of several reveals is applied whole or not at all.

The operator clears once every commitment of the interval is revealed, or the window has
closed. A commitment never revealed stays off the book: at clearing its lock drops to the
penalty (the rest returns), and the settlement pays that to the utility (a FORFEIT payment), so
money is conserved to the unit. The penalty is what a home pays for the option of not
revealing after seeing the others' reveals.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from testbed.ledger.ids import PublicKey
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import (
    OrderCommitment,
    OrderReveal,
    Payment,
    RelayedReveal,
    Reveal,
    Side,
    Transaction,
)
from testbed.market.auction import OpenOrder
from testbed.market.params import UTILITY, MarketParams, PaymentKind, Privacy, escrow
from testbed.market.state import Commitment, MarketState

S = TypeVar("S", bound=MarketState)

ORDER_COMMIT_DOMAIN = b"p2p-energy-testbed/order-commitment/v2"  # v2: 16-byte salts
_ORDER = struct.Struct(">I32sQBQQ16s")


def commitment(chain_id: int, owner: PublicKey, interval: int, side: int, energy_wh: int,
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


def commit(contract: MarketState, tx: Transaction, body: OrderCommitment,
           ctx: BlockContext) -> None:
    prm = contract.rules
    contract.require_privacy(Privacy.PRIVATE, "a sealed order")
    p = contract.participant(tx.sender)
    contract.check_before_gate(body.interval, ctx, "sealed order")
    floor = max(prm.unrevealed_penalty_units, 1)
    if body.escrow_units < floor:
        raise Rejected(f"a sealed order locks at least {floor} (the unrevealed penalty), "
                       f"not {body.escrow_units}")
    if body.escrow_units > p.balance_units:
        raise Rejected(f"escrow of {body.escrow_units} exceeds the balance of "
                       f"{p.balance_units}")
    contract.credit(p.account, -body.escrow_units)
    contract.commitments[tx.txid] = Commitment(tx.txid, tx.sender, body.interval,
                                               body.commitment, contract.seq, body.escrow_units)
    contract.seq += 1


def reveal(contract: MarketState, tx: Transaction, body: OrderReveal,
           ctx: BlockContext) -> None:
    """A home's reveals of its own sealed orders: all of them, or none."""
    if not body.reveals:
        raise Rejected("a reveal of no order")
    contract.adopt(with_reveals(contract, body.reveals, ctx.timestamp, owner=tx.sender))


def relay(contract: MarketState, interval: int, reveals: Sequence[Reveal]
          ) -> tuple[RelayedReveal, ...]:
    """``reveals`` of ``interval``'s sealed orders as a `Clearing` relays them to ``contract``
    (the state the clearing will find): each by its commitment's place among those waiting,
    in that order."""
    place = {c.order_id: k for k, c in enumerate(contract.unrevealed(interval))}
    return tuple(sorted((RelayedReveal(place[r.order], r.side, r.energy_wh, r.price_per_kwh,
                                       r.salt) for r in reveals), key=lambda r: r.index))


def relayed(contract: MarketState, interval: int, reveals: Sequence[RelayedReveal]
            ) -> tuple[Reveal, ...]:
    """The reveals a clearing of ``interval`` relays, each of the commitment it names;
    `Rejected` unless each names a commitment waiting, in ascending places (so none twice)."""
    waiting = contract.unrevealed(interval)
    out, last = [], -1
    for r in reveals:
        if not last < r.index < len(waiting):
            raise Rejected(f"a relayed reveal names sealed order {r.index} of interval "
                           f"{interval}: {len(waiting)} wait, named in ascending order")
        last = r.index
        out.append(Reveal(waiting[r.index].order_id, r.side, r.energy_wh, r.price_per_kwh,
                          r.salt))
    return tuple(out)


def with_reveals(contract: S, reveals: Sequence[Reveal], timestamp: int,
                 interval: int | None = None, owner: PublicKey | None = None) -> S:
    """A copy of ``contract`` with ``reveals`` applied at block time ``timestamp`` (each of
    an order of ``interval`` and of ``owner``, when given), or `Rejected` for the first that
    may not be: the contract's own rule, and the proposer's view of the revealed book."""
    contract.require_privacy(Privacy.PRIVATE, "a reveal")
    trial = contract.copy()
    for body in reveals:
        _reveal(trial, body, timestamp, interval, owner)
    return trial


def applicable(contract: S, reveals: Sequence[Reveal], timestamp: int,
               interval: int) -> tuple[S, tuple[Reveal, ...]]:
    """The operator's relay: a copy of ``contract`` with those of ``reveals`` applied that
    may be (a mismatch or a broken rule leaves its order sealed), and those reveals."""
    contract.require_privacy(Privacy.PRIVATE, "a reveal")
    trial, applied = contract.copy(), []
    for body in reveals:
        try:
            _reveal(trial, body, timestamp, interval, None)
        except Rejected:
            continue  # checked before any change: the trial is as it was
        applied.append(body)
    return trial, tuple(applied)


def _reveal(contract: MarketState, body: Reveal, timestamp: int, interval: int | None,
            owner: PublicKey | None) -> None:
    prm = contract.rules
    c = contract.commitments.get(body.order)
    if c is None:
        known = body.order in contract.orders
        raise Rejected(f"sealed order {body.order.hex()[:16]} is "
                       + ("already revealed" if known else "unknown (or settled)"))
    if owner is not None and c.owner != owner:
        raise Rejected(f"sealed order {body.order.hex()[:16]} is not {owner.hex()[:16]}'s")
    if interval is not None and c.interval != interval:
        raise Rejected(f"a reveal of interval {c.interval} in the clearing of {interval}")
    gate = c.interval - prm.gate_closure_seconds
    closes = gate + prm.reveal_seconds
    if timestamp < gate:
        raise Rejected(f"reveal for interval {c.interval} before gate closure at {gate}")
    if timestamp >= closes or c.interval in contract.cleared:
        raise Rejected(f"reveal for interval {c.interval} after its reveal window closed at "
                       f"{closes} (or its clearing)")
    expected = commitment(contract.chain_id, c.owner, c.interval, body.side, body.energy_wh,
                          body.price_per_kwh, body.salt)
    if expected != c.commitment:
        raise Rejected(f"reveal does not match the commitment of sealed order "
                       f"{body.order.hex()[:16]}")
    contract.check_order(c.owner, c.interval, body.side, body.energy_wh, body.price_per_kwh)
    needed = escrow(prm, body.side, body.energy_wh)
    if needed > c.locked_units:
        raise Rejected(f"the order needs an escrow of {needed}, its commitment locked "
                       f"{c.locked_units}")
    contract.credit(c.owner, c.locked_units - needed)
    del contract.commitments[c.order_id]
    contract.place(OpenOrder(c.order_id, c.owner, c.interval, body.side, body.energy_wh,
                              body.price_per_kwh, c.seq, needed))


def check_reveals_over(contract: MarketState, interval: int, ctx: BlockContext) -> None:
    """`Rejected` if clearing ``interval`` now would cut its reveal window short."""
    closes = interval - contract.rules.gate_closure_seconds + contract.rules.reveal_seconds
    waiting = contract.unrevealed(interval)
    if waiting and ctx.timestamp < closes:
        raise Rejected(f"clearing of interval {interval} while {len(waiting)} sealed orders "
                       f"may still be revealed (until {closes})")


def forfeit_unrevealed(contract: MarketState, interval: int) -> None:
    """At clearing: each unrevealed commitment keeps only its penalty locked."""
    penalty = contract.rules.unrevealed_penalty_units
    for c in contract.unrevealed(interval):
        keep = min(c.locked_units, penalty)
        contract.credit(c.owner, c.locked_units - keep)
        contract.commitments[c.order_id] = replace(c, locked_units=keep)


def forfeits(contract: MarketState, interval: int) -> tuple[Payment, ...]:
    """The settlement's FORFEIT payments: every lock left on an unrevealed commitment."""
    return tuple(Payment(c.owner, UTILITY, c.locked_units, int(PaymentKind.FORFEIT))
                 for c in contract.unrevealed(interval) if c.locked_units)


def settle_forfeits(contract: MarketState, interval: int) -> None:
    """At settlement: the unrevealed commitments are paid out (`forfeits`) and gone."""
    for c in contract.unrevealed(interval):
        del contract.commitments[c.order_id]
