"""Ed25519 keys: participants, meters and validators are all keys.

A key file holds the private key as PKCS#8, encrypted with a passphrase taken from
``TESTBED_PASSPHRASE`` or a prompt. Development keys (demo ledgers, the default scenario) use
``DEV_PASSPHRASE`` when none is set, with a warning, so nothing ever prompts in `make run`.
Private key material is never printed or logged: ``repr`` shows only the public key.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sys
import warnings
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from testbed.errors import InputError, KeyFileError
from testbed.ledger.ids import PublicKey, Signature

PASSPHRASE_ENV = "TESTBED_PASSPHRASE"
DEV_PASSPHRASE = "testbed-development-only"
"""Documented, public, and so only for development keys that guard nothing of value."""


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
        data = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    @classmethod
    def load(cls, path: Path, passphrase: str) -> KeyPair:
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode())
        except (ValueError, TypeError):
            raise KeyFileError(f"{path}: not a key file, or wrong passphrase") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 key")
        return cls(private)

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.hex()})"


def passphrase(development: bool = False) -> str:
    """The passphrase from the environment, else the development one (with a warning) for
    development keys, else a prompt."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if development:
        warnings.warn(
            f"{PASSPHRASE_ENV} is not set: development keys use the public development "
            "passphrase; never use them for anything of value",
            stacklevel=2,
        )
        return DEV_PASSPHRASE
    if not sys.stdin.isatty():
        raise InputError(f"set {PASSPHRASE_ENV}: no terminal to ask for the key passphrase")
    return getpass.getpass("key passphrase: ")
