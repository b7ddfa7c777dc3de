"""Sealed records: one plaintext on the ledger, readable only by the parties it is sealed to.

A record is sealed to its readers' view keys (X25519) with HPKE (RFC 9180, base mode:
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; `cryptography`'s `hpke.Suite`).
A fresh 32-byte content key is sealed to each reader (a *wrap*: HPKE's encapsulated key and
the sealed content key, 80 bytes), and the plaintext is sealed once under the content key with
ChaCha20-Poly1305 (the key is used once, so the nonce is zero). Every reader opens the same
ciphertext, and the record carries ``SHA-256(SEAL_KEY_DOMAIN | content key)``: two readers
who open their wraps hold the same key, so they read the same plaintext (ChaCha20-Poly1305
alone does not commit to its key). One wrap per reader rather than the plaintext sealed to
each: the record's size grows by 112 bytes a reader, whatever the plaintext's.

The *context* (what the record is and where it belongs: chain, kind, participant, interval) is
HPKE's info and the AEAD's associated data, so a record cannot be moved to another place on
the ledger and still open.

Layout (canonical, `encoding`)::

    u32 n | n x (reader 32 | wrap 80) | key_commitment 32 | u32 length | ciphertext

readers in ascending byte order, each once. Who may or must read a record is the contract's
rule; this module only seals and opens.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from testbed.errors import LedgerError
from testbed.ledger.encoding import EncodingError, b32, blob, fixed, list_of
from testbed.ledger.keys import ViewKey
from testbed.ledger.params import MAX_READERS, MAX_SEALED_BYTES, SEAL_DOMAIN, SEAL_KEY_DOMAIN

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
KEY_BYTES = 32
WRAP_BYTES = 32 + KEY_BYTES + 16  # HPKE's encapsulated key, the content key, its tag
_NONCE = bytes(12)


class NotAddressed(LedgerError):
    """None of the view keys at hand is among a record's readers: it cannot be read here."""


class BrokenSeal(LedgerError):
    """A record addressed to a key at hand that does not open with it."""


@dataclass(frozen=True)
class Wrap:
    """The content key sealed to one reader."""

    reader: bytes = b32()
    wrap: bytes = fixed(WRAP_BYTES)


@dataclass(frozen=True)
class Sealed:
    wraps: tuple[Wrap, ...] = list_of(Wrap, MAX_READERS)
    key_commitment: bytes = b32()
    ciphertext: bytes = blob(MAX_SEALED_BYTES + 16)

    @property
    def readers(self) -> tuple[bytes, ...]:
        return tuple(w.reader for w in self.wraps)


def context(kind: bytes, *parts: bytes) -> bytes:
    """The bytes a record is bound to: the domain, its kind and where it belongs."""
    return SEAL_DOMAIN + b"|" + kind + b"|" + b"".join(parts)


def _commitment(key: bytes) -> bytes:
    return hashlib.sha256(SEAL_KEY_DOMAIN + key).digest()


def seal(plaintext: bytes, readers: Iterable[bytes], info: bytes) -> Sealed:
    """``plaintext`` sealed to each of ``readers`` (X25519 public keys), bound to ``info``."""
    keys = sorted(set(readers))
    if not 0 < len(keys) <= MAX_READERS:
        raise EncodingError(f"a sealed record needs 1..{MAX_READERS} readers, got {len(keys)}")
    if len(plaintext) > MAX_SEALED_BYTES:
        raise EncodingError(f"a sealed record holds at most {MAX_SEALED_BYTES} bytes")
    key = os.urandom(KEY_BYTES)
    wraps = []
    for reader in keys:
        try:
            public = X25519PublicKey.from_public_bytes(reader)
        except ValueError:
            raise EncodingError(f"reader {reader.hex()[:16]} is not an X25519 key") from None
        wraps.append(Wrap(reader, SUITE.encrypt(key, public, info)))
    return Sealed(tuple(wraps), _commitment(key),
                  ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, info))


def open_sealed(sealed: Sealed, keys: Mapping[bytes, ViewKey], info: bytes) -> bytes:
    """The plaintext, opened with the first of ``keys`` (by public key) among the readers.
    `NotAddressed` if none is; `BrokenSeal` if it does not open with it."""
    for w in sealed.wraps:
        key = keys.get(w.reader)
        if key is None:
            continue
        try:
            content_key = SUITE.decrypt(w.wrap, key.private, info)
        except (InvalidTag, ValueError):
            raise BrokenSeal(f"the wrap for view key {w.reader.hex()[:16]} does not open"
                             ) from None
        if len(content_key) != KEY_BYTES or _commitment(content_key) != sealed.key_commitment:
            raise BrokenSeal(f"view key {w.reader.hex()[:16]} opens another content key than "
                             "the record commits to")
        try:
            return ChaCha20Poly1305(content_key).decrypt(_NONCE, sealed.ciphertext, info)
        except InvalidTag:
            raise BrokenSeal("the content does not open with its committed key") from None
    raise NotAddressed("sealed to none of the view keys at hand")


def keyring(keys: Sequence[ViewKey]) -> dict[bytes, ViewKey]:
    """View keys by their public key, as `open_sealed` takes them."""
    return {k.public: k for k in keys}
