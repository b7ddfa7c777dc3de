"""External homes at gate closure: the run waits for what their own agent processes send, a
bounded while, and clears whatever came.

An external home (``agent = "external"``) signs its order (a sealed one in a private market)
and its reveal with its own key, which the run never holds (`testbed agent run`,
`agents.external`). It submits them on its own certificate; the run sees them only as the
chain commits them (`Ledger.watch`), and waits at most ``wait_s`` of wall time for each:
for the order before gate closure, then, in a private market, for the reveal. What did not
come is no order, recorded with the reason (`DecisionRefused`); the run goes on either way.

In a private market with an external home's sealed order, the homes the run trades for
reveal with their own `OrderReveal` at gate closure instead of through the operator's relay,
so the chain reaches gate closure before the clearing and the external home can reveal too;
the clearing comes when every sealed order is revealed, or when the reveal window has closed
(the contract's rule: its unrevealed orders then forfeit their penalty).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from testbed.events import DecisionRefused
from testbed.interval.block import Ledger
from testbed.market.contract import MarketContract

EXTERNAL_WAIT_S = 10.0
"""How long (wall time) the run waits for an external home's order, then for its reveal,
before it clears without them."""


def _ordered(contract: MarketContract, interval: int, account: bytes) -> bool:
    return any(o.owner == account for o in (*contract.book(interval),
                                            *contract.unrevealed(interval)))


def _sealed(contract: MarketContract, interval: int, account: bytes) -> bool:
    return any(c.owner == account for c in contract.unrevealed(interval))


def await_orders(ledger: Ledger, k: int, interval: int, external: Mapping[int, bytes],
                 wait_s: float = EXTERNAL_WAIT_S) -> tuple[DecisionRefused, ...]:
    """Wait for each external home's order (``external``: home -> account) for the interval
    starting at ``interval``; the homes that sent none, as records."""
    return _awaited(ledger, k, interval, external, wait_s, "order",
                    lambda c, a: not _ordered(c, interval, a))


def await_reveals(ledger: Ledger, k: int, interval: int, external: Mapping[int, bytes],
                  wait_s: float = EXTERNAL_WAIT_S) -> tuple[DecisionRefused, ...]:
    """Wait for each external home's sealed order of the interval to be revealed; the homes
    whose reveal did not come, as records (their order stays off the book)."""
    return _awaited(ledger, k, interval, external, wait_s, "reveal",
                    lambda c, a: _sealed(c, interval, a))


def _awaited(ledger: Ledger, k: int, interval: int, external: Mapping[int, bytes],
             wait_s: float, what: str, missing: Callable[[MarketContract, bytes], bool]
             ) -> tuple[DecisionRefused, ...]:
    """Wait until no external home's ``what`` is ``missing`` (bounded); those still missing,
    as records."""
    ledger.watch(lambda c: not any(missing(c, a) for a in external.values()), wait_s)
    contract = ledger.contract
    return tuple(DecisionRefused(k, interval, i, f"no {what} of the external agent committed "
                                                 f"within {wait_s:g} s of gate closure")
                 for i, a in external.items() if missing(contract, a))


def externally_sealed(contract: MarketContract, interval: int,
                      external: Mapping[int, bytes]) -> bool:
    """Whether an external home holds a sealed order of the interval (then the homes reveal
    on their own, `GateClosure`)."""
    return any(_sealed(contract, interval, a) for a in external.values())


def clearing_time(contract: MarketContract, interval: int) -> int:
    """The clearing's block time: gate closure, or the reveal window's close while a sealed
    order of the interval is still unrevealed (the contract's rule)."""
    rules = contract.rules
    gate = interval - rules.gate_closure_seconds
    return gate + rules.reveal_seconds if contract.unrevealed(interval) else gate
