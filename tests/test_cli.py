"""The command line as a user meets it: real processes, exit codes and one-line answers."""

import json
import sqlite3
import subprocess
import sys

import pytest

from testbed.ledger.store.packing import pack, unpack
from testbed.ledger.transactions import decode_transaction
from testbed.ledger.wire import decode_transactions, encode_transactions

BIN = [sys.executable, "-m", "testbed"]


def run(*args, env=None):
    return subprocess.run([*BIN, *args], capture_output=True, text=True, env=env, check=False)


def test_demo_then_verify_then_tamper(tmp_path):
    path = tmp_path / "demo.sqlite"
    made = run("ledger", "demo", str(path), "--blocks", "3", "--tx", "20")
    assert made.returncode == 0, made.stderr
    ok = run("verify", str(path))
    assert ok.returncode == 0 and ok.stdout.startswith("valid: 6 blocks, 141 transactions")
    assert len(ok.stdout.strip().splitlines()) == 1
    db = sqlite3.connect(path)
    with db:  # one byte of transaction 4 of block 4
        (blob,) = db.execute("SELECT transactions FROM blocks WHERE height = 4").fetchone()
        txs = list(decode_transactions(unpack(blob)))
        raw = txs[4].encoded
        txs[4] = decode_transaction(raw[:60] + bytes([raw[60] ^ 1]) + raw[61:])
        db.execute("UPDATE blocks SET transactions = ? WHERE height = 4",
                   (pack(encode_transactions(txs)),))
    db.close()
    bad = run("verify", str(path))
    assert bad.returncode == 1
    assert bad.stdout.strip().startswith("invalid: height 4: Merkle root")
    assert len(bad.stdout.strip().splitlines()) == 1


def test_user_errors_are_one_line(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    for args in (["verify", str(tmp_path / "missing.sqlite")], ["verify", str(junk)]):
        r = run(*args)
        assert r.returncode == 2
        assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
        assert "Traceback" not in r.stderr


def test_demo_refuses_to_overwrite(tmp_path):
    path = tmp_path / "d.sqlite"
    assert run("ledger", "demo", str(path), "--blocks", "1", "--tx", "1").returncode == 0
    before = path.read_bytes()
    again = run("ledger", "demo", str(path), "--blocks", "1", "--tx", "1")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert path.read_bytes() == before


def test_ledger_init_with_dev_key(tmp_path):
    r = run("ledger", "init", str(tmp_path / "new.sqlite"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "new.validator-0.key").exists()
    assert run("verify", str(tmp_path / "new.sqlite")).returncode == 0


def test_bench_ledger_json():
    r = run("bench", "ledger", "--quick", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["benchmark"] == "ledger"
    assert set(out) == {"benchmark", "machine", "measured", "results", "ratios", "notes"}
    assert out["measured"]["quick"] is True and out["measured"]["commit"]
    assert out["ratios"]["verify_vs_single_thread_cryptography"] > 0


@pytest.mark.parametrize("name", ["nope", "0.0001", "__init__", "year.x"])
def test_an_unknown_benchmark_is_named_with_the_known_ones(name):
    r = run("bench", name)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"unknown benchmark {name!r}" in r.stderr and "kernels" in r.stderr


def test_dashboard_options_are_checked_before_a_run_starts(tmp_path):
    import socket

    out = tmp_path / "run"
    alone = run("simulate", "--days", "0.02", "--out", str(out), "--dashboard-host", "0.0.0.0")
    assert alone.returncode == 2 and alone.stderr == "error: --dashboard-host needs --dashboard\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("simulate", "--days", "0.02", "--out", str(out), "--dashboard",
                   str(taken.getsockname()[1]))
    assert busy.returncode == 2 and busy.stderr.startswith("error: dashboard: cannot listen on")
    assert len(busy.stderr.strip().splitlines()) == 1 and not out.exists()
