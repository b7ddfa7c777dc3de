"""Orders: before gate closure, each home's trader (`agents.trader`) decides the interval, its
order cut to what its balance can escrow and signed by the home (the homes' side of the
market). In a private market each
home commits to its order (`market.sealed`), locking the standard bond, and keeps the reveal
until gate closure, when it hands it to the operator to relay in the clearing.

The homes remember between intervals what a household would: their batteries' charge (a
battery follows the schedule its strategy chose) and the clearing prices they have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from testbed.agents.home import Home, feasible_battery_wh, starting_charge_wh
from testbed.agents.host import checked_plan
from testbed.agents.order_rules import budget_units, sealed_order, within_budget
from testbed.agents.strategies import BY_KIND, knowledge
from testbed.agents.trader import Absent, MarketView, Plan, Trader, market_view
from testbed.events import DecisionRefused, PlacedOrder
from testbed.interval.block import Ledger, signed_all
from testbed.ledger.keys import KeyPair, PublicOnly
from testbed.ledger.sealing import Entropy, fresh_entropy
from testbed.ledger.transactions import (
    SALT_BYTES,
    Order,
    OrderCommitment,
    OrderReveal,
    Reveal,
    Side,
    Transaction,
)
from testbed.market.params import MarketParams, Privacy


@dataclass(frozen=True)
class Orders:
    """One interval's signed orders (private: commitments), each home's reveal kept until
    gate closure (private), and each home's battery schedule (Wh, + charging)."""

    transactions: tuple[Transaction, ...]
    reveals: tuple[Reveal, ...]
    placed: tuple[PlacedOrder, ...]
    battery_wh: tuple[int, ...]
    refused: tuple[DecisionRefused, ...] = ()  # agents' plans not taken (no order)


def built_in(homes: Sequence[Home]) -> tuple[Trader, ...]:
    """Each home's built-in trader, by its kind."""
    return tuple(BY_KIND[h.kind] for h in homes)


def plans(homes: Sequence[Home], traders: Sequence[Trader], k: int, interval: int,
          params: MarketParams, seed: int, soc_wh: list[int], view: MarketView,
          balances: Sequence[int] | None = None
          ) -> tuple[tuple[Plan, ...], tuple[DecisionRefused, ...]]:
    """Every home's plan for interval ``k`` (starting at ``interval``) by its trader, from the
    prices in ``view`` and its balance (``balances``, default 0), with the interval's seeded
    draws; each battery follows the schedule it chose, cut to what it can do (``soc_wh``, each
    battery's charge, is moved by it). A plan the run does not take (`refusal`, an agent
    refused) is no order and an idle battery, with its reason."""
    rng = np.random.default_rng([seed, k])
    decisions, refused = [], []
    for i, (home, trader) in enumerate(zip(homes, traders, strict=True)):
        knows = knowledge(home, k, interval, params, rng, soc_wh[i], view,
                          balances[i] if balances is not None else 0)
        decision, reason = checked_plan(trader, knows, rng)
        if reason is not None:
            refused.append(DecisionRefused(k, interval, i, reason))
        battery_wh = feasible_battery_wh(home.battery, soc_wh[i], decision.battery_wh,
                                         params.interval_seconds)
        if battery_wh != decision.battery_wh:
            decision = replace(decision, battery_wh=battery_wh)
        soc_wh[i] += battery_wh
        decisions.append(decision)
    return tuple(decisions), tuple(refused)


class Trading:
    """The homes as traders: their traders (default: the built-in one of each home's kind),
    batteries' charge and what the chain has published so far."""

    def __init__(self, homes: Sequence[Home], accounts: Sequence[KeyPair | PublicOnly],
                 params: MarketParams, seed: int, entropy: Entropy = fresh_entropy,
                 traders: Sequence[Trader] | None = None,
                 external: frozenset[int] = frozenset()) -> None:
        self.homes, self.accounts, self.params, self.seed = homes, accounts, params, seed
        self.external = external  # homes with their own agent process: the run decides
        # nothing for them (their accounts here are public keys only)
        chosen = tuple(traders) if traders is not None else built_in(homes)
        self.traders = tuple(Absent() if i in external else t for i, t in enumerate(chosen))
        self.sealed = params.privacy == Privacy.PRIVATE
        self.entropy = entropy  # the salts of sealed orders
        self.soc_wh = starting_charge_wh(homes)
        self.prices: list[int] = []  # clearing prices of the intervals that traded
        self.last_volume_wh: int | None = None

    def view(self) -> MarketView:
        return market_view(self.prices, self.last_volume_wh)

    def orders(self, k: int, interval: int, ledger: Ledger) -> Orders:
        """Interval ``k`` (starting at ``interval``): every home's plan, its order signed."""
        balances = [ledger.contract.participants[a.public].balance_units
                    for a in self.accounts]
        decisions, refused = plans(self.homes, self.traders, k, interval, self.params,
                                   self.seed, self.soc_wh, self.view(), balances)
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
        return Orders(tuple(txs), reveals, tuple(placed), tuple(d.battery_wh for d in decisions),
                      refused)

    def _commitment(self, ledger: Ledger, key: KeyPair, order: Order
                    ) -> tuple[OrderCommitment, bytes]:
        """The commitment to ``order`` (locking the bond, or what the balance has) and the
        salt that reveals it."""
        salt = self.entropy(b"order salt|" + key.public + order.interval.to_bytes(8, "big")
                            )[:SALT_BYTES]
        return sealed_order(ledger.chain_id, key.public, order, salt,
                            self._budget(ledger, key.public)), salt

    def _budget(self, ledger: Ledger, account: bytes) -> int:
        return budget_units(self.params, ledger.contract.participants[account].balance_units)

    @property
    def external_accounts(self) -> dict[int, bytes]:
        """The external homes' accounts, by home."""
        return {i: self.accounts[i].public for i in sorted(self.external)}

    def own_reveals(self, ledger: Ledger, reveals: Sequence[Reveal]) -> list[Transaction]:
        """``reveals`` as each home's own `OrderReveal`, signed by it (in place of the
        operator's relay in the clearing: with an external home in the market, the chain
        must reach gate closure before the clearing, for that home to reveal too)."""
        key_of = {a.public: a for a in self.accounts}
        commitments = ledger.contract.commitments
        return signed_all(ledger, [(key_of[commitments[r.order].owner], OrderReveal((r,)))
                                   for r in reveals])

    def cleared(self, price_per_kwh: int | None, volume_wh: int) -> None:
        """What the homes learn at gate closure: the clearing price, if anything traded, and
        the energy granted."""
        if price_per_kwh is not None:
            self.prices.append(price_per_kwh)
            self.last_volume_wh = volume_wh

    def _within_budget(self, ledger: Ledger, account: bytes, order: Order | None
                       ) -> Order | None:
        if order is None:
            return None
        return within_budget(self.params, order, self._budget(ledger, account))
