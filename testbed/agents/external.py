"""A home's own trading agent on the network: `testbed agent run AGENT.py --network DIR --home
HOME [--keys DIR]`.

The home's process connects with its own certificate (`agents.identity`, admitted by the
operator from its request), follows the committed chain from genesis (each block certified by
the genesis validators: `NetworkClient.follow`) into its `HomeBook`, and at the run's order
time of each interval (the run's orders block, `ORDER_LEAD_S` before gate closure) asks its
`Trader` (the agent file, in a process of its own with a bounded wait: `agents.host`) for a
plan. It signs the order with its own key (sealed in a private market, its salt kept here)
and, once the chain reaches gate closure, its reveal; each is submitted with bounded,
idempotent retries (`NetworkClient.submit_until`) short of the run's wait
(`interval.external.EXTERNAL_WAIT_S`): what comes later the run clears without.

It ends on SIGINT or SIGTERM, or when the network has been unreachable for
``DISCONNECTED_S`` (a run that started its network stops it when done), with a one-line
summary of what it traded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.agents.book import HomeBook
from testbed.agents.host import AgentHost, HostedTrader, checked_plan
from testbed.agents.identity import HomeKeys, home_credentials, load_home_keys
from testbed.agents.order_rules import ORDER_LEAD_S, budget_units, sealed_order, within_budget
from testbed.ledger.ids import TxId
from testbed.ledger.keys import passphrase
from testbed.ledger.transactions import (
    SALT_BYTES,
    Order,
    OrderReveal,
    Reveal,
    Side,
    Transaction,
    sign,
)
from testbed.market.params import Privacy
from testbed.network import local
from testbed.network.client import NetworkClient, NetworkError

SUBMIT_WINDOW_S = 8.0
"""How long (wall time) an order or a reveal is retried: inside the run's wait for it."""
DISCONNECTED_S = 15.0
"""The agent ends once no NATS server has answered for this long."""
WATCH_S = 1.0  # how often the agent looks whether it is still connected


@dataclass(frozen=True)
class AgentSummary:
    """What an external agent did, for its one-line summary."""

    home: str
    orders: int  # orders (sealed or public) the network took
    reveals: int
    trades: int
    traded_wh: int
    refused: int  # submissions the network refused, plans not taken
    ended: str

    def line(self) -> str:
        return (f"{self.home}: {self.orders} orders, {self.reveals} reveals, {self.trades} "
                f"trades, {self.traded_wh / 1000:g} kWh traded, {self.refused} refused; "
                f"ended: {self.ended}")


