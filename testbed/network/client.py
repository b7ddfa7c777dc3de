"""A client of the network: submit signed transactions, follow certified blocks, ask nodes
how they are.

A client connects with its credentials (`access`: a certificate naming its role) and submits
on its own subject, to one node (``node=``) or to whichever answers first; the reply has one
receipt per transaction: in the mempool, or refused with the reason. Commits are read from
the ordering stream itself (`follow`), each block's certificate checked against the genesis
validators, so a client trusts no single node for what is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.client import Client

from testbed.errors import LedgerError
from testbed.ledger.blocks import Block, BlockHeader
from testbed.ledger.certificates import Certificate
from testbed.ledger.chain import InvalidBlock, check_certificate
from testbed.ledger.transactions import Transaction
from testbed.ledger.wire import Clock, Submission
from testbed.network.access import Credentials
from testbed.network.blocklog import BlockLog
from testbed.network.config import Subjects
from testbed.network.consensus import Receipt
from testbed.network.node import POLL_S, connect

REQUEST_TIMEOUT_S = 5.0


class NetworkError(LedgerError):
    """The network did not answer, or refused a submission as a whole."""


@dataclass(frozen=True)
class Committed:
    """A block as a client sees it committed: certified, and the child of the last one."""

    block: Block
    certificate: Certificate
    seq: int  # its stream entry


class NetworkClient:
    def __init__(self, nc: Client, genesis: Block, who: str) -> None:
        self.nc, self.genesis, self.who = nc, genesis, who
        self.subjects = Subjects(genesis.header.chain_id)
        self.validators = frozenset(genesis.transactions[0].body.validators)
        self.blocklog = BlockLog(nc.jetstream(timeout=REQUEST_TIMEOUT_S), self.subjects)

    @classmethod
    async def connect(cls, servers: Sequence[str], genesis: Block, credentials: Credentials,
                      name: str = "client") -> NetworkClient:
        """A client with ``credentials``, submitting on their name's subject."""
        return cls(await connect(tuple(servers), name, credentials), genesis, credentials.name)

    async def close(self) -> None:
        await self.nc.close()

    async def submit(self, txs: Sequence[Transaction], clock: Clock | None = None,
                     node: str | None = None) -> list[Receipt]:
        """Send ``txs`` (for ``clock``'s time, else the node's) and return the receipts."""
        subject = (self.subjects.submit(self.who) if node is None
                   else self.subjects.submit_to(self.who, node))
        try:
            msg = await self.nc.request(subject, Submission(clock, tuple(txs)).encoded,
                                        timeout=REQUEST_TIMEOUT_S)
        except (nats.errors.Error, TimeoutError) as exc:
            raise NetworkError(f"no node answered the submission ({exc})") from None
        reply = json.loads(msg.data)
        if "error" in reply:
            raise NetworkError(f"{reply['node']}: {reply['error']}")
        return [Receipt(bytes.fromhex(r["txid"]), r["accepted"], r["reason"])
                for r in reply["receipts"]]

    async def status(self, node: str, timeout_s: float = 1.0) -> dict | None:
        """A node's height, head and round, or None when it does not answer."""
        try:
            msg = await self.nc.request(self.subjects.status(node), b"", timeout=timeout_s)
        except (nats.errors.Error, TimeoutError):
            return None
        return json.loads(msg.data)

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
