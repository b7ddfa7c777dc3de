"""Who may connect to the network and what each may publish and subscribe to.

**Authentication: TLS client certificates** (mutual TLS, NATS's ``verify_and_map``). Every link
must be TLS anyway (clients to servers, and the servers' cluster routes), so a certificate
authority and server certificates exist whatever the choice; a client certificate then gives
each party one credential for both encryption and identity, checked by the TLS stack before
the server reads a byte, with nothing beyond Python's `ssl` and `cryptography` (NKeys would
need a second key system, the `nkeys` package, and the same TLS certificates besides). The
certificate's e-mail name is the NATS user (``validator-0@validator.p2pe``,
``<account hex>@home.p2pe``), whose permissions the servers hold. No certificate, a
certificate of another CA, or one whose name has no permissions: refused at the handshake.

**Authorization: per-role permissions** (``authorization.conf``, included by every server):

- a **validator** proposes, votes, exchanges mempools, appends to the block stream and
  publishes each party's records; it answers requests (``allow_responses``) and reads submissions;
- the **operator** submits on its own subject (it relays the signed transactions of homes
  and meters it serves: the utility's head-end), reads the stream, its records, the nodes'
  announcements;
- a **home** submits on its own subject only (its own and its meter's transactions: nodes
  refuse any other sender there), reads the block stream (public results; its private
  records come sealed) and its own records, and nothing of another home's;
- an **auditor** reads everything and publishes nothing but read requests;
- the **admin** (``testbed network up|status|down``) creates the stream and may do anything.

Every client's request inbox is under ``_INBOX.<its name>``, so no one can read another's
replies. Files (in DIR/tls): ``ca.pem`` and ``ca.key`` (encrypted: it admits parties),
``servers/sN.pem|key`` (the servers', unencrypted: nats-server reads them at start),
``clients/NAME.pem|key`` (encrypted under the key passphrase).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testbed.errors import InputError, KeyFileError
from testbed.network.config import Subjects
from testbed.network.servers import AUTHORIZATION

CA_NAME = "p2p-energy-testbed network CA"
VALID_DAYS = 3650
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""A client's name: it becomes its NATS user (``NAME@role.p2pe``, quoted in the servers'
configuration), a subject token (its inbox ``_INBOX.NAME``, a home's submission subject) and
its certificate's file name, so no quote, space, '.', '*', '>' or '/' (a home's is its account,
64 hex digits)."""


class ClientRole(Enum):
    VALIDATOR = "validator"
    OPERATOR = "operator"
    HOME = "home"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Credentials:
    """A client's certificate, key and the CA it trusts; ``name`` is its NATS identity's
    short form (its inbox and, for homes and the operator, its submission subject)."""

    role: ClientRole
    name: str
    cert: Path
    key: Path
    ca: Path

    @property
    def user(self) -> str:
        return user(self.role, self.name)

    def context(self, passphrase: str) -> ssl.SSLContext:
        """A TLS client context: this certificate, only the network's CA trusted."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        try:
            ctx.load_cert_chain(str(self.cert), str(self.key), password=passphrase.encode())
        except (OSError, ssl.SSLError) as exc:
            raise KeyFileError(f"{self.key}: cannot load the client certificate ({exc})"
                               ) from None
        return ctx

    def options(self, passphrase: str) -> dict[str, Any]:
        """`nats.connect` options: TLS with this certificate, inboxes under its name."""
        return {"tls": self.context(passphrase), "inbox_prefix": f"_INBOX.{self.name}"}


def user(role: ClientRole, name: str) -> str:
    return f"{name}@{role.value}.p2pe"


def check_name(name: str) -> None:
    """`InputError` unless ``name`` may name a client (`CLIENT_NAME`)."""
    if not CLIENT_NAME.fullmatch(name):
        raise InputError(f"a client is named by 1 to 64 letters, digits, '-' and '_' (it "
                         f"becomes a NATS user and subject), not {name!r}")


def tls_folder(network: Path) -> Path:
    return network / "tls"


def credentials(network: Path, role: ClientRole, name: str) -> Credentials:
    """The credentials of ``name`` in the network folder (which must exist)."""
    tls = tls_folder(network)
    creds = Credentials(role, name, tls / "clients" / f"{name}.pem",
                        tls / "clients" / f"{name}.key", tls / "ca.pem")
    if not creds.cert.exists():
        raise InputError(f"{network}: no credentials for {name} (testbed network admit)")
    return creds


# --- certificates ------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner reads (keys, certificates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: str | None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def create_ca(network: Path, passphrase: str) -> None:
    """A new certificate authority for the network (its key encrypted)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    tls = tls_folder(network)
    write_private(tls / "ca.key", _key_pem(key, passphrase))
    write_private(tls / "ca.pem", cert.public_bytes(serialization.Encoding.PEM))