class ExternalAgent:
    """One home's agent: its book of the chain, its trader, its pending reveals."""

    def __init__(self, name: str, keys: HomeKeys, trader: HostedTrader,
                 client: NetworkClient) -> None:
        self.name, self.keys, self.trader, self.client = name, keys, trader, client
        self.book = HomeBook(keys.account.public, keys.view)
        self.book.feed(client.genesis)
        self.chain_id = client.genesis.header.chain_id
        self.decided: set[int] = set()  # intervals the trader was asked about
        self.sealed: dict[int, tuple[TxId, Order, bytes]] = {}  # interval -> id, order, salt
        self.orders = self.reveals = self.refused = 0

    async def follow(self) -> None:
        """Every committed block: learn from it, then act on the time it brings."""
        async for committed in self.client.follow():
            self.book.feed(committed.block)
            await self.act(committed.block.header.timestamp)

    async def act(self, now: int) -> None:
        """At block time ``now``: order for the interval whose order time has come, reveal
        the sealed orders whose gate has closed (while their reveal window is open)."""
        p = self.book.params
        interval = ((now + p.gate_closure_seconds) // p.interval_seconds + 1) * p.interval_seconds
        gate = interval - p.gate_closure_seconds
        if gate - ORDER_LEAD_S <= now and interval not in self.decided:
            self.decided.add(interval)
            await self._order(interval)
        for at, (order_id, order, salt) in list(self.sealed.items()):
            closes = at - p.gate_closure_seconds
            if now < closes:
                continue
            del self.sealed[at]
            if now >= closes + p.reveal_seconds or order_id not in self.book.orders:
                self._say(f"interval {at}: no reveal (window closed, or the order never "
                          "committed)")
                continue
            reveal = Reveal(order_id, order.side, order.energy_wh, order.price_per_kwh, salt)
            if await self._send(OrderReveal((reveal,)), f"interval {at}: reveal"):
                self.reveals += 1

    async def _order(self, interval: int) -> None:
        p, knows = self.book.params, self.book.knowledge(interval)
        # the agent's answer (its bounded wait) in a thread: the connection stays served
        plan, reason = await asyncio.to_thread(checked_plan, self.trader, knows,
                                               np.random.default_rng(interval))
        if reason is not None:
            self.refused += 1
            self._say(f"interval {interval}: no order: {reason}")
            return
        budget = budget_units(p, knows.balance_units)
        order = within_budget(p, plan.order, budget) if plan.order is not None else None
        if order is None:
            self._say(f"interval {interval}: no order")
            return
        side = "bid" if order.side == Side.BID else "offer"
        what = f"interval {interval}: {side} {order.energy_wh} Wh at {order.price_per_kwh}"
        if p.privacy != Privacy.PRIVATE:
            self.orders += await self._send(order, what) is not None
            return
        salt = os.urandom(SALT_BYTES)
        tx = await self._send(sealed_order(self.chain_id, self.keys.account.public, order,
                                           salt, budget), f"{what} (sealed)")
        if tx is not None:
            self.orders += 1
            self.sealed[interval] = (tx.txid, order, salt)

    async def _send(self, body: object, what: str) -> Transaction | None:
        """``body`` signed with the home's key and its next nonce, submitted until a node
        answers (or the window passes); the transaction, or None with the reason said."""
        tx = sign(body, self.keys.account, self.book.nonce, self.chain_id)
        try:
            receipts = await self.client.submit_until(
                [tx], None, time.monotonic() + SUBMIT_WINDOW_S)
        except NetworkError as exc:
            receipts, reason = [], str(exc)
        else:
            reason = "" if receipts[0].accepted else receipts[0].reason
        if reason:
            self.refused += 1
            self._say(f"{what}: refused: {reason}")
            return None
        self._say(what)
        return tx

    def _say(self, line: str) -> None:
        print(f"{self.name}: {line}", file=sys.stderr, flush=True)

    def summary(self, ended: str) -> AgentSummary:
        return AgentSummary(self.name, self.orders, self.reveals, self.book.trades,
                            self.book.traded_wh, self.refused, ended)


async def _trade(name: str, keys: HomeKeys, trader: HostedTrader, network: local.Network
                 ) -> AgentSummary:
    client = await NetworkClient.connect(network.urls, network.genesis, home_credentials(keys),
                                         f"agent-{name}", [n.name for n in network.nodes])
    agent = ExternalAgent(name, keys, trader, client)
    stop, loop = asyncio.Event(), asyncio.get_running_loop()
    ended = {"why": ""}

    def end(sig: signal.Signals) -> None:
        ended["why"] = sig.name
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, end, sig)

    async def watch_connection() -> None:
        lost = None
        while True:
            await asyncio.sleep(WATCH_S)
            if client.nc.is_connected:
                lost = None
            elif lost is None:
                lost = time.monotonic()
            elif time.monotonic() - lost > DISCONNECTED_S:
                ended.update(why=f"the network unreachable for {DISCONNECTED_S:g} s")
                return

    tasks = [asyncio.create_task(agent.follow()), asyncio.create_task(watch_connection()),
             asyncio.create_task(stop.wait())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a bug of ours is raised, not summarised
    finally:
        for task in tasks:
            task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await client.close()
    return agent.summary(ended["why"] or "the chain's stream ended")


def run_agent(agent_file: Path, network_dir: Path, home: str, keys_dir: Path) -> AgentSummary:
    """Trade as home ``home`` (its keys and certificate in ``keys_dir``) with the agent in
    ``agent_file`` on the network in ``network_dir``, until stopped."""
    keys = load_home_keys(keys_dir, passphrase())
    home_credentials(keys)  # the certificate is there: said before anything starts
    network = local.load(network_dir)
    host = AgentHost(agent_file)
    try:
        return asyncio.run(_trade(home, keys, HostedTrader(host, 0), network))
    finally:
        host.close()
