"""The ordering log: certified blocks in a JetStream stream replicated on the cluster (R3).

Stream entry k (from 1) is a certified block (`wire.encode_certified`); entry 1 is genesis.
The stream orders, the certificates validate: a node applies, in stream order, each entry that
is a validly certified child of its head and skips any other (a stale duplicate from a lost
race, or junk from a lying validator), so every node applies the same blocks. Appends are
optimistic: ``Nats-Expected-Last-Sequence`` is the last entry the appender has read, so two
nodes racing to fill one height cannot both succeed, and ``Nats-Msg-Id`` (the block hash) makes
a repeated append of the same block a no-op. Raft (R3) keeps every acknowledged entry through
the loss of one server of three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NotFoundError

from testbed.ledger.certificates import CertifiedBlock
from testbed.ledger.encoding import EncodingError
from testbed.ledger.transactions import Transaction
from testbed.ledger.wire import decode_certified, encode_certified
from testbed.network.config import Subjects
from testbed.network.servers import MAX_PAYLOAD_BYTES
from testbed.network.timing import JETSTREAM_TIMEOUT_S

WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a failed expected-last-sequence


@dataclass(frozen=True)
class Entry:
    """One stream entry: its sequence and the certified block, or None when it is not one."""

    seq: int
    certified: CertifiedBlock | None
    problem: str = ""


class BlockLog:
    def __init__(self, js: JetStreamContext, subjects: Subjects) -> None:
        self.js, self.subjects = js, subjects

    async def ensure(self, replicas: int) -> None:
        """Create the stream if it is missing (idempotent)."""
        config = StreamConfig(
            name=self.subjects.stream, subjects=[self.subjects.blocks], num_replicas=replicas,
            storage=StorageType.FILE, allow_direct=True, duplicate_window=120,
            max_msg_size=MAX_PAYLOAD_BYTES,
        )
        try:
            await self.js.stream_info(self.subjects.stream)
        except NotFoundError:
            await self.js.add_stream(config)

    async def append(self, certified: CertifiedBlock, last_seq: int) -> int | None:
        """Append after entry ``last_seq``: the new entry's sequence (or the earlier one of
        the same block), or None when the stream has moved past ``last_seq``."""
        headers = {"Nats-Msg-Id": certified.block.header.hash.hex(),
                   "Nats-Expected-Last-Sequence": str(last_seq)}
        try:
            ack = await self.js.publish(self.subjects.blocks, encode_certified(certified),
                                        timeout=JETSTREAM_TIMEOUT_S, stream=self.subjects.stream,
                                        headers=headers)
        except BadRequestError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                return None
            raise
        return ack.seq

    async def get(self, seq: int, known: Mapping[bytes, Transaction] | None = None,
                  ) -> Entry | None:
        """Entry ``seq``, or None when the stream does not hold it (yet); ``known``: as for
        `wire.decode_transactions`."""
        try:
            msg = await self.js.get_msg(self.subjects.stream, seq=seq, direct=True)
        except NotFoundError:
            return None
        except APIError as exc:
            if exc.code == 404:
                return None
            raise
        if msg.seq is None:  # a direct get of a missing entry answers with no message
            return None
        try:
            return Entry(seq, decode_certified(msg.data or b"", known))
        except EncodingError as exc:
            return Entry(seq, None, str(exc))

    async def last_seq(self) -> int:
        info = await self.js.stream_info(self.subjects.stream)
        return info.state.last_seq
