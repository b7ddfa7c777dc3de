"""The run's ledger on a validator network: the `Ledger` seam of the loop
(`testbed.interval.block`), backed by a local network in a folder.

A run hands a batch to the ledger (`commit`) and goes on: the ledger's own thread submits it,
with the operator's clock for the batch's block time, and reads the stream until the batch is
certified in it. A submission that gets no receipt is retried, backing off, to any node and
then to each node by name (`NetworkClient.submit_until`); a batch still not committed a while
after its receipts is submitted again (nodes hold and commit a transaction once, by its id),
until the scenario's commit deadline, when the run stops with `LedgerUnavailable` naming the
validators that did not answer. Batches commit in the order they were handed over. What the
stages read (the market's state, the nonces, a preview) waits for every batch handed over to
be committed first (`wait`); a paced loop asks `idle` before it runs a stage, so its control
steps never wait on the network.

The ledger keeps its own replica of the chain in the run folder (the same ledger file as an
embedded run, every block and certificate checked as a node checks them), from which it
reads the market's state and the nonces. It is the operator: it signs clocks, deposits,
clearings (the grid's decisions) and settlements with the network's operator key, connects
with the operator's certificate (it relays the homes' and meters' signed transactions) and
holds the validators' view key (it settles, so it reads the readings, as the utility that
runs the meters does).

The network folder is created on first use with the scenario's market, `NETWORK_VALIDATORS`
validators and 3 NATS servers, and started if it is not running; a network this run started
is stopped when it closes. A run needs a fresh chain (its homes register at its start).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from testbed.errors import InputError, LedgerError, LedgerUnavailable
from testbed.events import BlockCommitted, Event, EventStream, SubmissionRetried
from testbed.ledger.blocks import Block
from testbed.ledger.certificates import CertifiedBlock, quorum
from testbed.ledger.chain import Chain
from testbed.ledger.ids import BlockHash, PublicKey
from testbed.ledger.keys import KeyPair, ViewKey, passphrase
from testbed.ledger.sealing import Keyring
from testbed.ledger.store import open_store
from testbed.ledger.transactions import Transaction
from testbed.ledger.wire import Clock, encode_block
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from testbed.network import local, processes
from testbed.network.access import ClientRole
from testbed.network.client import Committed, NetworkClient, NoReceipt, Retry
from testbed.network.mempool import FULL
from testbed.network.timing import COMMIT_DEADLINE_S, RESUBMIT_AFTER_S

NETWORK_VALIDATORS = 4
CLOSE_TIMEOUT_S = 10.0  # closing the client and the ledger's thread
FOLLOW_QUEUE = 1000  # certified blocks read ahead of the commit waiting for them, at most
T = TypeVar("T")


class NetworkLedger:
    def __init__(self, folder: Path, network: local.Network, replica: Chain[MarketContract],
                 operator: KeyPair,
                 view: ViewKey, events: EventStream, stop_when_closed: bool,
                 commit_deadline_s: float = COMMIT_DEADLINE_S) -> None:
        self.folder, self.network, self.replica = folder, network, replica
        self.operator, self.events, self.stop_when_closed = operator, events, stop_when_closed
        self.commit_deadline_s = commit_deadline_s
        self.validators_view_key = view.public
        self.validator_count = len(replica.state.validators)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="network-ledger")
        self._thread.start()
        self._client = self._call(NetworkClient.connect(
            network.urls, network.genesis, network.credentials(ClientRole.OPERATOR), "run",
            [n.name for n in network.nodes]))
        self._blocks: asyncio.Queue[Committed] = asyncio.Queue(FOLLOW_QUEUE)
        self._following = self._call(self._start_following())
        self._in_order = asyncio.Lock()  # batches commit one after the other, in order
        self._batches: deque[Future[None]] = deque()  # handed over, oldest first
        self._happened: queue.SimpleQueue[Event] = queue.SimpleQueue()  # for the run's thread

    @classmethod
    def open(cls, folder: Path, path: Path, params: MarketParams, timestamp: int,
             events: EventStream, commit_deadline_s: float = COMMIT_DEADLINE_S
             ) -> NetworkLedger:
        """The network in ``folder`` (created with ``params`` and a genesis at ``timestamp``
        if there is none, started if it is down), and a replica of its chain at ``path``."""
        if not (folder / local.MANIFEST).exists():
            local.create(folder, NETWORK_VALIDATORS, 3, params=params, genesis_time=timestamp)
        network = local.load(folder)
        genesis = network.genesis.transactions[0].body
        if genesis.contract_params != params.encode():
            raise InputError(f"{folder}: its chain runs another market than the scenario's")
        running = any(processes.alive(n.pid, n.config) for n in network.nodes)
        if not running and _stored_height(network) > 0:  # said before starting 7 processes
            raise _not_new(folder)
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
            ledger = cls(folder, network, replica, operator, view, events, not running,
                         commit_deadline_s)
        except BaseException:
            replica.close()
            if not running:
                local.down(folder)
            raise
        if ledger._call(ledger._client.blocklog.last_seq()) > 1:
            ledger.close()
            raise _not_new(folder)
        return ledger

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _start_following(self) -> asyncio.Task[None]:
        """The task that reads the stream's certified blocks after the replica's head into
        ``_blocks``, for as long as the ledger is open (a queue, not the generator itself, is
        what a commit waits on: a wait that times out must not close the stream)."""
        async def follow() -> None:
            async for committed in self._client.follow(self.replica.head):
                await self._blocks.put(committed)

        return asyncio.create_task(follow())

    # --- the Ledger protocol ------------------------------------------------------------------

    @property
    def contract(self) -> MarketContract:
        self.wait()
        return self.replica.state.required_contract()

    @property
    def chain_id(self) -> int:
        return self.replica.chain_id

    @property
    def height(self) -> int:
        self.wait()
        return self.replica.height

    @property
    def head_hash(self) -> BlockHash:
        self.wait()
        return self.replica.head.hash

    def next_nonce(self, account: PublicKey) -> int:
        self.wait()
        return self.replica.next_nonce(account)

    def preview(self, txs: Sequence[Transaction], timestamp: int) -> MarketContract:
        self.wait()
        return self.replica.preview(txs, timestamp).required_contract()

    def commit(self, txs: Sequence[Transaction], timestamp: int) -> None:
        """Hand ``txs`` over for block time ``timestamp`` and return at once; they commit
        after every batch handed over before them (a network makes no empty blocks)."""
        self._report()
        if txs:
            self._batches.append(asyncio.run_coroutine_threadsafe(
                self._commit_in_turn(tuple(txs), timestamp), self._loop))

    def idle(self) -> bool:
        """Whether every batch handed over is committed (or has failed: `wait` raises);
        never waits."""
        self._report()
        while self._batches and self._batches[0].done():
            if self._batches[0].exception() is not None:
                return True
            self._batches.popleft()
        return not self._batches

    def wait(self) -> None:
        """Until every batch handed over is committed, each within its deadline; the first
        failure raised (`LedgerUnavailable`, `LedgerError`)."""
        while self._batches:
            try:
                self._batches[0].result()
            finally:
                self._report()
            self._batches.popleft()
        self._report()

    def watch(self, done: Callable[[MarketContract], bool], wait_s: float) -> bool:
        """Whether the market's state, once every batch handed over is committed, comes to
        satisfy ``done`` within ``wait_s`` of wall time: the blocks others submitted (an
        external home's orders and reveals) are read into the replica meanwhile."""
        self.wait()
        try:
            return self._call(self._watch(done, wait_s), wait_s + CLOSE_TIMEOUT_S)
        finally:
            self._report()

    def flush(self) -> None:
        """Nothing to do: each block was stored by the nodes, and in the replica, as it came."""

    def close(self) -> None:
        """Stop submitting (a batch not committed yet is abandoned: the run is ending) and
        close the client, the replica and, if this run started it, the network."""
        try:
            for batch in self._batches:
                batch.cancel()
            self._batches.clear()  # the replica's state stays readable, as committed
            self._loop.call_soon_threadsafe(self._following.cancel)
            self._call(self._client.close(), CLOSE_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CLOSE_TIMEOUT_S)
            self._report()
            self.replica.close()
            if self.stop_when_closed:
                local.down(self.folder)

    # --- inside ---------------------------------------------------------------------------------

    def _report(self) -> None:
        """Publish, on the run's thread, what the ledger's thread saw happen."""
        while True:
            try:
                event = self._happened.get_nowait()
            except queue.Empty:
                return
            self.events.publish(event)

    async def _commit_in_turn(self, txs: tuple[Transaction, ...], timestamp: int) -> None:
        async with self._in_order:
            await self._commit(txs, timestamp)

    async def _commit(self, txs: tuple[Transaction, ...], timestamp: int) -> None:
        """Submit ``txs`` until a node has them, then read the stream until every one is in a
        certified block, checked into the replica; submitted again (the ones still missing)
        when nothing of them commits for ``RESUBMIT_AFTER_S``."""
        started = time.monotonic()
        deadline = started + self.commit_deadline_s
        clock = Clock.sign(self.chain_id, timestamp, self.operator)

        def retried(retry: Retry) -> None:
            self._happened.put(SubmissionRetried(timestamp, retry.attempt, retry.target,
                                                 retry.reason))

        waiting = {tx.txid: tx for tx in txs}
        while waiting:
            try:
                receipts = await self._client.submit_until(
                    [tx for tx in txs if tx.txid in waiting], clock, deadline, retried)
            except NoReceipt as exc:
                raise await self._unavailable(len(waiting), timestamp, str(exc)) from None
            refused = [r for r in receipts if not r.accepted]
            if refused and all(r.reason.startswith(FULL) for r in refused):
                retried(Retry(0, "the network", refused[0].reason))
                await asyncio.sleep(min(RESUBMIT_AFTER_S, max(0, deadline - time.monotonic())))
                if time.monotonic() >= deadline:
                    raise await self._unavailable(len(waiting), timestamp, refused[0].reason)
                continue
            if refused:
                raise LedgerError(f"the network refused {len(refused)} of {len(txs)} "
                                  f"transactions: {refused[0].reason}")
            progress_by = min(deadline, time.monotonic() + RESUBMIT_AFTER_S)
            while waiting and time.monotonic() < progress_by:
                try:
                    committed = await asyncio.wait_for(self._blocks.get(),
                                                       progress_by - time.monotonic())
                except TimeoutError:
                    break
                block = self._take(committed, started)
                for tx in block.transactions:
                    if waiting.pop(tx.txid, None) is not None:
                        progress_by = min(deadline, time.monotonic() + RESUBMIT_AFTER_S)
            if waiting and time.monotonic() >= deadline:
                raise await self._unavailable(len(waiting), timestamp, "not committed")
            if waiting:
                retried(Retry(0, "the network", f"{len(waiting)} of {len(txs)} transactions "
                                                f"not committed after {RESUBMIT_AFTER_S:g} s"))

    def _take(self, committed: Committed, started: float) -> Block:
        """A certified block read from the stream, checked into the replica (and reported)."""
        block = committed.block
        self.replica.append(CertifiedBlock(block, committed.certificate))  # checked
        h = block.header
        self._happened.put(BlockCommitted(
            h.height, h.hash.hex(), h.timestamp, len(block.transactions),
            len(encode_block(block)), (time.monotonic() - started) * 1e3))
        return block

    async def _watch(self, done: Callable[[MarketContract], bool], wait_s: float) -> bool:
        async with self._in_order:
            started = time.monotonic()
            while not done(self.replica.state.required_contract()):
                left = started + wait_s - time.monotonic()
                if left <= 0:
                    return False
                try:
                    self._take(await asyncio.wait_for(self._blocks.get(), left), started)
                except TimeoutError:
                    return False
            return True

    async def _unavailable(self, missing: int, timestamp: int, last: str) -> LedgerUnavailable:
        """The error of a batch past its deadline: who answered, what the quorum lacked, and
        what the replica holds against the nodes that answered."""
        census = await self._client.census()
        answered = {name: s for name, s in census.items() if s is not None}
        silent = [name for name, s in census.items() if s is None]
        need = quorum(self.validator_count)
        if not self._client.nc.is_connected:
            cause = f"no NATS server answered ({', '.join(self.network.urls)})"
        elif silent:
            cause = (f"{', '.join(silent)} did not answer ({len(answered)} of "
                     f"{len(census)} validators did; a quorum needs {need})")
        else:
            cause = f"every validator answered, yet none committed them (last: {last})"
        heights = sorted({s["height"] for s in answered.values()})
        held = self.replica.height
        if heights == [held]:
            kept = f"the replica holds height {held}, as the validators that answered do"
        elif heights:
            kept = (f"the replica holds height {held}; the validators that answered hold "
                    f"{', '.join(map(str, heights))}")
        else:
            kept = f"the replica holds height {held}; no validator answered to compare"
        return LedgerUnavailable(
            f"the validator network did not commit {missing} transactions for block time "
            f"{timestamp} within {self.commit_deadline_s:g} s: {cause}; {kept}")


def _not_new(folder: Path) -> InputError:
    return InputError(f"{folder}: its chain is not new (a run registers its homes at the "
                      "start): remove the folder or name another")


def _stored_height(network: local.Network) -> int:
    """The highest block a node of a stopped network holds (-1: none; a store that does not
    open counts as none, and the stream decides once the network is up)."""
    heights = [-1]
    for node in network.nodes:
        try:
            store = open_store(node.store, readonly=True)
        except LedgerError:
            continue
        try:
            heights.append(store.height())
        finally:
            store.close()
    return max(heights)
