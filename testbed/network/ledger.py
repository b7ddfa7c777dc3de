"""The run's ledger on a validator network: the `Ledger` seam of the loop
(`testbed.interval.block`), backed by a local network in a folder.

A run commits a batch by submitting it, with the operator's clock for the batch's block time,
and returning once the stream holds it certified. It keeps its own replica of the chain in the
run folder (the same ledger file as an embedded run, every block and certificate checked as a
node checks them), from which it reads the market's state and the nonces. It is the operator:
it signs clocks, deposits, clearings (the grid's decisions) and settlements with the network's
operator key, connects with the operator's certificate (it relays the homes' and meters'
signed transactions) and holds the validators' view key (it settles, so it reads the
readings, as the utility that runs the meters does).

The network folder is created on first use with the scenario's market, `NETWORK_VALIDATORS`
validators and 3 NATS servers, and started if it is not running; a network this run started
is stopped when it closes. A run needs a fresh chain (its homes register at its start).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from testbed.errors import InputError, LedgerError
from testbed.events import BlockCommitted, EventStream
from testbed.ledger.blocks import Block
from testbed.ledger.certificates import Certificate, CertifiedBlock
from testbed.ledger.chain import Chain
from testbed.ledger.keys import KeyPair, ViewKey, passphrase
from testbed.ledger.sealing import Keyring
from testbed.ledger.transactions import Transaction
from testbed.ledger.wire import Clock, encode_block
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from testbed.network import local, processes
from testbed.network.access import ClientRole
from testbed.network.client import NetworkClient

NETWORK_VALIDATORS = 4
COMMIT_TIMEOUT_S = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class Seen:
    """A certified block read from the stream, and when (perf_counter seconds)."""

    block: Block
    certificate: Certificate
    at: float


class NetworkLedger:
    def __init__(self, folder: Path, network: local.Network, replica: Chain, operator: KeyPair,
                 view: ViewKey, events: EventStream, stop_when_closed: bool) -> None:
        self.folder, self.network, self.replica = folder, network, replica
        self.operator, self.events, self.stop_when_closed = operator, events, stop_when_closed
        self.validators_view_key = view.public
        self.validator_count = len(replica.state.validators)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="network-ledger")
        self._thread.start()
        self._client = self._call(NetworkClient.connect(
            network.urls, network.genesis, network.credentials(ClientRole.OPERATOR), "run"))
        self._blocks = self._client.follow(replica.head)
        self._last: Block = network.genesis  # the replica's head block

    @classmethod
    def open(cls, folder: Path, path: Path, params: MarketParams, timestamp: int,
             events: EventStream) -> NetworkLedger:
        """The network in ``folder`` (created with ``params`` and a genesis at ``timestamp``
        if there is none, started if it is down), and a replica of its chain at ``path``."""
        if not (folder / local.MANIFEST).exists():
            local.create(folder, NETWORK_VALIDATORS, 3, params=params, genesis_time=timestamp)
        network = local.load(folder)
        genesis = network.genesis.transactions[0].body
        if genesis.contract_params != params.encode():
            raise InputError(f"{folder}: its chain runs another market than the scenario's")
        running = any(processes.alive(n.pid, n.config) for n in network.nodes)
        secret = passphrase(development=True)
        try:  # a network this run started, it stops when done (or failing to start)
            network = local.up(folder)
            view = ViewKey.load(network.validators_view_key, secret)
            replica = Chain.from_genesis(path, network.genesis, MarketContract(Keyring([view])))
        except BaseException:
            if not running:
                local.down(folder)
            raise
        try:
            operator = KeyPair.load(network.operator_key, secret)
            ledger = cls(folder, network, replica, operator, view, events, not running)
        except BaseException:
            replica.close()
            if not running:
                local.down(folder)
            raise
        if ledger._call(ledger._client.blocklog.last_seq()) > 1:
            ledger.close()
            raise InputError(f"{folder}: its chain is not new (a run registers its homes "
                             "at the start): remove the folder or name another")
        return ledger

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # --- the Ledger protocol ------------------------------------------------------------------

    @property
    def contract(self) -> MarketContract:
        return self.replica.state.contract

    @property
    def chain_id(self) -> int:
        return self.replica.chain_id

    @property
    def height(self) -> int:
        return self.replica.height

    @property
    def head_hash(self) -> bytes:
        return self.replica.head.hash

    def next_nonce(self, account: bytes) -> int:
        return self.replica.next_nonce(account)

    def preview(self, txs: Sequence[Transaction], timestamp: int) -> MarketContract:
        return self.replica.preview(txs, timestamp).contract

    def commit(self, txs: Sequence[Transaction], timestamp: int) -> Block:
        """Submit ``txs`` for block time ``timestamp`` and return the last block holding them,
        once certified in the stream and checked into the replica. Nothing to commit: the
        head block (a network makes no empty blocks)."""
        if not txs:
            return self._last
        started = time.perf_counter()
        for committed in self._call(self._commit(txs, timestamp), COMMIT_TIMEOUT_S + 5):
            block = committed.block
            self.replica.append(CertifiedBlock(block, committed.certificate))  # checked
            h = block.header
            self.events.publish(BlockCommitted(h.height, h.hash.hex(), h.timestamp,
                                               len(block.transactions),
                                               len(encode_block(block)),
                                               (committed.at - started) * 1e3))
            self._last = block
        return self._last

    def flush(self) -> None:
        """Nothing to do: each block was stored by the nodes, and in the replica, as it came."""

    def close(self) -> None:
        try:
            self._call(self._client.close(), 10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self.replica.close()
            if self.stop_when_closed:
                local.down(self.folder)

    # --- inside ---------------------------------------------------------------------------------

    async def _commit(self, txs: Sequence[Transaction], timestamp: int) -> list[Seen]:
        """Submit, then read the stream until every one of ``txs`` is in a certified block:
        the blocks read, each with when it was read."""
        started = time.perf_counter()
        receipts = await self._client.submit(
            txs, Clock.sign(self.chain_id, timestamp, self.operator))
        refused = [r for r in receipts if not r.accepted]
        if refused:
            raise LedgerError(f"the network refused {len(refused)} of {len(txs)} "
                              f"transactions: {refused[0].reason}")
        waiting = {tx.txid for tx in txs}
        deadline = started + COMMIT_TIMEOUT_S
        seen: list[Seen] = []
        while waiting:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise LedgerError(f"{len(waiting)} transactions not committed within "
                                  f"{COMMIT_TIMEOUT_S:g} s")
            try:
                committed = await asyncio.wait_for(anext(self._blocks), left)
            except TimeoutError:
                continue
            seen.append(Seen(committed.block, committed.certificate, time.perf_counter()))
            waiting -= {tx.txid for tx in committed.block.transactions}
        return seen
