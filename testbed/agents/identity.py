"""A home's own identity: it makes its signing key, view key and TLS key under its own
passphrase, and asks the operator for a certificate with a request, so no private key of the
home ever leaves its folder (the operator's `testbed network admit --request` signs it).

A home's folder: ``account.key`` (Ed25519: signs its orders), ``view.key`` (X25519: opens its
sealed records), ``tls.key`` (EC P-256: its TLS client key), ``tls.csr`` (the request it
sends), ``public.json`` (its account and view keys' public halves, for the operator's
scenario: ``agent = "external"``), then ``tls.pem`` and ``ca.pem`` (what the operator sends
back).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from testbed.errors import InputError
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.network.access import ClientRole, Credentials, certificate_request, write_private

ACCOUNT_KEY, VIEW_KEY, TLS_KEY = "account.key", "view.key", "tls.key"
REQUEST, CERTIFICATE, CA = "tls.csr", "tls.pem", "ca.pem"
PUBLIC = "public.json"


@dataclass(frozen=True)
class HomeKeys:
    folder: Path
    account: KeyPair
    view: ViewKey

    @property
    def name(self) -> str:
        """The home's name on the network: its account in hex."""
        return self.account.public.hex()


def make_home_keys(folder: Path, passphrase: str) -> HomeKeys:
    """New keys for a home in ``folder`` (refused if it holds some) and its certificate
    request."""
    if (folder / ACCOUNT_KEY).exists():
        raise InputError(f"{folder} already holds a home's keys")
    account, view = KeyPair.generate(), ViewKey.generate()
    tls = ec.generate_private_key(ec.SECP256R1())
    account.save(folder / ACCOUNT_KEY, passphrase)
    view.save(folder / VIEW_KEY, passphrase)
    write_private(folder / TLS_KEY, tls.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode())))
    (folder / REQUEST).write_bytes(certificate_request(tls, ClientRole.HOME,
                                                       account.public.hex()))
    (folder / PUBLIC).write_text(json.dumps({"account": account.public.hex(),
                                             "view": view.public.hex()}) + "\n")
    return HomeKeys(folder, account, view)


@dataclass(frozen=True)
class HomePublic:
    """What the run knows of an external home: its keys' public halves."""

    account: bytes
    view: bytes


def public_keys(folder: Path) -> HomePublic:
    """The public keys a home's folder publishes (``public.json``); `InputError` naming the
    folder when they are missing or malformed."""
    try:
        data = json.loads((folder / PUBLIC).read_text())
        keys = HomePublic(bytes.fromhex(data["account"]), bytes.fromhex(data["view"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{folder}: no readable {PUBLIC} (made by testbed agent keys): "
                         f"{exc}") from None
    if len(keys.account) != 32 or len(keys.view) != 32:
        raise InputError(f"{folder / PUBLIC}: keys of 32 bytes expected")
    return keys


def load_home_keys(folder: Path, passphrase: str) -> HomeKeys:
    return HomeKeys(folder, KeyPair.load(folder / ACCOUNT_KEY, passphrase),
                    ViewKey.load(folder / VIEW_KEY, passphrase))


def deliver(credentials: Credentials, folder: Path) -> None:
    """The operator's answer to a request from ``folder``: the certificate and the CA."""
    shutil.copyfile(credentials.cert, folder / CERTIFICATE)
    shutil.copyfile(credentials.ca, folder / CA)


def home_credentials(keys: HomeKeys) -> Credentials:
    """The home's TLS credentials: its own key, the certificate the operator signed."""
    folder = keys.folder
    if not (folder / CERTIFICATE).exists():
        raise InputError(f"{folder}: no certificate yet (the operator runs testbed network "
                         f"admit NETWORK --request {folder / REQUEST})")
    return Credentials(ClientRole.HOME, keys.name, folder / CERTIFICATE, folder / TLS_KEY,
                       folder / CA)
