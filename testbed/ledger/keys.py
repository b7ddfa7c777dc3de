"""Keys: Ed25519 signing keys (participants, meters and validators are all keys) and X25519
view keys (what sealed records are encrypted to: a home's, the validators', an auditor's).

A key file holds the private key as PKCS#8, encrypted with a passphrase taken from
``TESTBED_PASSPHRASE`` or a prompt. Development keys (demo ledgers, the default scenario) use
``DEV_PASSPHRASE`` when none is set, with a warning, so nothing ever prompts in `make run`.
Private key material is never printed or logged: ``repr`` shows only the public key.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from testbed.errors import InputError, KeyFileError
from testbed.ledger.ids import PublicKey, Signature, ViewPublicKey

PASSPHRASE_ENV = "TESTBED_PASSPHRASE"
DEV_PASSPHRASE = "testbed-development-only"
"""Documented, public, and so only for development keys that guard nothing of value."""


@dataclass(frozen=True)
class PublicOnly:
    """A key of which a party knows only the public half (a run, an external home's: the
    home's own agent process holds the private one), so nothing that party writes holds it."""

    public: bytes


class KeyPair:
    """An Ed25519 private key and its 32-byte public key."""

    __slots__ = ("_private", "public")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = PublicKey(private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ))

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """A deterministic key from a 32-byte seed (tests and reproducible demos)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def development(cls, name: str) -> KeyPair:
        """A development key from a public seed: reproducible, and so worthless outside tests
        and demos (anyone can derive it from ``name``)."""
        return cls.from_seed(hashlib.sha256(b"testbed-dev-key/" + name.encode()).digest())

    def sign(self, message: bytes) -> Signature:
        return Signature(self._private.sign(message))

    def secret_seed(self) -> bytes:
        """The 32-byte private seed, for batch signing (`transactions.sign_batch`). Secret:
        never print, log or store it; pass it to kernels.ed25519_sign_batch and drop it."""
        return self._private.private_bytes_raw()

    def save(self, path: Path, passphrase: str) -> None:
        """Write the key encrypted under ``passphrase``; the file is readable by its owner only."""
        _save(self._private, path, passphrase)

    @classmethod
    def load(cls, path: Path, passphrase: str) -> KeyPair:
        private = _load(path, passphrase)
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 key")
        return cls(private)

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.hex()})"


class ViewKey:
    """An X25519 private key that opens sealed records (HPKE, `ledger.sealing`), and its
    32-byte public key, which records are sealed to."""

    __slots__ = ("private", "public")

    def __init__(self, private: X25519PrivateKey) -> None:
        self.private = private
        self.public = ViewPublicKey(private.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> ViewKey:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def development(cls, name: str) -> ViewKey:
        """A view key from a public seed: anyone can derive it, so it hides nothing."""
        return cls(X25519PrivateKey.from_private_bytes(
            hashlib.sha256(b"testbed-dev-view-key/" + name.encode()).digest()))

    def save(self, path: Path, passphrase: str) -> None:
        """Write the key encrypted under ``passphrase``; the file is readable by its owner only."""
        _save(self.private, path, passphrase)

    @classmethod
    def load(cls, path: Path, passphrase: str) -> ViewKey:
        private = _load(path, passphrase)
        if not isinstance(private, X25519PrivateKey):
            raise KeyFileError(f"{path}: not an X25519 view key")
        return cls(private)

    def __repr__(self) -> str:
        return f"ViewKey(public={self.public.hex()})"


def _save(private: Ed25519PrivateKey | X25519PrivateKey, path: Path, passphrase: str) -> None:
    data = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _load(path: Path, passphrase: str) -> PrivateKeyTypes:
    """The private key in ``path``, of whatever kind (the caller checks which)."""
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode())
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not a key file, or wrong passphrase") from None
    return private


@functools.cache
def _warn_development_passphrase() -> None:
    """Once per process, however many places read the passphrase (a run on its own network
    reads it four times: creating, admitting, connecting, saving the auditor's key)."""
    warnings.warn(f"{PASSPHRASE_ENV} is not set: development keys use the public development "
                  "passphrase; never use them for anything of value", stacklevel=3)


def development_passphrase() -> bool:
    """Whether key files written now would be encrypted under the public development
    passphrase (TESTBED_PASSPHRASE is not set): anyone holding such a file holds the key."""
    return not os.environ.get(PASSPHRASE_ENV)


def passphrase(development: bool = False) -> str:
    """The passphrase from the environment, else the development one (with a warning) for
    development keys, else a prompt."""
    if not development_passphrase():
        return os.environ[PASSPHRASE_ENV]
    if development:
        _warn_development_passphrase()
        return DEV_PASSPHRASE
    if not sys.stdin.isatty():
        raise InputError(f"set {PASSPHRASE_ENV}: no terminal to ask for the key passphrase")
    return getpass.getpass("key passphrase: ")
