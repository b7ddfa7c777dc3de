"""Grid fees: what the grid operator charges per kWh delivered on a trade, by the pair of buses.

The market's parameters set a flat fee (`MarketParams.grid_fee_per_kwh`, from genesis); the
operator replaces it from a later interval on with a signed `SetGridFees`: a flat part plus,
for pairs of buses, a matrix the operator computed from its feeder model (per voltage level,
or by the electrical distance between seller and buyer: `agents.tariff`). A tariff is set
before the gate of the first interval it applies to closes, so every home can know the fee
before it trades; the one in force for an interval is the latest set from an interval at or
before it. The clearing records each trade's fee (`ClearedInterval.fees_per_kwh`), so a later
tariff never changes an interval already cleared.

The seller pays the fee on the energy delivered (`settlement`, a GRID_FEE payment to the
utility), out of its offer's escrow: every fee is at most the shortfall penalty, so the escrow
an offer keeps after clearing (its granted energy at the penalty rate) covers the fee on what
it delivers and the penalty on what it does not, and money stays conserved to the unit.
"""

from __future__ import annotations

from bisect import bisect_left

from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import SetGridFees, Transaction
from testbed.market.state import MarketState


def set_fees(contract: MarketState, tx: Transaction, body: SetGridFees,
             ctx: BlockContext) -> None:
    """The operator's `SetGridFees`: checked, then in force from ``body.from_interval``."""
    prm = contract.rules
    contract.check_aligned(body.from_interval)
    gate = body.from_interval - prm.gate_closure_seconds
    if ctx.timestamp >= gate:
        raise Rejected(f"grid fees from interval {body.from_interval} after its gate closure "
                       f"at {gate}")
    n = len(body.buses)
    if any(a >= b for a, b in zip(body.buses, body.buses[1:])):
        raise Rejected("grid fees: buses must be listed once each, ascending")
    if len(body.pair_per_kwh) != n * n:
        raise Rejected(f"grid fees: {len(body.pair_per_kwh)} pair fees for {n} buses "
                       f"(need {n * n})")
    highest = body.flat_per_kwh + max(body.pair_per_kwh, default=0)
    if highest > prm.shortfall_penalty_per_kwh:
        raise Rejected(f"grid fee up to {highest} per kWh above the shortfall penalty "
                       f"{prm.shortfall_penalty_per_kwh} (a seller's escrow pays it)")
    contract.tariffs[body.from_interval] = body


def fee_per_kwh(contract: MarketState, interval: int, seller_bus: int, buyer_bus: int) -> int:
    """The grid fee of a trade of ``interval`` from ``seller_bus`` to ``buyer_bus``."""
    starts = [s for s in contract.tariffs if s <= interval]
    if not starts:
        return contract.rules.grid_fee_per_kwh
    tariff = contract.tariffs[max(starts)]
    return tariff.flat_per_kwh + _pair(tariff, seller_bus, buyer_bus)


def _pair(tariff: SetGridFees, seller_bus: int, buyer_bus: int) -> int:
    buses, n = tariff.buses, len(tariff.buses)
    i, j = bisect_left(buses, seller_bus), bisect_left(buses, buyer_bus)
    if i == n or j == n or buses[i] != seller_bus or buses[j] != buyer_bus:
        return 0
    return tariff.pair_per_kwh[i * n + j]
