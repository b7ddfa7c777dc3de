"""Join: before the first interval, the operator enrols the homes (each with the meter it
installed and the home's view key) and, in a private market, first names the validators' view
key and appoints the run's auditor; then it deposits every home's starting balance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from testbed.interval.block import Ledger, signed
from testbed.ledger.transactions import Deposit, RegisterParticipant


def join(ledger: Ledger, registrations: Sequence[RegisterParticipant], deposit_units: int,
         timestamp: int, appointments: Sequence[Any] = ()) -> None:
    """One block of the operator's ``appointments`` and registrations, then one of its
    deposits."""
    op = ledger.operator
    ledger.commit([signed(ledger, op, body, i)
                   for i, body in enumerate((*appointments, *registrations))], timestamp)
    ledger.commit([signed(ledger, op, Deposit(r.account, deposit_units), i)
                   for i, r in enumerate(registrations)], timestamp)
