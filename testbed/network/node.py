"""`testbed node CONFIG`: one validator on the network, until SIGTERM or SIGINT.

The process wires a `consensus.Validator` to NATS: clients' submissions (request/reply with a
receipt per transaction, each on its submitter's subject), the other nodes' mempool exchange,
proposals and votes (core NATS, every node hears every one), and the ordering stream
(`blocklog`), which it reads in order from the entry after its head: at once when an append is
announced, else every ``POLL_S``. It connects with its own client certificate (`access`) and
holds the validators' view key, so it opens every sealed record. Started, it opens its store
(re-validating it from genesis) or creates it from the network's genesis block, loads its
kernels (compiled once by `testbed network up`, so the first submission waits for no
compiler), and only then connects: a node that answers is ready.

Two threads: the event loop does only I/O (it answers status requests from a snapshot, at
once, whatever the validator is doing), and one validator thread (`worker`) does everything
that costs processor time (signature checks, block validation, the store's writes), one
message at a time: votes and stream entries first, then the rest in arrival order. Client
submissions wait for that thread in a bounded queue; past its limit a node answers "busy" and
the client tries another.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

import kernels
from testbed.errors import InputError, LedgerError
from testbed.ledger.certificates import CertifiedBlock, decode_vote
from testbed.ledger.chain import Chain, stored_blocks
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair, ViewKey, passphrase
from testbed.ledger.sealing import Keyring
from testbed.ledger.wire import decode_block, decode_proposal, decode_submission
from testbed.market.contract import MarketContract
from testbed.network.access import ClientRole, Credentials
from testbed.network.blocklog import BlockLog
from testbed.network.config import NodeConfig, Subjects, load_config
from testbed.network.connection import connect
from testbed.network.consensus import Message, Validator
from testbed.network.timing import (
    JETSTREAM_TIMEOUT_S,
    MAX_QUEUED_SUBMISSIONS,
    PENDING_BYTES,
    PENDING_MESSAGES,
    POLL_S,
    TICK_S,
)
from testbed.network.worker import NORMAL, URGENT, Worker

log = logging.getLogger("testbed.network")
T = TypeVar("T")
GIL_SWITCH_S = 0.001
"""How often the validator thread hands the interpreter lock to the event loop (Python's
default: 5 ms): a status request or a submission waits for the lock at most about this long
while a block is being validated."""


def open_chain(config: NodeConfig, view: ViewKey) -> Chain[MarketContract]:
    """The node's chain: its store re-validated, or a new one from the network's genesis;
    its contract opens sealed records with the validators' view key ``view``."""
    try:
        genesis = decode_block(config.genesis.read_bytes())
    except OSError as exc:
        raise InputError(f"{config.genesis}: {exc}") from None
    except EncodingError as exc:
        raise InputError(f"{config.genesis}: not a genesis block ({exc})") from None
    contract = MarketContract(Keyring([view]))
    if config.store.exists():
        chain = Chain.open(config.store, contract)
        stored = next(stored_blocks(chain.store)).block.header.hash
        if stored != genesis.header.hash:
            chain.close()
            raise InputError(f"{config.store} holds another chain than {config.genesis}")
    else:
        chain = Chain.from_genesis(config.store, genesis, contract)
    named = chain.state.required_contract().validators_view_key
    if named and named != view.public:
        chain.close()
        raise InputError(f"{config.view_key} is not the validators' view key of this chain")
    return chain


class _Limits(TypedDict):
    """The pending limits of a subscription that may be flooded."""

    pending_msgs_limit: int
    pending_bytes_limit: int


