"""A whole network on one machine: `testbed network up|status|down DIR`.

On first use `up` writes into DIR: a key per validator and one for the operator, and the
validators' view key (``keys/``, encrypted under TESTBED_PASSPHRASE or, with a warning, the
development passphrase), the genesis block (``genesis.block``: the validators, the operator
as its signer, the default market), the network's certificate authority and a certificate
per server and per client (``tls/``: each validator, the operator, an auditor and the admin
that `up`, `status` and `down` connect as; homes are admitted with `admit`), the users'
permissions (``servers/authorization.conf``, `access`), a configuration per NATS server
(``servers/``, ports chosen by the OS on loopback) and per node (``nodes/NAME.toml``, with its
store ``nodes/NAME.sqlite``). Nothing connects without a certificate of the network's CA.
Then, and on every later `up`, it starts whatever is not running (servers first; the stream
is created R3, or R1 with one server, and given the genesis block), in the background, logs
in ``logs/``, at a lower CPU priority than the process that starts them (a bench loop keeps
its pace beside them), and returns once every node answers, or once a quorum does and the
others have had ``READY_TIMEOUT_S``. A server that exits as the cluster starts (a port taken,
a broken configuration) stops `up` at once with the last lines of its log, and the servers
this `up` started are stopped again. Before it starts a node it loads the kernels itself,
compiling them into Numba's cache the first time on a machine, so that the nodes load them
instead of compiling the same functions at once. ``DIR/network.json`` lists the servers
(name, URL, pid) and the nodes (name, config, store, pid).

The same files run on several hosts: copy DIR, give each server's configuration its host's
address in ``listen`` and ``routes``, list those URLs in every node's ``servers``, and start
``nats-server -c servers/sN.conf`` and ``testbed node nodes/NAME.toml`` where they belong.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nats.errors

import kernels
from testbed.errors import InputError
from testbed.ledger.blocks import Block
from testbed.ledger.certificates import CertifiedBlock, quorum
from testbed.ledger.chain import genesis_block
from testbed.ledger.keys import KeyPair, ViewKey, passphrase
from testbed.ledger.wire import decode_block, encode_block
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from testbed.network import access, processes
from testbed.network.access import ClientRole, Credentials
from testbed.network.blocklog import BlockLog
from testbed.network.config import DEFAULT_MAX_BLOCK_TXS, NodeConfig, Subjects
from testbed.network.connection import connect
from testbed.network.servers import cluster_specs, nats_server_binary, write_config
from testbed.network.timing import NICENESS, READY_TIMEOUT_S, ROUND_TIMEOUT_S, SERVER_CHECK_S

MANIFEST = "network.json"
VALIDATORS_VIEW = "validators.view"  # the validators' view key, in DIR/keys
NODE_ENV = {"NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "1")}
"""Nodes sharing one machine check signatures on one thread each: several nodes' thread pools
on the same cores only wait on each other (measured by `testbed bench network`)."""


@dataclass
class ServerEntry:
    name: str
    url: str
    config: str
    pid: int | None = None


@dataclass
class NodeEntry:
    name: str
    config: str
    store: str
    log: str
    pid: int | None = None


@dataclass
class Network:
    """What DIR/network.json holds."""

    folder: Path
    chain_id: int
    genesis_hash: str
    servers: list[ServerEntry]
    nodes: list[NodeEntry]
    clients: list[tuple[str, str]]  # (role, name) of every client with a certificate

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def genesis(self) -> Block:
        return decode_block((self.folder / "genesis.block").read_bytes())

    @property
    def operator_key(self) -> Path:
        return self.folder / "keys" / "operator.key"

    @property
    def validators_view_key(self) -> Path:
        return self.folder / "keys" / VALIDATORS_VIEW

    def credentials(self, role: ClientRole, name: str | None = None) -> Credentials:
        """A client's credentials (named as its role unless ``name``: a validator's, a home's)."""
        return access.credentials(self.folder, role, name or role.value)

    def save(self) -> None:
        data = {"chain_id": self.chain_id, "genesis_hash": self.genesis_hash,
                "servers": [asdict(s) for s in self.servers],
                "nodes": [asdict(n) for n in self.nodes],
                "clients": [list(c) for c in self.clients]}
        path = self.folder / MANIFEST
        path.with_suffix(".tmp").write_text(json.dumps(data, indent=2) + "\n")
        path.with_suffix(".tmp").replace(path)


