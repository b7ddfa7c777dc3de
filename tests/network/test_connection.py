"""What a node's connection logs: a handler's bug at ERROR with its traceback, the network's
weather (a server gone, a timeout) at DEBUG."""

import asyncio
import logging

import nats.errors

from testbed.network.connection import reporter


def test_a_handler_that_fails_is_logged_at_error_with_its_traceback(caplog):
    try:
        raise KeyError("a bug in a handler")
    except KeyError as exc:
        failure = exc
    with caplog.at_level(logging.DEBUG, logger="testbed.network"):
        asyncio.run(reporter("validator-0")(failure))
        asyncio.run(reporter("validator-0")(nats.errors.ConnectionClosedError()))
    bug, weather = caplog.records
    assert bug.levelno == logging.ERROR and bug.exc_info[1] is failure
    assert "validator-0" in bug.getMessage() and "a bug in a handler" in bug.getMessage()
    assert weather.levelno == logging.DEBUG and weather.exc_info is None
