"""Orders: before gate closure, each home's strategy for the interval, cut to what its balance
can escrow and signed by the home (the homes' side of the market). In a private market each
home commits to its order (`market.sealed`), locking the standard bond, and keeps the reveal
until gate closure, when it hands it to the operator to relay in the clearing.

The homes remember between intervals what a household would: their batteries' charge (a
battery follows the schedule its strategy chose) and the clearing prices they have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from testbed.events import PlacedOrder
from testbed.interval.block import Ledger, signed_all
from testbed.ledger.keys import KeyPair
from testbed.ledger.sealing import Entropy, fresh_entropy
from testbed.ledger.transactions import Order, OrderCommitment, Reveal, Side, Transaction
from testbed.market.params import MarketParams, Privacy, affordable_wh
from testbed.market.sealed import bond_units, commitment
from testbed.market.strategies import MIN_ORDER_WH, Home, MarketView, Plan, plan

ORDER_LEAD_S = 60
"""Orders go on the ledger this long before gate closure."""


@dataclass(frozen=True)
class Orders:
    """One interval's signed orders (private: commitments), each home's reveal kept until
    gate closure (private), and each home's battery schedule (Wh, + charging)."""

    transactions: tuple[Transaction, ...]
    reveals: tuple[Reveal, ...]
    placed: tuple[PlacedOrder, ...]
    battery_wh: tuple[int, ...]


def starting_charge_wh(homes: Sequence[Home]) -> list[int]:
    """Each home's battery charge at the run's start: half full (0 without a battery)."""
    return [h.battery.capacity_wh // 2 if h.battery else 0 for h in homes]


def plans(homes: Sequence[Home], k: int, interval: int, params: MarketParams, seed: int,
          soc_wh: list[int], view: MarketView) -> tuple[Plan, ...]:
    """Every home's strategy for interval ``k`` (starting at ``interval``), from the prices in
    ``view``, with the interval's seeded draws; each battery follows the schedule it chose
    (``soc_wh``, each battery's charge, is moved by it)."""
    rng = np.random.default_rng([seed, k])
    decisions = []
    for i, home in enumerate(homes):
        decision = plan(home, k, interval, params, rng, soc_wh[i], view)
        soc_wh[i] += decision.battery_wh
        decisions.append(decision)
    return tuple(decisions)


class Trading:
    """The homes as traders: strategies, batteries' charge and the prices seen so far."""

    def __init__(self, homes: Sequence[Home], accounts: Sequence[KeyPair], params: MarketParams,
                 seed: int, entropy: Entropy = fresh_entropy) -> None:
        self.homes, self.accounts, self.params, self.seed = homes, accounts, params, seed
        self.sealed = params.privacy == Privacy.PRIVATE
        self.entropy = entropy  # the salts of sealed orders
        self.soc_wh = starting_charge_wh(homes)
        self.prices: list[int] = []  # clearing prices of the intervals that traded

    def view(self) -> MarketView:
        if not self.prices:
            return MarketView()
        return MarketView(self.prices[-1], sum(self.prices) // len(self.prices))

    def orders(self, k: int, interval: int, ledger: Ledger) -> Orders:
        """Interval ``k`` (starting at ``interval``): every home's plan, its order signed."""
        decisions = plans(self.homes, k, interval, self.params, self.seed, self.soc_wh,
                          self.view())
        signers, sealed, placed = [], [], []
        for i, (decision, key) in enumerate(zip(decisions, self.accounts)):
            order = self._within_budget(ledger, key.public, decision.order)
            if order is None:
                continue
            if self.sealed:
                body, salt = self._commitment(ledger, key, order)
                signers.append((key, body))
                sealed.append((order, salt))
            else:
                signers.append((key, order))
            placed.append(PlacedOrder(i, "bid" if order.side == Side.BID else "offer",
                                      order.energy_wh, order.price_per_kwh))
        txs = signed_all(ledger, signers)
        reveals = tuple(Reveal(tx.txid, o.side, o.energy_wh, o.price_per_kwh, salt)
                        for tx, (o, salt) in zip(txs, sealed))  # sealed: all commitments
        return Orders(tuple(txs), reveals, tuple(placed), tuple(d.battery_wh for d in decisions))

    def _commitment(self, ledger: Ledger, key: KeyPair, order: Order
                    ) -> tuple[OrderCommitment, bytes]:
        """The commitment to ``order`` (locking the bond, or what the balance has) and the
        salt that reveals it."""
        salt = self.entropy(b"order salt|" + key.public + order.interval.to_bytes(8, "big"))
        digest = commitment(ledger.chain_id, key.public, order.interval, order.side,
                            order.energy_wh, order.price_per_kwh, salt)
        return OrderCommitment(order.interval, digest, self._budget(ledger, key.public)), salt

    def _budget(self, ledger: Ledger, account: bytes) -> int:
        """What an order may escrow: the balance, or in a private market the lock of a sealed
        order (the standard bond, or the whole balance when less: 0 when below the unrevealed
        penalty, which any lock must cover)."""
        balance = ledger.contract.participants[account].balance_units
        if not self.sealed:
            return balance
        lock = min(balance, bond_units(self.params))
        return lock if lock >= max(self.params.unrevealed_penalty_units, 1) else 0

    def cleared(self, price_per_kwh: int | None) -> None:
        """What the homes learn at gate closure: the clearing price, if anything traded."""
        if price_per_kwh is not None:
            self.prices.append(price_per_kwh)

    def _within_budget(self, ledger: Ledger, account: bytes, order: Order | None
                       ) -> Order | None:
        """The order cut to what its owner's balance can escrow (a home that cannot pay does
        not trade; it buys from the utility outside the market), or None when too small."""
        if order is None:
            return None
        budget = self._budget(ledger, account)
        energy = min(order.energy_wh, affordable_wh(self.params, order.side, budget))
        if energy < MIN_ORDER_WH:
            return None
        return order if energy == order.energy_wh else replace(order, energy_wh=energy)
