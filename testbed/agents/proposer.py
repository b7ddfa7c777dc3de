"""The validator that proposes a block: the outcome bodies the contract will re-check.

`clear` matches the book, a `GridGate` decides what the feeder lets through, and
`clearing_body` writes both into a `Clearing`; `settle` computes the `Settlement`. The contract
recomputes the matching and the payments itself and accepts these bodies only if identical,
so a proposer can add nothing but the grid's decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from testbed.agents.grid_gate import AcceptAll, GateDecision, GridGate, GridTrade
from testbed.errors import LedgerError
from testbed.ledger.sealing import Sealer
from testbed.ledger.transactions import Clearing, RelayedReveal, Reveal, Settlement, Trade
from testbed.market import private
from testbed.market.contract import MarketContract
from testbed.market.params import NO_CONSTRAINT
from testbed.market.sealed import applicable, relay


@dataclass(frozen=True)
class ClearingProposal:
    interval: int
    price_per_kwh: int
    trades: tuple[Trade, ...]  # granted in full, before the grid gate
    grid_trades: tuple[GridTrade, ...]  # the same trades located on the feeder
    reveals: tuple[RelayedReveal, ...] = ()  # the sealed orders' reveals the clearing relays


@dataclass(frozen=True)
class SettlementProposal:
    body: Settlement
    delivered_wh: tuple[int, ...]  # per trade of the clearing


def clear(contract: MarketContract, interval: int, reveals: Sequence[Reveal] = (),
          timestamp: int | None = None) -> ClearingProposal:
    """The book's matching for ``interval``, every trade granted in full; with ``reveals``
    (a private market's, relayed at block time ``timestamp``, default gate closure), the book
    those of them open that may (the others' orders stay sealed)."""
    relays: tuple[RelayedReveal, ...] = ()
    if reveals:
        at = interval - contract.rules.gate_closure_seconds if timestamp is None else timestamp
        before = contract
        contract, applied = applicable(contract, reveals, at, interval)
        relays = relay(before, interval, applied)
    matching = contract.matching(interval)
    owners = {o.order_id: contract.participants[o.owner] for o in contract.book(interval)}
    trades = tuple(
        Trade(m.bid, m.offer, m.energy_wh, m.price_per_kwh, m.energy_wh, NO_CONSTRAINT)
        for m in matching.matches
    )
    grid = tuple(
        GridTrade(k, owners[m.offer].bus, owners[m.bid].bus, m.energy_wh)
        for k, m in enumerate(matching.matches)
    )
    return ClearingProposal(interval, matching.price_per_kwh, trades, grid, relays)


def clearing_body(proposal: ClearingProposal, decisions: Sequence[GateDecision]) -> Clearing:
    """The `Clearing` with the grid gate's decision written into each trade."""
    if len(decisions) != len(proposal.trades):
        raise LedgerError(f"interval {proposal.interval}: {len(decisions)} grid decisions for "
                          f"{len(proposal.trades)} trades")
    trades = tuple(
        Trade(t.bid, t.offer, t.energy_wh, t.price_per_kwh, d.granted_wh, d.constraint)
        for t, d in zip(proposal.trades, decisions)
    )
    return Clearing(proposal.interval, proposal.price_per_kwh, trades, proposal.reveals)


def gated_clearing(
    contract: MarketContract, interval: int, gate: GridGate | None = None, base: Any = None,
    reveals: Sequence[Reveal] = (), timestamp: int | None = None,
) -> Clearing:
    """`clear`, then the gate (accept-all by default) on the interval's ``base`` grid, as one
    `Clearing` body."""
    proposal = clear(contract, interval, reveals, timestamp)
    decisions = (gate or AcceptAll()).decide(proposal.grid_trades, base,
                                             contract.rules.interval_seconds)
    return clearing_body(proposal, decisions)


def settle(contract: MarketContract, interval: int, sealer: Sealer | None = None
           ) -> SettlementProposal:
    """The `Settlement` of a cleared interval from the readings on the chain so far (in a
    private market, each trading home's detail sealed by ``sealer``: the proposer must read
    the readings, so it holds the validators' view key)."""
    result = contract.settlement(interval)
    details = private.seal_details(contract, interval, result, sealer)
    return SettlementProposal(Settlement(interval, result.payments, details),
                              result.delivered_wh)
