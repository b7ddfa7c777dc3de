"""Access control, refused by the NATS servers themselves: no certificate of the network's CA,
no connection; a home publishes only on its own subject and reads only its own records; only
validators propose and vote; an auditor reads everything and writes nothing. Behind the
server, a node admits on a home's subject only that home's and its meter's transactions."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
import subprocess
import sys
import time
from dataclasses import replace

import nats
import nats.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from testbed.ledger.keys import DEV_PASSPHRASE, KeyPair
from testbed.ledger.transactions import OrderCommitment, sign
from testbed.ledger.wire import Submission
from testbed.network import local
from testbed.network.access import ClientRole
from testbed.network.config import Subjects

HOMES = [KeyPair.development(f"bench-network/home-{i}") for i in range(2)]  # the load's homes
WAIT_S = 10.0


class Client:
    """A raw NATS connection with some credentials, keeping every error the server sends."""

    def __init__(self, nc, errors: list[str]) -> None:
        self.nc, self.errors = nc, errors

    @classmethod
    async def connect(cls, urls, **options) -> Client:
        errors: list[str] = []

        async def error_cb(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(urls, error_cb=error_cb, allow_reconnect=False,
                                connect_timeout=3, max_reconnect_attempts=0, **options)
        return cls(nc, errors)

    async def refused(self, what: str) -> str:
        """The server's permissions violation for ``what`` (publish, subscription)."""
        deadline = time.monotonic() + WAIT_S
        marker = f"permissions violation for {what}".lower()
        while not any(marker in e.lower() for e in self.errors):
            assert time.monotonic() < deadline, f"not refused: {what} ({self.errors})"
            await asyncio.sleep(0.05)
        return next(e.lower() for e in self.errors if marker in e.lower())  # as the server
        # writes it: in lower case


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


@pytest.fixture(scope="module")
def homes(market):
    """Two of the market's homes admitted to the network (their certificates and
    permissions, the servers reloaded)."""
    return [local.admit(market.folder, ClientRole.HOME, h.public.hex()) for h in HOMES]


async def as_client(market, credentials) -> Client:
    """Connected with ``credentials`` (the servers may still be reloading their users)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return await Client.connect(market.network.urls,
                                        **credentials.options(DEV_PASSPHRASE))
        except (nats.errors.Error, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def foreign_context(tmp_path, trusted_ca) -> ssl.SSLContext:
    """A client certificate of another CA, named like the operator."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.RFC822Name("operator@operator.p2pe")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "c.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.create_default_context(cafile=str(trusted_ca))
    ctx.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "c.key"))
    return ctx


def test_an_unauthenticated_client_is_refused(healthy, tmp_path):
    urls = healthy.network.urls
    ca = healthy.network.credentials(ClientRole.OPERATOR).ca
    no_certificate = ssl.create_default_context(cafile=str(ca))
    for options in ({},  # no TLS at all
                    {"tls": no_certificate},  # TLS, the right CA, no client certificate
                    {"tls": foreign_context(tmp_path, ca)}):  # another CA's certificate
        with pytest.raises((nats.errors.Error, OSError, TimeoutError)):
            run(Client.connect(urls, **options))


def test_a_home_publishing_as_another_is_refused_by_the_server(healthy, homes):
    async def go():
        a = await as_client(healthy, homes[0])
        try:
            s = Subjects(healthy.network.chain_id)
            b = HOMES[1].public.hex()
            with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
                await a.nc.request(s.submit(b), b"", timeout=2)
            assert f'"{s.submit(b)}"' in await a.refused("Publish")
            for subject in (s.proposals, s.votes, s.blocks, s.submit("operator")):
                await a.nc.publish(subject, b"x")  # only validators propose, vote, append
                await a.nc.flush()
            for subject in (s.proposals, s.votes, s.blocks, s.submit("operator")):
                await a.refused(f'Publish to "{subject}"')
        finally:
            await a.nc.close()
    run(go())