class Node:
    """The validator process: an event loop for I/O, a thread for the validator."""

    def __init__(self, config: NodeConfig, validator_class: type[Validator] = Validator) -> None:
        self.config = config
        secret = passphrase(development=True)
        self.key = KeyPair.load(config.key, secret)
        self.chain = open_chain(config, ViewKey.load(config.view_key, secret))
        self.credentials = Credentials(ClientRole.VALIDATOR, config.name, config.tls_cert,
                                       config.tls_key, config.tls_ca)
        self.subjects = Subjects(self.chain.chain_id)
        self.validator = validator_class(
            self.chain, self.key, config.name, round_timeout_s=config.round_timeout_s,
            max_block_txs=config.max_block_txs, now=time.monotonic)
        if self.key.public not in self.chain.state.validators:
            self.chain.close()
            raise InputError(f"{config.key} is not the key of a validator of this chain")
        self.nc: Client | None = None
        self.blocklog: BlockLog | None = None
        # the stream entry of height h is at sequence h + 1 or later (entries that are not
        # a certified child are skipped), so reading resumes there and skips what it applied
        self.validator.stream_seq = self.chain.height + 1
        self.thread = Worker("validator")
        self.snapshot = self.validator.status()  # what status requests are answered from
        self.idle = self.validator.idle()  # as of the last step, written on its thread
        self.busy = asyncio.Event()  # set when a step leaves the validator busy
        self.jobs = 0  # jobs handed to the validator thread and not yet done
        self.queued_submissions = 0
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.appending = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, started: float) -> None:
        """Connect and take part until ``stopping``; ``started``: when the process started
        (`time.perf_counter`), to log how long it took to be ready."""
        self.nc = await connect(self.config.servers, self.config.name, self.credentials,
                                no_echo=True)
        self.blocklog = BlockLog(self.nc.jetstream(timeout=JETSTREAM_TIMEOUT_S), self.subjects)
        s, nc = self.subjects, self.nc
        limits: _Limits = {"pending_msgs_limit": PENDING_MESSAGES,
                           "pending_bytes_limit": PENDING_BYTES}
        await nc.subscribe(s.submit("*"), queue="nodes", cb=self._on_submit, **limits)
        await nc.subscribe(s.submit_to("*", self.config.name), cb=self._on_submit, **limits)
        await nc.subscribe(s.status(self.config.name), cb=self._on_status)
        await nc.subscribe(s.mempool, cb=self._guard(self._on_mempool), **limits)
        await nc.subscribe(s.proposals, cb=self._guard(self._on_proposal), **limits)
        await nc.subscribe(s.votes, cb=self._guard(self._on_vote, URGENT), **limits)
        await nc.subscribe(s.appended, cb=self._on_appended)
        log.info("%s: validator %s at height %d, ready in %.1f s", self.config.name,
                 self.key.public.hex()[:16], self.chain.height, time.perf_counter() - started)
        tasks = [asyncio.create_task(self._follow()), asyncio.create_task(self._ticks())]
        await self.stopping.wait()
        for task in (*tasks, *self.tasks):
            task.cancel()
        await asyncio.gather(*tasks, *self.tasks, return_exceptions=True)
        await nc.drain()
        self.thread.shutdown()
        self.chain.close()

    def _connected(self) -> tuple[Client, BlockLog]:
        """The connection and the block log that `run` opens before anything sends."""
        if self.nc is None or self.blocklog is None:
            raise RuntimeError(f"{self.config.name}: not connected yet")
        return self.nc, self.blocklog

    # --- the validator thread -----------------------------------------------------------------

    async def _on_thread(self, job: Callable[[], T], priority: int = NORMAL) -> T:
        """Run ``job`` on the validator thread (`worker`), then the validator's tick; send
        what they queued, then append what is due to the stream."""
        self.jobs += 1
        try:
            result, messages, due = await self.thread.run(
                functools.partial(self._step, job), priority)
        finally:
            self.jobs -= 1
        if not self.idle:
            self.busy.set()
        await self._send(messages)
        if due and not self.appending.locked():
            async with self.appending:
                await self._append(due)
        return result

    def _step(self, job: Callable[[], T]) -> tuple[T, list[Message], list[CertifiedBlock]]:
        """On the validator thread: ``job``, then the tick; the messages they queued (a job
        that fails leaves its messages for the next) and the blocks due to be appended."""
        result = job()
        self.validator.tick()
        self.snapshot = self.validator.status()
        self.idle = self.validator.idle()
        return result, self.validator.out.drain(), self.validator.due_appends()

    # --- incoming -----------------------------------------------------------------------------

    def _guard(self, handler: Callable[[bytes], None], priority: int = NORMAL,
               ) -> Callable[[Msg], Awaitable[None]]:
        """Run ``handler`` on a message on the validator thread; a malformed message is logged
        and dropped, a failure of ours logged with its traceback."""
        async def cb(msg: Msg) -> None:
            try:
                await self._on_thread(lambda: handler(msg.data), priority)
            except EncodingError as exc:
                log.warning("%s: malformed message on %s: %s", self.config.name, msg.subject, exc)
            except Exception:
                log.exception("%s: handling a message on %s failed", self.config.name,
                              msg.subject)
        return cb

    async def _on_submit(self, msg: Msg) -> None:
        """Queue the submission for the validator thread (its own task: the next one is read
        at once), or answer busy when the queue is full."""
        if self.queued_submissions >= MAX_QUEUED_SUBMISSIONS:
            await self._respond(msg, {"busy": f"{self.queued_submissions} submissions queued"})
            return
        self.queued_submissions += 1
        task = asyncio.create_task(self._submission(msg))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _submission(self, msg: Msg) -> None:
        submitter = msg.subject.split(".")[3]  # p2pe.<chain>.submit.<who>[.<node>]
        try:
            submission = decode_submission(msg.data)
            receipts = await self._on_thread(lambda: self.validator.on_submission(
                submission, from_client=True, submitter=submitter))
            reply: dict[str, Any] = {"receipts": [r.as_json() for r in receipts]}
        except EncodingError as exc:
            reply = {"error": f"malformed submission: {exc}"}
        except Exception as exc:
            log.exception("%s: a submission failed", self.config.name)
            reply = {"error": f"the node failed on it: {exc!r}"}
        finally:
            self.queued_submissions -= 1
        await self._respond(msg, reply)

    async def _respond(self, msg: Msg, reply: dict[str, Any]) -> None:
        try:
            await msg.respond(json.dumps({"node": self.config.name, **reply}).encode())
        except nats.errors.Error as exc:  # the connection went: the client will retry
            log.info("%s: could not answer a submission: %s", self.config.name, exc)

    async def _on_status(self, msg: Msg) -> None:
        await msg.respond(json.dumps(self.snapshot).encode())

    def _on_mempool(self, data: bytes) -> None:
        self.validator.on_submission(decode_submission(data), from_client=False)

    def _on_proposal(self, data: bytes) -> None:
        self.validator.on_proposal(decode_proposal(data, self.validator.mempool.by_bytes))

    def _on_vote(self, data: bytes) -> None:
        self.validator.on_vote(decode_vote(data))

    async def _on_appended(self, msg: Msg) -> None:
        self.wake.set()

    # --- outgoing -----------------------------------------------------------------------------

    async def _send(self, messages: list[Message]) -> None:
        s, (nc, _) = self.subjects, self._connected()
        subject = {"mempool": s.mempool, "proposal": s.proposals, "vote": s.votes,
                   "applied": s.applied}
        for kind, payload in messages:
            if isinstance(payload, bytes):
                await nc.publish(subject[kind], payload)
                continue
            to = s.records(payload["party"]) if kind == "record" else subject[kind]
            await nc.publish(to, json.dumps(payload).encode())

    async def _append(self, due: list[CertifiedBlock]) -> None:
        nc, blocklog = self._connected()
        for certified in due:
            try:
                seq = await blocklog.append(certified, self.validator.stream_seq)
            except (TimeoutError, nats.errors.Error) as exc:
                log.info("%s: append of height %d failed (%s); will retry", self.config.name,
                         certified.block.header.height, exc)
                break
            if seq is None:
                self.wake.set()  # the stream moved on: read it first
                break
            block_hash = certified.block.header.hash
            await self.thread.run(functools.partial(self.validator.appended, block_hash),
                                  URGENT)
            await nc.publish(self.subjects.appended, str(seq).encode())
            self.wake.set()
            break  # the next one extends this one: append it once this is applied

    # --- loops --------------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Apply the stream's entries in order, for as long as the node runs."""
        _, blocklog = self._connected()
        while True:
            try:
                # the mempool still holds the entry's transactions decoded (until it is
                # applied): reused, not decoded again. Read from this thread while the
                # validator's changes it: a lookup by bytes is atomic under the GIL.
                entry = await blocklog.get(self.validator.stream_seq + 1,
                                           self.validator.mempool.by_bytes)
            except (TimeoutError, nats.errors.Error) as exc:
                log.debug("%s: stream read: %s", self.config.name, exc)
                entry = None
            if entry is not None:
                try:
                    await self._on_thread(functools.partial(self.validator.on_entry, entry),
                                          URGENT)
                except LedgerError as exc:  # the store refused: nothing half-written
                    log.error("%s: could not apply stream entry %d: %s", self.config.name,
                              entry.seq, exc)
                    self.stopping.set()
                    return
                continue
            await _set_again(self.wake, POLL_S)

    async def _ticks(self) -> None:
        """Rounds, proposals and fallback appends, checked every ``TICK_S`` when the validator
        thread has nothing else to do (every job ends with a tick anyway). An idle validator's
        tick does nothing, so while it is idle the node ticks every ``POLL_S``, or as soon as
        a job leaves it busy: an idle network of four took a fifth of a core in ticks."""
        while True:
            if not self.jobs:
                try:
                    await self._on_thread(lambda: None)
                except Exception:
                    log.exception("%s: a tick failed", self.config.name)
            if not self.idle:
                await asyncio.sleep(TICK_S)
                continue
            await _set_again(self.busy, POLL_S)


async def _set_again(event: asyncio.Event, timeout_s: float) -> None:
    """Wait until ``event`` is set anew (it is cleared first), or ``timeout_s``."""
    event.clear()
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        pass


def main(config_path: Path, validator_class: type[Validator] = Validator) -> int:
    """Run a node until SIGTERM or SIGINT; the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.setswitchinterval(GIL_SWITCH_S)
    config = load_config(config_path)
    started = time.perf_counter()
    kernels.warm()
    log.info("%s: kernels loaded in %.1f s", config.name, time.perf_counter() - started)

    async def run() -> None:
        node = Node(config, validator_class)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, node.stopping.set)
        await node.run(started)

    asyncio.run(run())
    return 0