def load(folder: Path) -> Network:
    folder = folder.resolve()
    path = folder / MANIFEST
    if not path.exists():
        raise InputError(f"{folder}: no network here (run `testbed network up {folder}`)")
    data = json.loads(path.read_text())
    if "clients" not in data:
        raise InputError(f"{folder}: a network made before access control (TLS and "
                         "permissions): stop it, remove the folder and run up again")
    return Network(folder, data["chain_id"], data["genesis_hash"],
                   [ServerEntry(**s) for s in data["servers"]],
                   [NodeEntry(**n) for n in data["nodes"]],
                   [(role, name) for role, name in data["clients"]])


def create(folder: Path, validators: int = 4, servers: int = 3, *,
           round_timeout_s: float = ROUND_TIMEOUT_S, max_block_txs: int = DEFAULT_MAX_BLOCK_TXS,
           params: MarketParams | None = None, genesis_time: int = 0) -> Network:
    """Write a new network's keys, genesis and configurations into ``folder``."""
    folder = folder.resolve()
    if (folder / MANIFEST).exists():
        raise InputError(f"{folder} already holds a network")
    if not 1 <= validators <= 64 or not 1 <= servers <= 7:
        raise InputError("a network has 1..64 validators and 1..7 servers")
    secret = passphrase(development=True)
    keys = [KeyPair.generate() for _ in range(validators)]
    operator = KeyPair.generate()
    for i, key in enumerate(keys):
        key.save(folder / "keys" / f"validator-{i}.key", secret)
    operator.save(folder / "keys" / "operator.key", secret)
    ViewKey.generate().save(folder / "keys" / VALIDATORS_VIEW, secret)
    chain_id = secrets.randbits(31) | 1
    genesis = genesis_block([k.public for k in keys], keys[0], operator, MarketContract(),
                            (params or MarketParams()).encode(), genesis_time, chain_id)
    (folder / "genesis.block").write_bytes(encode_block(genesis))
    specs = cluster_specs(folder / "servers", servers)
    access.create_ca(folder, secret)
    for spec in specs:
        access.issue_server(folder, secret, spec.name, [spec.host])
        write_config(spec, specs, access.tls_folder(folder))
    names = [f"validator-{i}" for i in range(validators)]
    clients = [(ClientRole.VALIDATOR, n) for n in names] + [
        (role, role.value) for role in (ClientRole.OPERATOR, ClientRole.AUDITOR,
                                        ClientRole.ADMIN)]
    for role, name in clients:
        access.issue_client(folder, secret, role, name)
    access.write_authorization(folder / "servers", clients, Subjects(chain_id))
    nodes = []
    for name in names:
        creds = access.credentials(folder, ClientRole.VALIDATOR, name)
        config = NodeConfig(name, folder / "keys" / f"{name}.key",
                            folder / "keys" / VALIDATORS_VIEW,
                            folder / "nodes" / f"{name}.sqlite", folder / "genesis.block",
                            tuple(s.url for s in specs), creds.cert, creds.key, creds.ca,
                            round_timeout_s, max_block_txs)
        path = folder / "nodes" / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config.to_toml(path.parent))
        nodes.append(NodeEntry(name, str(path), str(config.store),
                               str(folder / "logs" / f"{name}.log")))
    network = Network(folder, chain_id, genesis.header.hash.hex(),
                      [ServerEntry(s.name, s.url, str(s.config)) for s in specs], nodes,
                      [(role.value, name) for role, name in clients])
    network.save()
    return network


