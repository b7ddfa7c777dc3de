"""A NATS connection with a party's credentials that keeps reconnecting to the cluster.

Errors NATS reports on its own (a server gone, a reconnect) are logged at DEBUG: the cluster
survives them and the nodes say what follows. An exception raised inside a message callback
is a bug of ours: it is logged at ERROR with its traceback, in the log of the process it
happened in, instead of vanishing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import nats
import nats.errors
from nats.aio.client import Client

from testbed.ledger.keys import passphrase
from testbed.network.access import Credentials
from testbed.network.timing import CONNECT_TIMEOUT_S, RECONNECT_WAIT_S

log = logging.getLogger("testbed.network")


class _TlsEofNoise(logging.Filter):
    """asyncio warns on every TLS connection NATS closes that returning True from
    eof_received has no effect: nothing to act on, so not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_TlsEofNoise())


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the network's weather (a server gone, a timeout), not a bug."""
    return isinstance(exc, nats.errors.Error | OSError | TimeoutError | EOFError)


def reporter(name: str) -> Callable[[Exception], Awaitable[None]]:
    """The error callback of connection ``name``: the network's weather at DEBUG, anything
    else (a handler's bug) at ERROR with its traceback."""
    async def report(exc: Exception) -> None:
        if transient(exc):
            log.debug("%s: nats: %s", name, exc)
        else:
            log.error("%s: a message handler failed: %r", name, exc, exc_info=exc)

    return report


async def connect(servers: Sequence[str], name: str, credentials: Credentials, *,
                  no_echo: bool = False) -> Client:
    """A connection with ``credentials`` that keeps reconnecting to ``servers`` (``no_echo``:
    not given back what it publishes)."""
    return await nats.connect(list(servers), name=name, error_cb=reporter(name),
                              max_reconnect_attempts=-1, reconnect_time_wait=RECONNECT_WAIT_S,
                              connect_timeout=CONNECT_TIMEOUT_S, allow_reconnect=True,
                              no_echo=no_echo, **credentials.options(passphrase(development=True)))