def test_a_home_subscribing_to_another_homes_records_is_refused_by_the_server(
        healthy, homes):
    async def go():
        a = await as_client(healthy, homes[0])
        try:
            s = Subjects(healthy.network.chain_id)
            theirs = await a.nc.subscribe(s.records(HOMES[1].public.hex()))
            ours = await a.nc.subscribe(s.records(HOMES[0].public.hex()))
            assert f'"{s.records(HOMES[1].public.hex())}"' in await a.refused("Subscription")
            await asyncio.to_thread(healthy.trade, 2)  # both homes' orders commit
            record = json.loads((await ours.next_msg(timeout=WAIT_S)).data)
            assert record["committed"] and record["height"] > 0  # its own records reach it
            with pytest.raises(nats.errors.TimeoutError):
                await theirs.next_msg(timeout=1)
            inbox = await a.nc.subscribe("_INBOX.operator.>")  # nor others' replies
            assert '"_inbox.operator.>"' in await a.refused('subscription to "_inbox.operator')
            await inbox.unsubscribe()
        finally:
            await a.nc.close()
    run(go())


def test_a_node_admits_on_a_homes_subject_only_its_own_and_its_meters_transactions(
        healthy, homes):
    async def go():
        a = await as_client(healthy, homes[0])
        try:
            s = Subjects(healthy.network.chain_id)
            chain = healthy.network.chain_id
            forged = [sign(OrderCommitment(0, bytes(32), 1), HOMES[1], 10**6, chain),
                      sign(OrderCommitment(0, bytes(32), 1), HOMES[0], 10**6, chain)]
            forged[1] = replace(forged[1], signature=bytes(64))  # its signature spoilt
            reply = await a.nc.request(s.submit(HOMES[0].public.hex()),
                                       Submission(None, tuple(forged)).encoded, timeout=5)
            reasons = [r["reason"] for r in json.loads(reply.data)["receipts"]]
            assert "submitted as home" in reasons[0]  # another's, on this home's subject
            assert reasons[1] == "bad signature"  # its own: past the subject check
        finally:
            await a.nc.close()
    run(go())


def test_the_auditor_reads_everything_and_writes_nothing(healthy):
    async def go():
        auditor = await as_client(healthy, healthy.network.credentials(ClientRole.AUDITOR))
        try:
            s = Subjects(healthy.network.chain_id)
            votes = await auditor.nc.subscribe(s.votes)
            records = await auditor.nc.subscribe(s.records("*"))
            await asyncio.to_thread(healthy.trade, 1)
            await votes.next_msg(timeout=WAIT_S)  # validators' votes
            await records.next_msg(timeout=WAIT_S)  # every party's records
            await auditor.nc.publish(s.submit("operator"), b"")
            assert f'"{s.submit("operator")}"' in await auditor.refused("Publish")
        finally:
            await auditor.nc.close()
    run(go())


def test_an_auditor_admitted_from_the_command_line_connects_and_reads(healthy):
    done = subprocess.run([sys.executable, "-m", "testbed", "network", "admit",
                           str(healthy.folder), "--auditor", "regulator"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "admitted regulator@auditor.p2pe" in done.stdout, done.stderr
    again = subprocess.run([sys.executable, "-m", "testbed", "network", "admit",
                            str(healthy.folder), "--home", "not-an-account"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 2 and again.stderr.startswith("error: a home is named by")

    async def go():
        creds = local.load(healthy.folder).credentials(ClientRole.AUDITOR, "regulator")
        regulator = await as_client(healthy, creds)
        try:
            await regulator.nc.subscribe(">")
            await regulator.nc.flush()  # a refusal comes before the flush's PONG (one
            # connection, in order) and the client hands it to error_cb before reading on
            assert not regulator.errors
        finally:
            await regulator.nc.close()
    run(go())


def test_a_ca_key_that_is_not_an_ec_key_is_refused_in_one_line(tmp_path):
    """The CA signs with EC keys only: an Ed25519 key in ca.key (encrypted under the right
    passphrase) is refused as a key file, before anything is signed or written."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from testbed.errors import KeyFileError
    from testbed.network import access

    access.create_ca(tmp_path, DEV_PASSPHRASE)
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(DEV_PASSPHRASE.encode()))
    (access.tls_folder(tmp_path) / "ca.key").write_bytes(other)
    with pytest.raises(KeyFileError, match="not an EC key"):
        access.issue_client(tmp_path, DEV_PASSPHRASE, ClientRole.HOME, "a" * 64)
    assert not (access.tls_folder(tmp_path) / "clients" / f"{'a' * 64}.pem").exists()
