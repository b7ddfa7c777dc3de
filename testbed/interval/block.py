"""Block: the stage that hands an interval's transactions to the ledger.

`Ledger` is what the other stages need of a ledger: the market's state after the last
committed block, the signature of a transaction with its sender's next nonce, and the commit of
a batch of transactions at a block time. A commit may finish after `commit` returns (on a
network it takes a round trip to every validator): everything a stage reads waits for the
batches handed over before, and `idle` says, without waiting, whether a read would wait.
`EmbeddedLedger` is the chain in this process (one SQLite file, the genesis validators' keys
held here, proposing in turn and all voting), which commits before `commit` returns; a ledger
on a validator network (`testbed.network.network_ledger.NetworkLedger`) implements the same
protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from testbed.errors import LedgerError
from testbed.events import BlockCommitted, EventStream, TransactionRefused
from testbed.ledger.chain import Chain
from testbed.ledger.ids import BlockHash, PublicKey
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.ledger.sealing import Keyring
from testbed.ledger.transactions import Transaction, sign, sign_batch
from testbed.ledger.wire import encode_block
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams


class Ledger(Protocol):
    operator: KeyPair
    """The chain's operator, the signer of its genesis: signs the market's outcomes
    (deposits, clearings with the grid's decisions, settlements) and, on a network, the
    clock of each batch's block time."""

    @property
    def contract(self) -> MarketContract:
        """The market's state once every batch handed over is committed."""

    @property
    def chain_id(self) -> int: ...

    @property
    def height(self) -> int:
        """Height of the last committed block."""

    @property
    def head_hash(self) -> BlockHash:
        """Hash of the last committed block."""

    @property
    def validator_count(self) -> int:
        """Validators named in genesis."""

    @property
    def validators_view_key(self) -> bytes:
        """The view key the validators hold (and the operator: it settles), which every
        sealed record of a private market is sealed to."""

    def next_nonce(self, account: PublicKey) -> int:
        """The nonce of ``account``'s next transaction after the committed ones."""

    def preview(self, txs: Sequence[Transaction], timestamp: int) -> MarketContract:
        """The market's state if ``txs`` were the next block at ``timestamp`` (a copy)."""

    def commit(self, txs: Sequence[Transaction], timestamp: int) -> None:
        """Hand ``txs`` over to be committed at block time ``timestamp`` (Unix seconds), after
        every batch handed over before; a refusal raises here or at the next read."""

    def idle(self) -> bool:
        """Whether every batch handed over is committed: reads would not wait. Never waits."""

    def wait(self) -> None:
        """Until every batch handed over is committed; raises what failed to commit."""

    def watch(self, done: Callable[[MarketContract], bool], wait_s: float) -> bool:
        """Whether the market's state comes to satisfy ``done`` within ``wait_s`` of wall
        time, as blocks of transactions others submitted commit (an external home's)."""

    def flush(self) -> None:
        """Store what was committed since the last flush (called once per interval)."""

    def close(self) -> None: ...


class EmbeddedLedger:
    """The chain in this process; its validators propose in turn (height modulo their number)
    and hold the validators' view key. Blocks are validated and applied as they are committed
    and stored an interval at a time (`flush`): one database transaction per interval rather
    than per block. A signature made in this process (`Transaction.signed_here`: the run's
    homes, meters and operator sign here) is valid by construction and not checked again
    here; every other one is, and the run's follower checks them all, as `testbed verify`
    does."""

    def __init__(self, chain: Chain, validators: Sequence[KeyPair], events: EventStream,
                 validators_view: ViewKey) -> None:
        self.chain, self.validators, self.events = chain, tuple(validators), events
        chain.holding = True  # an interval's blocks are stored together, at `flush`
        self.validators_view = validators_view
        self.operator = self.validators[0]

    @classmethod
    def create(cls, path: Path | str, validators: Sequence[KeyPair], params: MarketParams,
               timestamp: int, events: EventStream, validators_view: ViewKey
               ) -> EmbeddedLedger:
        """A new ledger file whose genesis names ``validators`` and the market's parameters."""
        chain = Chain.create(path, validators,
                             contract=MarketContract(Keyring([validators_view])),
                             contract_params=params.encode(), timestamp=timestamp)
        return cls(chain, validators, events, validators_view)

    @property
    def contract(self) -> MarketContract:
        return self.chain.state.contract

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def height(self) -> int:
        return self.chain.height

    @property
    def head_hash(self) -> BlockHash:
        return self.chain.head.hash

    @property
    def validator_count(self) -> int:
        return len(self.validators)

    @property
    def validators_view_key(self) -> bytes:
        return self.validators_view.public

    def next_nonce(self, account: PublicKey) -> int:
        return self.chain.next_nonce(account)

    def preview(self, txs: Sequence[Transaction], timestamp: int) -> MarketContract:
        # by the next block's proposer: the block that starts with ``txs`` starts from here
        return self.chain.preview(txs, timestamp, self._proposer().public).contract

    def _proposer(self) -> KeyPair:
        """The validator that proposes the next block."""
        return self.validators[(self.chain.height + 1) % len(self.validators)]

    def commit(self, txs: Sequence[Transaction], timestamp: int) -> None:
        started = time.perf_counter()
        height = self.chain.height + 1
        proposer = self._proposer()
        try:
            block = self.chain.produce(txs, timestamp, proposer, voters=self.validators,
                                       verified={tx.txid for tx in txs if tx.signed_here})
        except LedgerError as exc:
            self.events.publish(TransactionRefused(timestamp, height, str(exc)))
            raise
        h = block.header
        self.events.publish(BlockCommitted(h.height, h.hash.hex(), h.timestamp, len(txs),
                                           len(encode_block(block)),
                                           (time.perf_counter() - started) * 1e3))

    def idle(self) -> bool:
        return True  # each batch is committed before `commit` returns

    def wait(self) -> None:
        pass

    def watch(self, done: Callable[[MarketContract], bool], wait_s: float) -> bool:
        return done(self.contract)  # nobody else submits to a chain in this process

    def flush(self) -> None:
        self.chain.flush()

    def close(self) -> None:
        self.chain.close()


def signed(ledger: Ledger, key: KeyPair, body: Any, later: int = 0) -> Transaction:
    """``body`` signed by ``key`` with its next nonce (plus ``later``, for a key's further
    transactions in the same block)."""
    return sign(body, key, ledger.next_nonce(key.public) + later, ledger.chain_id)


def signed_all(ledger: Ledger, signers: Sequence[tuple[KeyPair, Any]]) -> list[Transaction]:
    """Each (key, body) signed with the key's next nonce (a key's later bodies take the
    nonces after), in one batch: the same transactions as `signed` one by one."""
    nonces: list[int] = []
    seen: dict[bytes, int] = {}
    for key, _ in signers:
        later = seen.get(key.public, 0)
        seen[key.public] = later + 1
        nonces.append(ledger.next_nonce(key.public) + later)
    return sign_batch([body for _, body in signers], [key for key, _ in signers], nonces,
                      ledger.chain_id)
