"""Chain state: the ledger's own part (nonces) and the contract executed on every transaction.

py-evm's separation: blocks and transactions are data; `ChainState` executes them. The
contract is pluggable (`Contract`), so the ledger knows nothing of markets; `testbed verify`
and the loop plug in the market contract.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

from testbed.errors import LedgerError
from testbed.ledger.ids import PublicKey, Root
from testbed.ledger.tables import HashedTable
from testbed.ledger.transactions import Genesis, Transaction


class Rejected(LedgerError):
    """A transaction the rules refuse, with a one-line reason; the state is left unchanged."""


@dataclass(frozen=True)
class BlockContext:
    """What a transaction may know of the block it is executed in (no wall clock)."""

    chain_id: int
    height: int
    timestamp: int  # block time, seconds since the Unix epoch (scenario time in a simulation)
    proposer: PublicKey
    validators: frozenset[PublicKey]
    operator: PublicKey  # the genesis transaction's signer: see `ChainState`


class Contract(Protocol):
    """Deterministic state machine run by every validator on every transaction (the genesis
    transaction included: it carries the contract's parameters)."""

    def apply(self, tx: Transaction, ctx: BlockContext) -> None:
        """Execute ``tx``, or raise `Rejected` leaving the state unchanged."""

    def state_root(self) -> Root:
        """32-byte commitment to the whole contract state, identical on every machine."""

    def copy(self) -> Self:
        """An independent copy (blocks execute on a copy and commit by swapping)."""


C = TypeVar("C", bound=Contract)
"""The contract a chain runs (the market's, on every chain the testbed makes)."""


class ChainState(Generic[C]):
    """Nonces per account, the validator set, the operator and the contract's state.

    The operator is whoever signed the genesis transaction: the party that founded the chain
    (the utility running the feeder model). Contracts may reserve transactions for it (the
    market: deposits, clearings with the grid's decisions, settlements). It is fixed for life
    by the genesis block, whose hash every later block chains to, so the state root does not
    repeat it. In a one-validator ledger the validator signs genesis and is the operator.
    """

    def __init__(self, contract: C | None = None) -> None:
        self.nonces: HashedTable[PublicKey, int] = HashedTable()
        self.validators: frozenset[PublicKey] = frozenset()
        self.operator = PublicKey(b"")
        self.contract = contract

    def required_contract(self) -> C:
        """The contract, on a chain opened with one (every chain a run or a network makes)."""
        if self.contract is None:
            raise LedgerError("this chain was opened without a contract")
        return self.contract

    def copy(self) -> ChainState[C]:
        other = ChainState(self.contract.copy() if self.contract is not None else None)
        other.nonces = self.nonces.copy()
        other.validators = self.validators
        other.operator = self.operator
        return other

    def apply(self, tx: Transaction, ctx: BlockContext) -> None:
        expected = self.nonces.get(tx.sender, 0)
        if tx.nonce != expected:
            raise Rejected(f"nonce {tx.nonce} from {tx.sender.hex()[:16]}, expected {expected}")
        if tx.chain_id != ctx.chain_id:
            raise Rejected(f"transaction for chain {tx.chain_id}, this is chain {ctx.chain_id}")
        if isinstance(tx.body, Genesis):
            if ctx.height != 0:
                raise Rejected("a genesis transaction outside the genesis block")
            if not tx.body.validators or len(set(tx.body.validators)) != len(tx.body.validators):
                raise Rejected("genesis needs a non-empty set of distinct validators")
            validators = frozenset(tx.body.validators)
            if self.contract is not None:
                self.contract.apply(tx, ctx)
            self.validators = validators
            self.operator = tx.sender
        elif ctx.height == 0:
            raise Rejected("the genesis block holds only the genesis transaction")
        elif self.contract is not None:
            self.contract.apply(tx, ctx)
        self.nonces[tx.sender] = expected + 1

    def root(self) -> Root:
        """SHA-256 over the sorted validators, the nonces' digest (`HashedTable`) and the
        contract's root."""
        h = hashlib.sha256(b"state/v2")
        h.update(struct.pack(">I", len(self.validators)))
        for key in sorted(self.validators):
            h.update(key)
        h.update(self.nonces.digest())
        h.update(self.contract.state_root() if self.contract is not None else bytes(32))
        return Root(h.digest())
