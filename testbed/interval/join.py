"""Join: before the first interval, the homes register (bus, role, meter key), each signing
its own registration, and the operator deposits every home's starting balance."""

from __future__ import annotations

from collections.abc import Sequence

from testbed.interval.block import Ledger, signed
from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import Deposit, RegisterParticipant


def join(ledger: Ledger, registrations: Sequence[tuple[KeyPair, RegisterParticipant]],
         deposit_units: int, timestamp: int) -> None:
    """One block of the homes' registrations, then one of the operator's deposits."""
    ledger.commit([signed(ledger, home, body) for home, body in registrations], timestamp)
    ledger.commit([signed(ledger, ledger.operator, Deposit(home.public, deposit_units), i)
                   for i, (home, _) in enumerate(registrations)], timestamp)
