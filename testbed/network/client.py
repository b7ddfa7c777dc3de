"""A client of the network: submit signed transactions, follow certified blocks, ask nodes
how they are.

A client connects with its credentials (`access`: a certificate naming its role) and submits
on its own subject, to one node (``node=``) or to whichever answers first; the reply has one
receipt per transaction: in the mempool, committed already, or refused with the reason.
`submit_until` keeps trying a submission that got no receipt, backing off, to any node and
then to each node by name, until a deadline: a node may be dead, paused or busy, and
resubmitting is safe because a transaction is held and committed once, by its id (a node
answers "committed" for one it already committed). Commits are read from the ordering stream
itself (`follow`), each block's certificate checked against the genesis validators, so a
client trusts no single node for what is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.client import Client

from testbed.errors import LedgerError
from testbed.ledger.blocks import Block, BlockHeader
from testbed.ledger.certificates import Certificate
from testbed.ledger.chain import InvalidBlock, check_certificate
from testbed.ledger.ids import TxId
from testbed.ledger.transactions import Transaction
from testbed.ledger.wire import Clock, Submission
from testbed.network.access import Credentials
from testbed.network.blocklog import BlockLog
from testbed.network.config import Subjects
from testbed.network.connection import connect
from testbed.network.consensus import Receipt
from testbed.network.timing import (
    ATTEMPT_TIMEOUT_S,
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    JETSTREAM_TIMEOUT_S,
    POLL_S,
    STATUS_TIMEOUT_S,
)

ANY_NODE = "any node"  # a submission to the nodes' queue group: whichever answers first


class NetworkError(LedgerError):
    """The network did not answer, or refused a submission as a whole."""


class NoReceipt(NetworkError):
    """One attempt got no receipt: no node answered in time, or the one that did was busy."""


@dataclass(frozen=True)
class Retry:
    """A submission attempt that got no receipt, and is tried again."""

    attempt: int  # from 1
    target: str  # a node's name, or ANY_NODE
    reason: str


@dataclass(frozen=True)
class Committed:
    """A block as a client sees it committed: certified, and the child of the last one."""

    block: Block
    certificate: Certificate | None  # None only on a one-validator chain (`check_certificate`)
    seq: int  # its stream entry


class NetworkClient:
    def __init__(self, nc: Client, genesis: Block, who: str, nodes: Sequence[str] = ()) -> None:
        self.nc, self.genesis, self.who, self.nodes = nc, genesis, who, tuple(nodes)
        self.subjects = Subjects(genesis.header.chain_id)
        self.validators = frozenset(genesis.transactions[0].body.validators)
        self.blocklog = BlockLog(nc.jetstream(timeout=JETSTREAM_TIMEOUT_S), self.subjects)

    @classmethod
    async def connect(cls, servers: Sequence[str], genesis: Block, credentials: Credentials,
                      name: str = "client", nodes: Sequence[str] = ()) -> NetworkClient:
        """A client with ``credentials``, submitting on their name's subject; ``nodes``: the
        validators' names, which `submit_until` tries one by one."""
        return cls(await connect(tuple(servers), name, credentials), genesis, credentials.name,
                   nodes)

    async def close(self) -> None:
        await self.nc.close()

    async def submit(self, txs: Sequence[Transaction], clock: Clock | None = None,
                     node: str | None = None, timeout_s: float = ATTEMPT_TIMEOUT_S
                     ) -> list[Receipt]:
        """Send ``txs`` (for ``clock``'s time, else the node's) once and return the receipts;
        `NoReceipt` when no node answered within ``timeout_s`` or the one that did was busy."""
        subject = (self.subjects.submit(self.who) if node is None
                   else self.subjects.submit_to(self.who, node))
        try:
            msg = await self.nc.request(subject, Submission(clock, tuple(txs)).encoded,
                                        timeout=timeout_s)
        except (nats.errors.Error, TimeoutError) as exc:
            raise NoReceipt(f"no answer from {node or ANY_NODE} ({_said(exc)})") from None
        reply = json.loads(msg.data)
        if "busy" in reply:
            raise NoReceipt(f"{reply['node']} busy: {reply['busy']}")
        if "error" in reply:
            raise NetworkError(f"{reply['node']}: {reply['error']}")
        return [Receipt(TxId(bytes.fromhex(r["txid"])), r["accepted"], r["reason"])
                for r in reply["receipts"]]

    async def submit_until(self, txs: Sequence[Transaction], clock: Clock | None,
                           deadline: float, on_retry: Callable[[Retry], None] | None = None
                           ) -> list[Receipt]:
        """`submit` until a node gives receipts or ``deadline`` (`time.monotonic`) passes:
        first to any node, then to each node by name in turn, backing off between attempts.
        Safe to repeat: nodes hold and commit each transaction once. `NoReceipt` at the
        deadline, naming the last answer missed."""
        targets = [None, *self.nodes]
        wait_s, missed = BACKOFF_FIRST_S, "the deadline had passed before the first attempt"
        attempt = 0
        while (left := deadline - time.monotonic()) > 0:
            target = targets[attempt % len(targets)]
            attempt += 1
            try:
                return await self.submit(txs, clock, target, min(ATTEMPT_TIMEOUT_S, left))
            except NoReceipt as exc:
                missed = str(exc)
            if on_retry is not None:
                on_retry(Retry(attempt, target or ANY_NODE, missed))
            pause = wait_s * (1 + random.random() / 2)
            await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            wait_s = min(2 * wait_s, BACKOFF_MAX_S)
        raise NoReceipt(f"no receipt before the deadline; last: {missed}")

    async def census(self) -> dict[str, dict[str, Any] | None]:
        """Every node's status (None for a node that did not answer), asked at once."""
        answers = await asyncio.gather(*(self.status(n) for n in self.nodes))
        return dict(zip(self.nodes, answers))

    async def status(self, node: str, timeout_s: float = STATUS_TIMEOUT_S
                     ) -> dict[str, Any] | None:
        """A node's height, head and round, or None when it does not answer."""
        try:
            msg = await self.nc.request(self.subjects.status(node), b"", timeout=timeout_s)
        except (nats.errors.Error, TimeoutError):
            return None
        status: dict[str, Any] = json.loads(msg.data)
        return status

    async def follow(self, after: BlockHeader | None = None,
                     poll_s: float = POLL_S) -> AsyncIterator[Committed]:
        """Committed blocks after ``after`` (default: genesis), in order, as the stream gets
        them: each the first validly certified child of the one before, as nodes apply them."""
        head = after or self.genesis.header
        seq = head.height + 1
        appended = asyncio.Event()

        async def wake(_msg: object) -> None:
            appended.set()

        hints = await self.nc.subscribe(self.subjects.appended, cb=wake)
        try:
            while True:
                appended.clear()  # before reading: a hint from now on wakes the wait below
                try:
                    entry = await self.blocklog.get(seq + 1)
                except (nats.errors.Error, TimeoutError):
                    entry = None
                if entry is None:
                    try:
                        await asyncio.wait_for(appended.wait(), poll_s)
                    except TimeoutError:
                        pass
                    continue
                seq = entry.seq
                certified = entry.certified
                if certified is None or certified.block.header.prev_hash != head.hash:
                    continue
                try:
                    check_certificate(certified.block.header, certified.certificate,
                                      self.validators)
                except InvalidBlock:
                    continue
                head = certified.block.header
                yield Committed(certified.block, certified.certificate, seq)
        finally:
            with contextlib.suppress(nats.errors.ConnectionClosedError):  # closed under it
                await hints.unsubscribe()


def _said(exc: BaseException) -> str:
    """What an exception says, or its type's name when it says nothing (a timeout)."""
    return str(exc) or type(exc).__name__
