"""A home's rules for putting an order on the ledger: when, how much it may escrow, and its
sealed commitment. The run's homes (`interval.orders`) and a home's own agent process
(`agents.external`) follow the same rules, so both place the same orders."""

from __future__ import annotations

from dataclasses import replace

from testbed.agents.strategies import MIN_ORDER_WH
from testbed.ledger.ids import PublicKey
from testbed.ledger.transactions import Order, OrderCommitment
from testbed.market.params import MarketParams, Privacy, affordable_wh
from testbed.market.sealed import bond_units, commitment

ORDER_LEAD_S = 60
"""Orders go on the ledger this long before gate closure."""


def budget_units(params: MarketParams, balance_units: int) -> int:
    """What an order may escrow: the balance, or in a private market the lock of a sealed
    order (the standard bond, or the whole balance when less: 0 when below the unrevealed
    penalty, which any lock must cover)."""
    if params.privacy != Privacy.PRIVATE:
        return balance_units
    lock = min(balance_units, bond_units(params))
    return lock if lock >= max(params.unrevealed_penalty_units, 1) else 0


def within_budget(params: MarketParams, order: Order, budget: int) -> Order | None:
    """The order cut to what ``budget`` can escrow (a home that cannot pay does not trade;
    it buys from the utility outside the market), or None when too small."""
    energy = min(order.energy_wh, affordable_wh(params, order.side, budget))
    if energy < MIN_ORDER_WH:
        return None
    return order if energy == order.energy_wh else replace(order, energy_wh=energy)


def sealed_order(chain_id: int, owner: bytes, order: Order, salt: bytes, lock_units: int
                 ) -> OrderCommitment:
    """The commitment to ``order`` by ``owner``, locking ``lock_units``."""
    digest = commitment(chain_id, PublicKey(owner), order.interval, order.side, order.energy_wh,
                        order.price_per_kwh, salt)
    return OrderCommitment(order.interval, digest, lock_units)
