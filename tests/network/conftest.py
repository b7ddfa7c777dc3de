"""One real network per test session: 3 NATS servers (JetStream, R3) and 4 validator node
processes on loopback, on ports the OS chose; stopped at the end whatever happened.

`Market` drives it as the operator: the bench's 41-home market load, tick by tick, each tick
submitted with the operator's clock and waited for until committed (a tick whose node died
before passing it on is submitted again: the same transactions, so nothing commits twice).
The load also registers and funds `IDLE` homes (``Market.idle``) that never trade: a test
submits as one (`Market.as_home`), on its own subject with its own certificate.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats.errors
import pytest

from testbed.benchmarks.network import PARAMS, market_load
from testbed.ledger.certificates import CertifiedBlock
from testbed.ledger.chain import stored_blocks
from testbed.ledger.keys import DEV_PASSPHRASE, KeyPair, ViewKey
from testbed.ledger.store import open_store
from testbed.ledger.wire import Clock
from testbed.market.verify import verify_ledger
from testbed.network import local, processes
from testbed.network.access import ClientRole
from testbed.network.client import NetworkClient, NetworkError
from testbed.network.consensus import Receipt

TICKS = 60  # enough market for every test of the session
WAIT_S = 60.0
IDLE = [KeyPair.development(f"bench-network/idle-{i}") for i in range(8)]


class Market:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.network = local.load(folder)
        self.operator = KeyPair.load(self.network.operator_key, DEV_PASSPHRASE)
        self.view = ViewKey.load(self.network.validators_view_key, DEV_PASSPHRASE)
        self.idle = IDLE
        self.load = market_load(self.operator, self.network.chain_id, TICKS, self.view,
                                idle=IDLE)
        self.operator_credentials = self.network.credentials(ClientRole.OPERATOR)
        self.next = 0  # the next tick to submit
        self.committed: set[bytes] = set()
        self.head = None  # the last committed header seen

    @property
    def nodes(self) -> list[str]:
        return [n.name for n in self.network.nodes]

    def pid(self, name: str) -> int:
        self.network = local.load(self.folder)
        entry = next(e for e in (*self.network.nodes, *self.network.servers) if e.name == name)
        assert processes.alive(entry.pid, entry.config), f"{name} is not running"
        return entry.pid

    def trade(self, ticks: int, via: str | tuple[str, ...] | None = None) -> None:
        """Submit the next ``ticks`` ticks (to ``via``: a node, or each of several nodes;
        else any node) and wait for each."""
        asyncio.run(self._trade(ticks, via if isinstance(via, tuple) else (via,)))

    async def _trade(self, ticks: int, via: tuple[str | None, ...]) -> None:
        client = await self.client()
        try:
            for _ in range(ticks):
                tick = self.load[self.next]
                txids = {tx.txid for tx in tick.txs}
                deadline = time.monotonic() + WAIT_S
                while not txids <= self.committed:
                    assert time.monotonic() < deadline, f"tick {self.next} not committed"
                    clock = Clock.sign(self.network.chain_id, tick.time, self.operator)
                    try:
                        receipts = [r for node in via
                                    for r in await client.submit(tick.txs, clock, node=node)]
                    except NetworkError:
                        await asyncio.sleep(0.5)
                        continue
                    refused = [r.reason for r in receipts
                               if not r.accepted and "already used" not in r.reason]
                    assert not refused, refused[0]
                    await self._follow(txids, time.monotonic() + 5)
                self.next += 1
        finally:
            await client.close()

    def wait_committed(self, txids: set[bytes], within_s: float = WAIT_S) -> bool:
        """Follow the stream until ``txids`` are committed or ``within_s`` has passed;
        whether they are."""
        asyncio.run(self._follow(txids, time.monotonic() + within_s))
        return txids <= self.committed

    def as_home(self, key: KeyPair, txs, clock: Clock | None = None) -> list[Receipt]:
        """Submit ``txs`` as the home of account ``key`` (admitted first if it is not yet),
        on its own subject with its own certificate; the receipts."""
        name = key.public.hex()
        if (ClientRole.HOME.value, name) not in local.load(self.folder).clients:
            local.admit(self.folder, ClientRole.HOME, name)
        credentials = local.load(self.folder).credentials(ClientRole.HOME, name)

        async def submit() -> list[Receipt]:
            deadline = time.monotonic() + WAIT_S
            while True:  # the servers may still be reloading their users
                try:
                    client = await NetworkClient.connect(self.network.urls,
                                                         self.network.genesis, credentials,
                                                         "home")
                    break
                except (OSError, TimeoutError, nats.errors.Error):
                    assert time.monotonic() < deadline, f"home {name[:16]} cannot connect"
                    await asyncio.sleep(0.2)
            try:
                return await client.submit(txs, clock)
            finally:
                await client.close()
        return asyncio.run(submit())

    async def _follow(self, txids: set[bytes], until: float) -> None:
        client = await self.client()
        try:
            blocks = client.follow(self.head, poll_s=0.05)
            while not txids <= self.committed and time.monotonic() < until:
                try:
                    committed = await asyncio.wait_for(anext(blocks), until - time.monotonic())
                except TimeoutError:
                    return
                self.head = committed.block.header
                self.committed.update(tx.txid for tx in committed.block.transactions)
        finally:
            await client.close()

    def converged(self, nodes: list[str] | None = None) -> list[dict]:
        """Wait until ``nodes`` (default: all) are at the committed head; their statuses."""
        names = nodes or self.nodes
        deadline = time.monotonic() + WAIT_S
        while True:
            rows = [r for r in local.status(self.folder) if r["node"] in names]
            if all(r["head"] == self.head.hash.hex() for r in rows):
                return rows
            assert time.monotonic() < deadline, f"not converged: {rows}"
            time.sleep(0.2)

    async def client(self) -> NetworkClient:
        return await NetworkClient.connect(self.network.urls, self.network.genesis,
                                           self.operator_credentials, "test")

    def stores_verify(self) -> None:
        """Every node's store re-executes from genesis with the validators' view key, to the
        same state root."""
        roots = set()
        for node in self.network.nodes:
            report = verify_ledger(Path(node.store), [self.view])
            assert report.ok and not report.unchecked, f"{node.name}: {report.line()}"
            roots.add(report.state_root)
        assert len(roots) == 1

    def stored(self, node: str, after: int = -1) -> list[CertifiedBlock]:
        """The blocks above height ``after`` in the node's store."""
        store = next(n.store for n in self.network.nodes if n.name == node)
        opened = open_store(store, readonly=True)
        try:
            return list(stored_blocks(opened, after))
        finally:
            opened.close()

    def duplicated_txids(self, node: str) -> int:
        txids = [tx.txid for certified in self.stored(node)
                 for tx in certified.block.transactions]
        return len(txids) - len(set(txids))


@pytest.fixture(scope="session")
def market(tmp_path_factory):
    folder = tmp_path_factory.mktemp("network")
    local.create(folder, validators=4, servers=3, round_timeout_s=0.5, params=PARAMS)
    try:
        local.up(folder)
        yield Market(folder)
    finally:
        local.down(folder)


@pytest.fixture
def healthy(market):
    """The session's network with every process running again (tests kill some)."""
    local.up(market.folder)
    market.network = local.load(market.folder)
    yield market
    local.up(market.folder)