def admit(folder: Path, role: ClientRole | None, name: str | None,
          request: bytes | None = None) -> Credentials:
    """A new client's certificate and permissions (a home: ``name`` is its account in hex;
    an auditor), the servers that run reloading their permissions; its credentials. With a
    certificate ``request`` (`access.certificate_request`), the client it names is admitted
    with the key it holds: the network never sees that key."""
    network = load(folder)
    if request is not None:
        role, name, _ = access.requested_identity(request)
    assert role is not None and name is not None
    if role not in (ClientRole.HOME, ClientRole.AUDITOR):
        raise InputError("admit homes and auditors; validators are named at creation")
    if role == ClientRole.HOME and not _is_account(name):
        raise InputError(f"a home is named by its account: 64 hex digits, not {name!r}")
    access.check_name(name)
    if any(name == known for _, known in network.clients):  # its files and inbox are its name's
        raise InputError(f"{name} already names a client of this network")
    secret = passphrase(development=True)
    if request is None:
        creds = access.issue_client(network.folder, secret, role, name)
    else:
        creds = access.sign_request(network.folder, secret, request,
                                    access.tls_folder(network.folder) / "clients"
                                    / f"{name}.pem")
    network.clients.append((role.value, name))
    access.write_authorization(network.folder / "servers",
                               [(ClientRole(r), n) for r, n in network.clients],
                               Subjects(network.chain_id))
    network.save()
    for server in network.servers:  # nats-server reloads its configuration on SIGHUP
        if processes.alive(server.pid, server.config):
            os.kill(server.pid, signal.SIGHUP)
    return creds


def _is_account(name: str) -> bool:
    try:
        return len(bytes.fromhex(name)) == 32 and name == name.lower()
    except ValueError:
        return False


def up(folder: Path, validators: int = 4, servers: int = 3, **options: Any) -> Network:
    """Create the network on first use; start whatever is down; return once the nodes it
    started and a quorum answer."""
    folder = folder.resolve()
    network = load(folder) if (folder / MANIFEST).exists() else create(
        folder, validators, servers, **options)
    started = [s for s in network.servers if not processes.alive(s.pid, s.config)]
    for server in started:
        server.pid = processes.spawn([nats_server_binary(), "-c", server.config],
                                     Path(server.config).with_suffix(".log"), niceness=NICENESS)
    network.save()
    try:
        asyncio.run(_prepare_stream(network))
    except BaseException:
        processes.stop([(s.pid, s.config) for s in started])
        raise
    down = [n for n in network.nodes if not processes.alive(n.pid, n.config)]
    if down:
        kernels.warm(parallel=True)  # compiled here once, loaded by each node
    for node in down:
        node.pid = processes.spawn([sys.executable, "-m", "testbed", "node", node.config],
                                   Path(node.log), env=NODE_ENV, niceness=NICENESS)
    network.save()
    asyncio.run(_wait_for_nodes(network, down))
    return network


async def _prepare_stream(network: Network) -> None:
    """Once the cluster has a JetStream leader: the stream exists and starts with genesis.
    `InputError` as soon as a server has exited, with what its log said last."""
    preparing = asyncio.create_task(_stream_with_genesis(network))
    try:
        while not preparing.done():
            _no_server_exited(network)
            await asyncio.wait({preparing}, timeout=SERVER_CHECK_S)
        if preparing.exception() is not None:
            _no_server_exited(network)  # the cause, rather than a client's symptom of it
        preparing.result()
    finally:
        preparing.cancel()
        await asyncio.gather(preparing, return_exceptions=True)


def _no_server_exited(network: Network) -> None:
    for server in network.servers:
        if not processes.alive(server.pid, server.config):
            log = Path(server.config).with_suffix(".log")
            how = processes.ended(server.pid) or "exited"
            raise InputError(f"NATS server {server.name} {how}: "
                             f"{processes.tail(log) or 'nothing in its log'} ({log})")


