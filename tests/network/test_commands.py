"""`testbed network` commands that must refuse or fail fast, saying why in one line: an
auditor's name that is no NATS name, servers that die as `up` starts them, `status` of a
network that is down. Each on a network folder of its own, nothing of the session's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from testbed.errors import InputError
from testbed.ledger.keys import DEV_PASSPHRASE, PASSPHRASE_ENV
from testbed.network import local, processes
from testbed.network.access import ClientRole


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "testbed", *args], capture_output=True,
                          text=True, timeout=timeout, check=False,
                          env={**os.environ, PASSPHRASE_ENV: DEV_PASSPHRASE})


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    return done.stderr


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A network created and never started."""
    folder = tmp_path_factory.mktemp("stopped")
    local.create(folder, validators=1, servers=1)
    return folder


@pytest.mark.parametrize("name", ['regulator"', "*", ">", "a.b", "../x", "a b", "x" * 65, "",
                                  "operator", "admin"])
def test_an_auditor_named_other_than_a_nats_name_of_its_own_is_refused(stopped, name):
    authorization = (stopped / "servers" / "authorization.conf").read_text()
    certificates = sorted((stopped / "tls" / "clients").iterdir())
    with pytest.raises(InputError):
        local.admit(stopped, ClientRole.AUDITOR, name)
    assert (stopped / "servers" / "authorization.conf").read_text() == authorization
    assert sorted((stopped / "tls" / "clients").iterdir()) == certificates  # nothing overwritten


def test_admit_refuses_a_quote_in_one_line_and_admits_a_good_name(stopped):
    assert "letters, digits" in one_line_error(
        cli("network", "admit", str(stopped), "--auditor", 'regulator"'))
    done = cli("network", "admit", str(stopped), "--auditor", "Regulator_2-b")
    assert done.returncode == 0, done.stderr
    assert '"Regulator_2-b@auditor.p2pe"' in (
        stopped / "servers" / "authorization.conf").read_text()


def test_status_of_a_network_that_is_down_exits_1_and_says_so(stopped):
    for options in ([], ["--json"]):
        done = cli("network", "status", *options, str(stopped))
        assert done.returncode == 1 and done.stderr.startswith("down: no node of"), done.stderr
    assert [row["pid"] for row in json.loads(done.stdout)] == [None]


@pytest.mark.parametrize("fault", ["a port taken", "a broken configuration"])
def test_up_says_at_once_why_a_server_died(tmp_path, fault):
    folder = tmp_path / "net"
    network = local.create(folder, validators=1, servers=3)
    dying = network.servers[1]
    blocker = socket.socket()
    try:
        if fault == "a port taken":
            blocker.bind(("127.0.0.1", urlparse(dying.url).port))
            blocker.listen()
        else:
            Path(dying.config).write_text("listen: {\n")
        started = time.monotonic()
        stderr = one_line_error(cli("network", "up", str(folder)))
        assert time.monotonic() - started < 30
        assert f"NATS server {dying.name} exited with code 1: " in stderr
        assert ("address already in use" if fault == "a port taken" else "parse error") in (
            stderr.lower())
        assert not any(processes.alive(s.pid, s.config)
                       for s in local.load(folder).servers)  # what it started, it stopped
    finally:
        blocker.close()
        local.down(folder)
