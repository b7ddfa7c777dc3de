"""Settle: once an interval's readings are on the ledger, the contract's delivered energy and
payments (which every validator recomputes) in the `Settlement` the operator signs."""

from __future__ import annotations

from collections.abc import Mapping

from testbed.agents.proposer import SettlementProposal, settle
from testbed.events import IntervalSettled, Payment
from testbed.market.params import UTILITY, PaymentKind

__all__ = ["settle", "settled"]


def settled(k: int, proposal: SettlementProposal, home_of: Mapping[bytes, int]
            ) -> IntervalSettled:
    def home(account: bytes) -> int | None:
        return None if account == UTILITY else home_of[account]

    payments = tuple(Payment(home(p.payer), home(p.payee), p.amount_units,
                             PaymentKind(p.kind).name.lower())
                     for p in proposal.body.payments)
    return IntervalSettled(k, proposal.body.interval, proposal.delivered_wh, payments)
