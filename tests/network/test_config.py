"""Node configurations: every problem named at once; a bad one stops `testbed node` with one
line."""

import subprocess
import sys

import pytest

from testbed.errors import InputError
from testbed.network.config import NodeConfig, load_config


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
