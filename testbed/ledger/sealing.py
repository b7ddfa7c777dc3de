"""Sealed records: one plaintext on the ledger, readable only by the parties it is sealed to.

A record is sealed to its readers' view keys (X25519) with HPKE (RFC 9180, base mode:
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305). A fresh 32-byte content key is
sealed to each reader (a *wrap*: HPKE's encapsulated key and the sealed content key, 80
bytes), and the plaintext is sealed once under the content key with ChaCha20-Poly1305 (the key
is used once, so the nonce is zero). Every reader opens the same ciphertext, and the record
carries ``SHA-256(SEAL_KEY_DOMAIN | content key)``: two readers who open their wraps hold the
same key, so they read the same plaintext (ChaCha20-Poly1305 alone does not commit to its key).
One wrap per reader rather than the plaintext sealed to each: the record's size grows by 112
bytes a reader, whatever the plaintext's.

Readers open with `cryptography`'s HPKE (`hpke.Suite.decrypt`, OpenSSL). Sealing derives the
ephemeral key of each wrap from 32 bytes of randomness as RFC 9180's DeriveKeyPair does
(`hpke_seal`, checked against the RFC's test vector and against `cryptography`), because the
randomness is the sealer's to choose: the operating system's (`fresh_entropy`), or for a
development run, whose ledger bytes must reproduce, a hash of a public seed and the record's
context (`seeded_entropy`: with development keys anyone can open everything anyway).

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
import hmac
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from testbed.errors import LedgerError
from testbed.ledger.encoding import EncodingError, b32, blob, fixed, list_of
from testbed.ledger.keys import ViewKey
from testbed.ledger.params import MAX_READERS, MAX_SEALED_BYTES, SEAL_DOMAIN, SEAL_KEY_DOMAIN

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
"""What readers open wraps with (OpenSSL's HPKE, through `cryptography`)."""
KEY_BYTES = 32
WRAP_BYTES = 32 + KEY_BYTES + 16  # HPKE's encapsulated key, the content key, its tag
_NONCE = bytes(12)


Entropy = Callable[[bytes], bytes]
"""32 bytes of randomness for the record of a given context."""


def fresh_entropy(info: bytes) -> bytes:
    """The operating system's randomness: what every real sealer uses."""
    return os.urandom(32)


def seeded_entropy(seed: bytes) -> Entropy:
    """Randomness that is a hash of ``seed`` and the record's context: reproducible ledger
    bytes for development runs, whose keys (and so records) are public anyway. Each context
    is sealed once, so no two records share randomness."""
    return lambda info: hashlib.sha256(b"seeded-entropy/" + seed + b"|" + info).digest()


# --- RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base mode, sealing ---

_KEM_ID, _KDF_ID, _AEAD_ID = 0x0020, 0x0001, 0x0003
_KEM_SUITE = b"KEM" + struct.pack(">H", _KEM_ID)
_HPKE_SUITE = b"HPKE" + struct.pack(">HHH", _KEM_ID, _KDF_ID, _AEAD_ID)


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(32), ikm, "sha256")


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    assert length <= 32  # one HMAC block is all this suite ever needs
    labeled = struct.pack(">H", length) + b"HPKE-v1" + suite + label + info
    return hmac.digest(prk, labeled + b"\x01", "sha256")[:length]


def hpke_seal(public: bytes, ikm_e: bytes, info: bytes, plaintext: bytes,
              aad: bytes = b"") -> bytes:
    """Single-shot HPKE base-mode seal to X25519 key ``public``, the ephemeral key derived
    from ``ikm_e`` (RFC 9180 DeriveKeyPair): ``enc | ciphertext``, as `hpke.Suite` reads."""
    dkp_prk = _labeled_extract(_KEM_SUITE, b"", b"dkp_prk", ikm_e)
    ephemeral = X25519PrivateKey.from_private_bytes(
        _labeled_expand(_KEM_SUITE, dkp_prk, b"sk", b"", 32))
    enc = ephemeral.public_key().public_bytes_raw()
    dh = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
    eae_prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    shared = _labeled_expand(_KEM_SUITE, eae_prk, b"shared_secret", enc + public, 32)
    context = (b"\x00" + _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
               + _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info))
    secret = _labeled_extract(_HPKE_SUITE, shared, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, 32)
    nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, 12)
    return enc + ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad or None)


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


def seal(plaintext: bytes, readers: Iterable[bytes], info: bytes,
         entropy: Entropy = fresh_entropy) -> Sealed:
    """``plaintext`` sealed to each of ``readers`` (X25519 public keys), bound to ``info``."""
    keys = sorted(set(readers))
    if not 0 < len(keys) <= MAX_READERS:
        raise EncodingError(f"a sealed record needs 1..{MAX_READERS} readers, got {len(keys)}")
    if len(plaintext) > MAX_SEALED_BYTES:
        raise EncodingError(f"a sealed record holds at most {MAX_SEALED_BYTES} bytes")
    seed = entropy(info)
    key = hmac.digest(seed, b"content key", "sha256")
    wraps = []
    for reader in keys:
        ikm = hmac.digest(seed, b"ephemeral key for " + reader, "sha256")
        try:
            wraps.append(Wrap(reader, hpke_seal(reader, ikm, info, key)))
        except ValueError:
            raise EncodingError(f"reader {reader.hex()[:16]} is not a usable X25519 key"
                                ) from None
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
