"""`testbed node CONFIG`: one validator on the network, until SIGTERM or SIGINT.

The process wires a `consensus.Validator` to NATS: clients' submissions (request/reply with a
receipt per transaction, each on its submitter's subject), the other nodes' mempool exchange,
proposals and votes (core NATS, every node hears every one), and the ordering stream
(`blocklog`), which it reads in order from the entry after its head: at once when an append is
announced, else every ``POLL_S``. It connects with its own client certificate (`access`) and
holds the validators' view key, so it opens every sealed record. Started, it opens its store
(re-validating it from genesis) or creates it from the network's genesis block, and catches up
from the stream before it takes part.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from testbed.errors import InputError, LedgerError
from testbed.ledger.chain import Chain, stored_blocks
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair, ViewKey, passphrase
from testbed.ledger.sealing import Keyring
from testbed.ledger.wire import decode_block, decode_proposal, decode_submission, decode_vote
from testbed.market.contract import MarketContract
from testbed.network.access import ClientRole, Credentials
from testbed.network.blocklog import BlockLog
from testbed.network.config import NodeConfig, Subjects, load_config
from testbed.network.consensus import Validator

log = logging.getLogger("testbed.network")


class _TlsEofNoise(logging.Filter):
    """asyncio warns on every TLS connection NATS closes that returning True from
    eof_received has no effect: nothing to act on, so not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_TlsEofNoise())
POLL_S = 0.2  # read the stream this often when no append is announced
TICK_S = 0.01  # rounds, fallback appends and proposals are checked this often


def open_chain(config: NodeConfig, view: ViewKey) -> Chain:
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
    named = chain.state.contract.validators_view_key
    if named and named != view.public:
        chain.close()
        raise InputError(f"{config.view_key} is not the validators' view key of this chain")
    return chain


async def connect(servers: tuple[str, ...] | list[str], name: str, credentials: Credentials,
                  **options) -> Client:
    """A connection with ``credentials`` that keeps reconnecting to the cluster's servers,
    errors logged tersely."""
    async def error_cb(exc: Exception) -> None:
        log.debug("%s: nats: %s", name, exc)

    return await nats.connect(list(servers), name=name, error_cb=error_cb,
                              max_reconnect_attempts=-1, reconnect_time_wait=0.1,
                              connect_timeout=2, allow_reconnect=True,
                              **credentials.options(passphrase(development=True)), **options)


class Node:
    """The validator process: one event loop, one NATS connection."""

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
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.appending = asyncio.Lock()

    async def run(self) -> None:
        self.nc = await connect(self.config.servers, self.config.name, self.credentials,
                                no_echo=True)
        self.blocklog = BlockLog(self.nc.jetstream(timeout=2.0), self.subjects)
        s, nc = self.subjects, self.nc
        await nc.subscribe(s.submit("*"), queue="nodes", cb=self._on_submit)
        await nc.subscribe(s.submit_to("*", self.config.name), cb=self._on_submit)
        await nc.subscribe(s.status(self.config.name), cb=self._on_status)
        await nc.subscribe(s.mempool, cb=self._guard(self._on_mempool))
        await nc.subscribe(s.proposals, cb=self._guard(self._on_proposal))
        await nc.subscribe(s.votes, cb=self._guard(self._on_vote))
        await nc.subscribe(s.appended, cb=self._on_appended)
        log.info("%s: validator %s at height %d", self.config.name,
                 self.key.public.hex()[:16], self.chain.height)
        tasks = [asyncio.create_task(self._follow()), asyncio.create_task(self._ticks())]
        await self.stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.drain()
        self.chain.close()

    # --- incoming -----------------------------------------------------------------------------

    def _guard(self, handler):
        """Run ``handler`` on a message; a malformed one is logged and dropped."""
        async def cb(msg: Msg) -> None:
            try:
                handler(msg.data)
            except EncodingError as exc:
                log.warning("%s: malformed message on %s: %s", self.config.name, msg.subject, exc)
            await self._flush()
        return cb

    async def _on_submit(self, msg: Msg) -> None:
        submitter = msg.subject.split(".")[3]  # p2pe.<chain>.submit.<who>[.<node>]
        try:
            receipts = [r.as_json() for r in self.validator.on_submission(
                decode_submission(msg.data), from_client=True, submitter=submitter)]
            reply = {"node": self.config.name, "receipts": receipts}
        except EncodingError as exc:
            reply = {"node": self.config.name, "error": f"malformed submission: {exc}"}
        await msg.respond(json.dumps(reply).encode())
        await self._flush()

    async def _on_status(self, msg: Msg) -> None:
        await msg.respond(json.dumps(self.validator.status()).encode())

    def _on_mempool(self, data: bytes) -> None:
        self.validator.on_submission(decode_submission(data), from_client=False)

    def _on_proposal(self, data: bytes) -> None:
        self.validator.on_proposal(decode_proposal(data, self.validator.mempool.by_bytes))

    def _on_vote(self, data: bytes) -> None:
        self.validator.on_vote(decode_vote(data))

    async def _on_appended(self, msg: Msg) -> None:
        self.wake.set()

    # --- outgoing -----------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Propose if it is this validator's turn, send what it queued, then append what is
        due to the stream."""
        self.validator.tick()
        s, nc = self.subjects, self.nc
        subject = {"mempool": s.mempool, "proposal": s.proposals, "vote": s.votes,
                   "applied": s.applied}
        for kind, payload in self.validator.out.drain():
            if kind == "record":
                await nc.publish(s.records(payload["party"]), json.dumps(payload).encode())
                continue
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            await nc.publish(subject[kind], data)
        if self.appending.locked():
            return
        async with self.appending:
            await self._append()

    async def _append(self) -> None:
        for certified in self.validator.due_appends():
            try:
                seq = await self.blocklog.append(certified, self.validator.stream_seq)
            except (TimeoutError, nats.errors.Error) as exc:
                log.info("%s: append of height %d failed (%s); will retry", self.config.name,
                         certified.block.header.height, exc)
                break
            if seq is None:
                self.wake.set()  # the stream moved on: read it first
                break
            self.validator.appended(certified.block.header.hash)
            await self.nc.publish(self.subjects.appended, str(seq).encode())
            self.wake.set()
            break  # the next one extends this one: append it once this is applied

    # --- loops --------------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Apply the stream's entries in order, for as long as the node runs."""
        while True:
            try:
                entry = await self.blocklog.get(self.validator.stream_seq + 1)
            except (TimeoutError, nats.errors.Error) as exc:
                log.debug("%s: stream read: %s", self.config.name, exc)
                entry = None
            if entry is not None:
                try:
                    self.validator.on_entry(entry)
                except LedgerError as exc:  # the store refused: nothing half-written
                    log.error("%s: could not apply stream entry %d: %s", self.config.name,
                              entry.seq, exc)
                    self.stopping.set()
                    return
                await self._flush()
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_S)
            except TimeoutError:
                pass

    async def _ticks(self) -> None:
        while True:
            await self._flush()
            await asyncio.sleep(TICK_S)


def main(config_path: Path, validator_class: type[Validator] = Validator) -> int:
    """Run a node until SIGTERM or SIGINT; the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = load_config(config_path)

    async def run() -> None:
        node = Node(config, validator_class)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, node.stopping.set)
        await node.run()

    asyncio.run(run())
    return 0