def _certificate(network: Path, passphrase: str, subject: str, san: list[x509.GeneralName],
                 usages: list[x509.ObjectIdentifier],
                 public_key: ec.EllipticCurvePublicKey) -> bytes:
    """A certificate (PEM) of the network's CA for ``public_key``: the CA never sees its
    private key."""
    tls = tls_folder(network)
    try:
        ca_key = serialization.load_pem_private_key((tls / "ca.key").read_bytes(),
                                                    passphrase.encode())
    except (OSError, ValueError, TypeError):
        raise KeyFileError(f"{tls / 'ca.key'}: not the network's CA key, or wrong "
                           "passphrase") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):  # a key of another kind signs none
        raise KeyFileError(f"{tls / 'ca.key'}: not the network's CA key (not an EC key)")
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(ca.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _issue(network: Path, passphrase: str, subject: str, san: list[x509.GeneralName],
           usages: list[x509.ObjectIdentifier], cert_path: Path, key_path: Path,
           key_passphrase: str | None) -> None:
    """A new key and its certificate, both written (the key encrypted under
    ``key_passphrase``, if given)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(network, passphrase, subject, san, usages, key.public_key())
    write_private(key_path, _key_pem(key, key_passphrase))
    write_private(cert_path, cert)


def issue_server(network: Path, passphrase: str, name: str, hosts: list[str]) -> None:
    """A server's certificate for ``hosts`` (names or addresses): it serves clients and, on
    cluster routes, connects to its peers as a client too. Its key is not encrypted."""
    san: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for host in hosts:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            san.append(x509.DNSName(host))
    folder = tls_folder(network) / "servers"
    _issue(network, passphrase, name, san,
           [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
           folder / f"{name}.pem", folder / f"{name}.key", None)


def issue_client(network: Path, passphrase: str, role: ClientRole, name: str) -> Credentials:
    """A client's certificate and key (encrypted under ``passphrase``)."""
    tls = tls_folder(network)
    creds = Credentials(role, name, tls / "clients" / f"{name}.pem",
                        tls / "clients" / f"{name}.key", tls / "ca.pem")
    _issue(network, passphrase, name, [x509.RFC822Name(user(role, name))],
           [ExtendedKeyUsageOID.CLIENT_AUTH], creds.cert, creds.key, passphrase)
    return creds


def certificate_request(key: ec.EllipticCurvePrivateKey, role: ClientRole, name: str
                        ) -> bytes:
    """A client's certificate request (PEM) for its own ``key``: what it sends the operator
    instead of a key (`sign_request`)."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(user(role, name))]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def requested_identity(request: bytes) -> tuple[ClientRole, str, ec.EllipticCurvePublicKey]:
    """Who a certificate request asks for (role, name) and its public key; `InputError`
    for a request that is malformed, not signed by its key, not a P-256 key, or that names
    no single client."""
    try:
        csr = x509.load_pem_x509_csr(request)
    except ValueError:
        raise InputError("not a PEM certificate request") from None
    if not csr.is_signature_valid:
        raise InputError("the certificate request is not signed by its own key")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise InputError("a certificate request for an EC P-256 key is needed (the "
                         "network's TLS key type)")
    try:
        names = csr.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        names = []
    match = re.fullmatch(r"([^@]+)@([a-z]+)\.p2pe", names[0]) if len(names) == 1 else None
    if match is None or match[2] not in {r.value for r in ClientRole}:
        raise InputError("the certificate request must name one client (NAME@ROLE.p2pe)")
    return ClientRole(match[2]), match[1], key


def sign_request(network: Path, passphrase: str, request: bytes, cert_path: Path
                 ) -> Credentials:
    """The CA's certificate for the client a request names, written to ``cert_path``; the
    client keeps its key (the credentials' ``key`` is where the client holds it, unknown
    here: the certificate's path with ``.key``)."""
    role, name, key = requested_identity(request)
    write_private(cert_path, _certificate(network, passphrase, name,
                                   [x509.RFC822Name(user(role, name))],
                                   [ExtendedKeyUsageOID.CLIENT_AUTH], key))
    return Credentials(role, name, cert_path, cert_path.with_suffix(".key"),
                       tls_folder(network) / "ca.pem")


# --- permissions --------------------------------------------------------------------------------


def permissions(role: ClientRole, name: str, s: Subjects) -> dict[str, list[str]]:
    """What a client of ``role`` named ``name`` may publish and subscribe to."""
    stream = s.stream
    read_stream = [f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.DIRECT.GET.{stream}",
                   f"$JS.API.DIRECT.GET.{stream}.>", f"$JS.API.STREAM.MSG.GET.{stream}"]
    inbox = f"_INBOX.{name}.>"
    if role == ClientRole.VALIDATOR:
        return {"publish": [s.mempool, s.proposals, s.votes, s.appended, s.applied,
                            s.records("*"), s.blocks, *read_stream],
                "subscribe": [s.submit("*"), s.submit_to("*", name), s.status(name),
                              s.mempool, s.proposals, s.votes, s.appended, inbox]}
    if role in (ClientRole.OPERATOR, ClientRole.HOME):
        return {"publish": [s.submit(name), s.submit_to(name, "*"), s.status("*"),
                            *read_stream],
                "subscribe": [s.records(name), s.appended, s.applied, inbox]}
    if role == ClientRole.AUDITOR:
        return {"publish": [s.status("*"), *read_stream], "subscribe": [">"]}
    return {"publish": [">"], "subscribe": [">"]}


def _quoted(items: list[str]) -> str:
    return ", ".join(f'"{i}"' for i in items)


def write_authorization(servers: Path, clients: list[tuple[ClientRole, str]],
                        subjects: Subjects) -> Path:
    """The servers' users and permissions, one per client (included by every server's
    configuration)."""
    lines = ["authorization {", "  users = ["]
    for role, name in clients:
        allowed = permissions(role, name, subjects)
        responses = " allow_responses: true," if role == ClientRole.VALIDATOR else ""
        lines.append(f'    {{ user: "{user(role, name)}", permissions: {{{responses} '
                     f"publish: {{ allow: [{_quoted(allowed['publish'])}] }}, "
                     f"subscribe: {{ allow: [{_quoted(allowed['subscribe'])}] }} }} }}")
    lines += ["  ]", "}", ""]
    path = servers / AUTHORIZATION
    servers.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path
