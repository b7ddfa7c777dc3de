"""A validator node's configuration (TOML) and the subjects its network speaks on.

```toml
name = "validator-0"                  # unique among the nodes
key = "keys/validator-0.key"          # its Ed25519 key, encrypted (TESTBED_PASSPHRASE)
view_key = "keys/validators.view"     # the validators' view key (X25519), encrypted
store = "stores/validator-0.sqlite"   # its own ledger file
genesis = "genesis.block"             # the network's genesis block, the same for every node
servers = ["nats://127.0.0.1:4222"]   # NATS servers of the ordering cluster
tls_cert = "tls/clients/validator-0.pem"  # its client certificate (`access`)
tls_key = "tls/clients/validator-0.key"   # and key, encrypted
tls_ca = "tls/ca.pem"                 # the network's CA: the only one trusted
round_timeout_s = 1.0                 # a proposer silent this long passes the turn on
max_block_txs = 2000                  # transactions per block at most
```
Relative paths are relative to the file. Every bad key is reported at once.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import InputError
from testbed.ledger.params import MAX_TX_PER_BLOCK
from testbed.network.timing import ROUND_TIMEOUT_S

DEFAULT_MAX_BLOCK_TXS = 2000
_PATHS = ("key", "view_key", "store", "genesis", "tls_cert", "tls_key", "tls_ca")
_KEYS = {"name", *_PATHS, "servers", "round_timeout_s", "max_block_txs"}


@dataclass(frozen=True)
class NodeConfig:
    name: str
    key: Path
    view_key: Path
    store: Path
    genesis: Path
    servers: tuple[str, ...]
    tls_cert: Path
    tls_key: Path
    tls_ca: Path
    round_timeout_s: float = ROUND_TIMEOUT_S
    max_block_txs: int = DEFAULT_MAX_BLOCK_TXS

    def to_toml(self, base: Path) -> str:
        """The file's text, paths relative to ``base`` (the file's folder), so a copied
        folder works where it lands."""
        def rel(p: Path) -> str:
            return os.path.relpath(p, base)

        servers = ", ".join(f'"{s}"' for s in self.servers)
        paths = "".join(f'{k} = "{rel(getattr(self, k))}"\n' for k in _PATHS)
        return (f'name = "{self.name}"\n{paths}servers = [{servers}]\n'
                f"round_timeout_s = {self.round_timeout_s}\n"
                f"max_block_txs = {self.max_block_txs}\n")


def load_config(path: Path) -> NodeConfig:
    """The node configuration in ``path``; `InputError` listing every problem."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    problems = [f"{k}: unknown key" for k in sorted(set(raw) - _KEYS)]
    problems += [f"{k}: missing" for k in ("name", *_PATHS, "servers") if k not in raw]
    for k in ("name", *_PATHS):
        if k in raw and not (isinstance(raw[k], str) and raw[k]):
            problems.append(f"{k}: expected a non-empty string")
    servers = raw.get("servers", [])
    if not (isinstance(servers, list) and servers
            and all(isinstance(s, str) and s.startswith("nats://") for s in servers)):
        problems.append("servers: expected a list of nats:// URLs")
    timeout = raw.get("round_timeout_s", ROUND_TIMEOUT_S)
    if not (isinstance(timeout, int | float) and 0.05 <= timeout <= 600):
        problems.append("round_timeout_s: expected seconds in 0.05..600")
    max_txs = raw.get("max_block_txs", DEFAULT_MAX_BLOCK_TXS)
    if not (isinstance(max_txs, int) and 1 <= max_txs <= MAX_TX_PER_BLOCK):
        problems.append(f"max_block_txs: expected an integer in 1..{MAX_TX_PER_BLOCK}")
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    base = path.parent
    paths = {k: base / raw[k] for k in _PATHS}
    return NodeConfig(raw["name"], servers=tuple(servers), round_timeout_s=float(timeout),
                      max_block_txs=max_txs, **paths)


@dataclass(frozen=True)
class Subjects:
    """The NATS subjects and stream of one chain: everything is under ``p2pe.<chain id>``."""

    chain_id: int

    @property
    def prefix(self) -> str:
        return f"p2pe.{self.chain_id:08x}"

    @property
    def stream(self) -> str:
        """The JetStream stream of certified blocks."""
        return f"P2PE_{self.chain_id:08X}_BLOCKS"

    @property
    def blocks(self) -> str:
        return f"{self.prefix}.blocks"

    def submit(self, who: str) -> str:
        """Request/reply, ``who`` submitting (the operator, or a home's account in hex: only
        its credentials may publish here): any node answers (a queue group)."""
        return f"{self.prefix}.submit.{who}"

    def submit_to(self, who: str, node: str) -> str:
        """Request/reply, ``who`` submitting: this node answers."""
        return f"{self.prefix}.submit.{who}.{node}"

    def records(self, who: str) -> str:
        """Notices about ``who``'s transactions, JSON: {txid, height} when a block holding
        one is committed (by its proposer), {txid, reason} when a proposer dropped one."""
        return f"{self.prefix}.records.{who}"

    @property
    def mempool(self) -> str:
        return f"{self.prefix}.mempool"

    @property
    def proposals(self) -> str:
        return f"{self.prefix}.proposals"

    @property
    def votes(self) -> str:
        return f"{self.prefix}.votes"

    @property
    def appended(self) -> str:
        """Published by whoever appended a block: a hint to fetch it now."""
        return f"{self.prefix}.appended"

    @property
    def applied(self) -> str:
        """Published by each node after it applied a block: JSON {node, height, hash}."""
        return f"{self.prefix}.applied"

    def status(self, node: str) -> str:
        return f"{self.prefix}.status.{node}"
