"""Who may send what: every key's role on the ledger, and the transactions each role may sign.

Roles: the **operator** (the genesis signer: the utility that runs the feeder model and
installs the meters) registers homes, each with the meter it installed there, names the
validators' view key and appoints auditors, sets the grid fees, deposits money, clears and
settles; a **home**
trades; a **meter** reads for the one home it is bound to; **validators** sign blocks and
votes, never transactions (unless one is also the operator, as in an embedded ledger); an
**auditor** reads every sealed record and signs nothing. The contract checks the sender's
role first (`check_sender`), each refusal one line naming the role and what it may not do;
the network's permissions (`testbed.network.access`) keep each role to its own subjects.
"""

from __future__ import annotations

from enum import IntEnum

from testbed.ledger.ids import PublicKey
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import (
    Clearing,
    Deposit,
    MeterReading,
    Order,
    OrderCommitment,
    OrderReveal,
    RegisterAuditor,
    RegisterParticipant,
    SealedReading,
    SetGridFees,
    Settlement,
    SetValidatorsViewKey,
    Transaction,
)
from testbed.market.state import MarketState


class Party(IntEnum):
    OPERATOR = 1
    HOME = 2
    METER = 3
    VALIDATOR = 4
    AUDITOR = 5


MAY_SEND: dict[type, Party] = {
    RegisterParticipant: Party.OPERATOR,
    RegisterAuditor: Party.OPERATOR,
    SetValidatorsViewKey: Party.OPERATOR,
    SetGridFees: Party.OPERATOR,
    Deposit: Party.OPERATOR,
    Clearing: Party.OPERATOR,
    Settlement: Party.OPERATOR,
    Order: Party.HOME,
    OrderCommitment: Party.HOME,
    OrderReveal: Party.HOME,
    MeterReading: Party.METER,
    SealedReading: Party.METER,
}
"""The one role that may send each market transaction."""


def roles_of(contract: MarketState, key: PublicKey, ctx: BlockContext) -> set[Party]:
    """Every role ``key`` has (the operator of an embedded ledger is also its validator)."""
    found = set()
    if key == ctx.operator:
        found.add(Party.OPERATOR)
    if key in ctx.validators:
        found.add(Party.VALIDATOR)
    if key in contract.participants:
        found.add(Party.HOME)
    if key in contract.meters:
        found.add(Party.METER)
    if key in contract.auditors:
        found.add(Party.AUDITOR)
    return found


_ARTICLES = {Party.OPERATOR: "the", Party.HOME: "a", Party.METER: "a", Party.VALIDATOR: "a",
             Party.AUDITOR: "an"}


def _name(roles: set[Party]) -> str:
    if not roles:
        return "an unregistered key"
    return " and ".join(f"{_ARTICLES[r]} {r.name.lower()}" for r in sorted(roles))


def check_sender(contract: MarketState, tx: Transaction, ctx: BlockContext) -> None:
    """`Rejected` unless ``tx``'s sender has the role its transaction needs."""
    needed = MAY_SEND[type(tx.body)]
    have = roles_of(contract, tx.sender, ctx)
    if needed not in have:
        raise Rejected(f"{type(tx.body).__name__} from {_name(have)} "
                       f"({tx.sender.hex()[:16]}): only {_name({needed})} may send it")


def check_new_key(contract: MarketState, ctx: BlockContext, key: PublicKey, what: str) -> None:
    """`Rejected` if ``key`` already has a role: one key, one role (the operator's validator
    aside), so no meter can trade and no home can read for another."""
    have = roles_of(contract, key, ctx)
    if have:
        raise Rejected(f"{what} {key.hex()[:16]} is already {_name(have)}")