async def _stream_with_genesis(network: Network) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    nc = await connect(network.urls, "network-up", network.credentials(ClientRole.ADMIN))
    try:
        log = BlockLog(nc.jetstream(timeout=2.0), Subjects(network.chain_id))
        while True:
            try:
                await log.ensure(replicas=min(3, len(network.servers)))
                if await log.last_seq() == 0:
                    await log.append(CertifiedBlock(network.genesis, None), 0)
                return
            except (nats.errors.Error, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise InputError(f"the NATS cluster is not ready: {exc} (see "
                                     f"{network.folder / 'servers'})") from None
                await asyncio.sleep(0.25)
    finally:
        await nc.close()


async def _wait_for_nodes(network: Network, started: list[NodeEntry]) -> None:
    """Until the nodes just ``started`` and a quorum of all answer, or, once
    ``READY_TIMEOUT_S`` has passed, a quorum (the others named in a warning); `InputError`
    when a node started exits, or no quorum answers in time."""
    from testbed.network.client import NetworkClient

    deadline = time.monotonic() + READY_TIMEOUT_S
    need = quorum(len(network.nodes))
    client = await NetworkClient.connect(network.urls, network.genesis,
                                         network.credentials(ClientRole.ADMIN), "network-up")
    try:
        while True:
            dead = [n.name for n in started if not processes.alive(n.pid, n.config)]
            if dead:
                raise InputError(f"node {dead[0]} exited; see {network.folder / 'logs'}")
            answers = await asyncio.gather(*(client.status(n.name) for n in network.nodes))
            silent = [n for n, a in zip(network.nodes, answers) if a is None]
            ready = len(network.nodes) - len(silent) >= need
            if ready and not {n.name for n in silent} & {n.name for n in started}:
                return
            if time.monotonic() > deadline:
                names = ", ".join(n.name for n in silent)
                if not ready:
                    raise InputError(f"no quorum: {names} do not answer; see their logs in "
                                     f"{network.folder / 'logs'}")
                warnings.warn(f"{names} do not answer yet; a quorum does", stacklevel=1)
                return
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def status(folder: Path) -> list[dict[str, Any]]:
    """Each node's name, pid (None when not running), height, head hash and lag."""
    network = load(folder.resolve())
    return asyncio.run(_status(network))


async def _status(network: Network) -> list[dict[str, Any]]:
    from testbed.network.client import NetworkClient

    rows: list[dict[str, Any]] = [
        {"node": n.name, "pid": n.pid if processes.alive(n.pid, n.config) else None,
         "store": n.store, "height": None, "head": None, "lag": None}
        for n in network.nodes]
    if not any(processes.alive(s.pid, s.config) for s in network.servers):
        return rows
    try:
        client = await asyncio.wait_for(NetworkClient.connect(
            network.urls, network.genesis, network.credentials(ClientRole.ADMIN),
            "network-status"), 5)
    except (nats.errors.Error, TimeoutError):
        return rows
    try:
        answers = await asyncio.gather(*(client.status(n.name) for n in network.nodes))
    finally:
        await client.close()
    for row, answer in zip(rows, answers):
        if answer is not None:
            row["height"], row["head"] = answer["height"], answer["head"]
    top = max((r["height"] for r in rows if r["height"] is not None), default=None)
    for row in rows:
        if row["height"] is not None:
            row["lag"] = top - row["height"]
    return rows


def down(folder: Path) -> int:
    """Stop every node, then every server; how many processes were stopped."""
    network = load(folder.resolve())
    nodes = [(n.pid, n.config) for n in network.nodes if processes.alive(n.pid, n.config)]
    processes.stop(nodes)
    servers = [(s.pid, s.config) for s in network.servers if processes.alive(s.pid, s.config)]
    processes.stop(servers)
    entries: list[NodeEntry | ServerEntry] = [*network.nodes, *network.servers]
    for entry in entries:
        entry.pid = None
    network.save()
    return len(nodes) + len(servers)


def render_status(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'node':<14}{'pid':>8}{'height':>8}{'lag':>5}  head"]
    for r in rows:
        def cell(v: object) -> str:
            return "-" if v is None else str(v)
        lines.append(f"{r['node']:<14}{cell(r['pid']):>8}{cell(r['height']):>8}"
                     f"{cell(r['lag']):>5}  {(r['head'] or '-')[:16]}")
    return "\n".join(lines)
