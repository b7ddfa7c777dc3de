"""Node configurations: every problem named at once; a bad one stops `testbed node` with one
line; the mempool orders by the time transactions are for."""

import subprocess
import sys

import pytest

from testbed.demo import demo_orders
from testbed.errors import InputError
from testbed.ledger.keys import KeyPair
from testbed.network.config import NodeConfig, load_config
from testbed.network.mempool import Mempool


def test_a_config_round_trips(tmp_path):
    config = NodeConfig("validator-0", tmp_path / "k.key", tmp_path / "v.view",
                        tmp_path / "s.sqlite", tmp_path / "genesis.block",
                        ("nats://127.0.0.1:4222",), tmp_path / "c.pem", tmp_path / "c.key",
                        tmp_path / "ca.pem", 0.5, 300)
    path = tmp_path / "node.toml"
    path.write_text(config.to_toml(tmp_path))
    assert load_config(path) == config


def test_every_problem_is_named(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('name = ""\nkey = "k"\nservers = ["localhost:4222"]\nround_timeout_s = 0\n'
                    "max_block_txs = 0\ncolour = 1\n")
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    for problem in ("colour: unknown key", "store: missing", "genesis: missing",
                    "view_key: missing", "tls_cert: missing",
                    "name: expected", "servers: expected", "round_timeout_s", "max_block_txs"):
        assert problem in message
    assert "\n" not in message


def test_testbed_node_with_a_bad_config_says_why_in_one_line(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text("name = 1\n")
    done = subprocess.run([sys.executable, "-m", "testbed", "node", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1


def test_the_mempool_serves_the_earliest_time_first_once_per_transaction():
    homes = [KeyPair.development(f"mempool/{i}") for i in range(3)]
    txs = demo_orders(homes, 6, 10_000, {k.public: 0 for k in homes}, 1)
    pool = Mempool()
    for i, tx in enumerate(txs):
        assert pool.add(tx, 200 if i < 3 else 100)
    assert not pool.add(txs[0], 100)  # held once
    at, chosen = pool.next_block(after=50, exclude=(), limit=10)
    assert at == 100 and chosen == txs[3:]
    at, chosen = pool.next_block(after=150, exclude=(), limit=10)  # late ones run now
    assert at == 150 and chosen == txs[3:]
    at, chosen = pool.next_block(after=250, exclude={txs[4].txid}, limit=4)
    assert at == 250 and chosen == [txs[3], txs[5], txs[0], txs[1]]
    pool.evict_stale(lambda sender: 1)  # every sender's nonce 0 is used
    assert len(pool) == 3 and all(tx.nonce >= 1 for tx in pool.by_bytes.values())
