"""Clear: at gate closure, the book's matching (the contract's own rule, which every validator
recomputes) with each trade located on the feeder, then the grid's decisions written into the
`Clearing` the operator signs; in a private market the book is the one the homes' reveals
open, and the clearing relays them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from testbed.agents.grid_gate import CONSTRAINT_KINDS, GateDecision
from testbed.agents.proposer import ClearingProposal, clear, clearing_body
from testbed.events import Binding, ClearedTrade, IntervalCleared
from testbed.ledger.transactions import Clearing, Constraint, Reveal
from testbed.market.contract import MarketContract

KIND_NAMES = {code: name for name, code in CONSTRAINT_KINDS.items()}


@dataclass(frozen=True)
class Matched:
    """An interval's matched trades, each granted in full, with the homes on either side."""

    proposal: ClearingProposal
    sellers: tuple[int, ...]  # home of each trade's offer
    buyers: tuple[int, ...]  # home of each trade's bid


def match(contract: MarketContract, interval: int, home_of: Mapping[bytes, int],
          reveals: Sequence[Reveal] = ()) -> Matched:
    proposal = clear(contract, interval, reveals)
    owner = {o.order_id: home_of[o.owner]
             for o in (*contract.book(interval), *contract.unrevealed(interval))}
    return Matched(proposal, tuple(owner[t.offer] for t in proposal.trades),
                   tuple(owner[t.bid] for t in proposal.trades))


def decide(matched: Matched, decisions: Sequence[GateDecision]) -> Clearing:
    """The `Clearing` with the grid's decision on each trade."""
    return clearing_body(matched.proposal, decisions)


def cleared(k: int, matched: Matched, body: Clearing) -> IntervalCleared:
    trades = tuple(
        ClearedTrade(seller, buyer, t.energy_wh, t.granted_wh, t.price_per_kwh,
                     _binding(t.constraint))
        for t, seller, buyer in zip(body.trades, matched.sellers, matched.buyers)
    )
    return IntervalCleared(k, body.interval, body.price_per_kwh if body.trades else None, trades)


def sold_wh(trades: Sequence[ClearedTrade]) -> dict[int, int]:
    """Energy each seller was granted over all its trades of the interval."""
    sold: dict[int, int] = {}
    for t in trades:
        sold[t.seller] = sold.get(t.seller, 0) + t.granted_wh
    return sold


def _binding(c: Constraint) -> Binding | None:
    if not c.kind:
        return None
    kind = KIND_NAMES.get(c.kind, c.element.split(":")[0])
    return Binding(kind, c.element, c.value_micro / 1e6, c.limit_micro / 1e6)
