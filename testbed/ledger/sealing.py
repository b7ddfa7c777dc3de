"""Sealed records: one plaintext on the ledger, readable only by the parties it is sealed to.

A record is sealed to its readers' view keys (X25519) with HPKE (RFC 9180, base mode:
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305). A fresh 32-byte content key is
sealed to each reader (a *wrap*), and the plaintext once under the content key with
ChaCha20-Poly1305 (the key is used once, so the nonce is zero). Every reader opens the same
ciphertext, and the record carries ``SHA-256(SEAL_KEY_DOMAIN | content key)``: two readers
who open their wraps hold the same key, so they read the same plaintext (ChaCha20-Poly1305
alone does not commit to its key).

A sealer (a meter; the operator, for settlement details) seals a record to the same readers
every interval, so it keeps one HPKE context per reader (RFC 9180 section 5.2, multi-message
encryption): set up once, by encapsulation to the reader's key, then one AEAD per record,
with the context's sequence number, which the wrap carries so a record opens on its own.
A wrap is ``reader | enc | seq | Seal(aad = the record's context, content key)``: ``enc`` and
``seq`` are HPKE's encapsulated key and sequence number; a reader decapsulates each ``enc``
once and keeps the context. Per record that is one AEAD per reader instead of two X25519
scalar multiplications (the `cryptography` package's HPKE offers single-shot encryption
only, so the context is built here from its X25519, HMAC and ChaCha20-Poly1305, and checked
against RFC 9180's test vectors and, for a context's first message, against `cryptography`'s
own HPKE). A context lives in its sealer's memory and is never stored: a sealer that
restarts sets up new ones from fresh randomness, so no key and nonce pair is ever used twice.
(Seeded randomness, below, derives the same context again for the same seed and sealer: only
for development keys, which hide nothing anyway.)

Randomness (each context's ephemeral key, from 32 bytes as DeriveKeyPair does; each content
key) is the operating system's (`fresh_entropy`), or for a development run, whose ledger bytes
must reproduce, a hash of a public seed, the sealer and the record (`seeded_entropy`: with
development keys anyone can open everything anyway).

The *context* of a record (what it is and where it belongs: chain, kind, participant,
interval) is the associated data of its wraps and of its content, so a record cannot be moved
to another place on the ledger and still open.

Layout (canonical, `encoding`)::

    u32 n | n x (reader 32 | enc 32 | seq u64 | sealed content key 48) | key_commitment 32 |
    u32 length | ciphertext

readers in ascending byte order, each once. Who may or must read a record is the contract's
rule; this module only seals and opens.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from testbed.errors import LedgerError
from testbed.ledger.encoding import EncodingError, b32, blob, fixed, list_of, u64
from testbed.ledger.keys import ViewKey
from testbed.ledger.params import MAX_READERS, MAX_SEALED_BYTES, SEAL_DOMAIN, SEAL_KEY_DOMAIN

KEY_BYTES = 32
SEALED_KEY_BYTES = KEY_BYTES + 16  # the content key and its tag
CONTEXT_INFO = SEAL_DOMAIN + b"|context"  # HPKE's info of every sealer's context
_NONCE = bytes(12)


Entropy = Callable[[bytes], bytes]
"""32 bytes of randomness for what a label names (a context, a record)."""


def fresh_entropy(label: bytes) -> bytes:
    """The operating system's randomness: what every real sealer uses."""
    return os.urandom(32)


def seeded_entropy(seed: bytes) -> Entropy:
    """Randomness that is a hash of ``seed`` and the label: reproducible ledger bytes for
    development runs, whose keys (and so records) are public anyway. Labels name one sealer's
    context or record, so no two share randomness."""
    return lambda label: hashlib.sha256(b"seeded-entropy/" + seed + b"|" + label).digest()


# --- RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base mode ----------

_KEM_ID, _KDF_ID, _AEAD_ID = 0x0020, 0x0001, 0x0003
_KEM_SUITE = b"KEM" + struct.pack(">H", _KEM_ID)
_HPKE_SUITE = b"HPKE" + struct.pack(">HHH", _KEM_ID, _KDF_ID, _AEAD_ID)


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(32), b"HPKE-v1" + suite + label + ikm, "sha256")


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    assert length <= 32  # one HMAC block is all this suite ever needs
    labeled = struct.pack(">H", length) + b"HPKE-v1" + suite + label + info
    return hmac.digest(prk, labeled + b"\x01", "sha256")[:length]


def _shared_secret(dh: bytes, enc: bytes, public: bytes) -> bytes:
    eae_prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE, eae_prk, b"shared_secret", enc + public, 32)


@dataclass
class Context:
    """An HPKE base-mode context (RFC 9180 section 5.2): its key and base nonce; a sender's
    also counts its sequence numbers."""

    key: ChaCha20Poly1305
    base_nonce: bytes
    seq: int = 0

    @classmethod
    def schedule(cls, shared_secret: bytes, info: bytes) -> Context:
        context = (b"\x00" + _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
                   + _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info))
        secret = _labeled_extract(_HPKE_SUITE, shared_secret, b"secret", b"")
        return cls(ChaCha20Poly1305(_labeled_expand(_HPKE_SUITE, secret, b"key", context, 32)),
                   _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, 12))

    def nonce(self, seq: int) -> bytes:
        return (int.from_bytes(self.base_nonce, "big") ^ seq).to_bytes(12, "big")

    def seal(self, aad: bytes, plaintext: bytes) -> tuple[int, bytes]:
        """The next sequence number and ``plaintext`` sealed with it."""
        seq, self.seq = self.seq, self.seq + 1
        return seq, self.key.encrypt(self.nonce(seq), plaintext, aad or None)

    def open(self, seq: int, aad: bytes, ciphertext: bytes) -> bytes:
        return self.key.decrypt(self.nonce(seq), ciphertext, aad or None)


def setup_sender(public: bytes, ikm_e: bytes, info: bytes) -> tuple[bytes, Context]:
    """SetupBaseS to X25519 key ``public``, the ephemeral key derived from ``ikm_e``
    (DeriveKeyPair): the encapsulated key and the sender's context."""
    dkp_prk = _labeled_extract(_KEM_SUITE, b"", b"dkp_prk", ikm_e)
    ephemeral = X25519PrivateKey.from_private_bytes(
        _labeled_expand(_KEM_SUITE, dkp_prk, b"sk", b"", 32))
    enc = ephemeral.public_key().public_bytes_raw()
    dh = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
    return enc, Context.schedule(_shared_secret(dh, enc, public), info)


def setup_receiver(enc: bytes, key: ViewKey, info: bytes) -> Context:
    """SetupBaseR: the receiver's context for encapsulated key ``enc``."""
    dh = key.private.exchange(X25519PublicKey.from_public_bytes(enc))
    return Context.schedule(_shared_secret(dh, enc, key.public), info)


# --- records --------------------------------------------------------------------------------


class NotAddressed(LedgerError):
    """None of the view keys at hand is among a record's readers: it cannot be read here."""


class BrokenSeal(LedgerError):
    """A record addressed to a key at hand that does not open with it."""


@dataclass(frozen=True)
class Wrap:
    """The content key sealed to one reader, with the sender's context for that reader."""

    reader: bytes = b32()
    enc: bytes = b32()
    seq: int = u64()
    sealed_key: bytes = fixed(SEALED_KEY_BYTES)


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


@dataclass
class Sealer:
    """One party's sealing: a context per reader, set up on its first record. ``name``
    tells this sealer's seeded randomness from another's."""

    entropy: Entropy = fresh_entropy
    name: bytes = b""
    contexts: dict[bytes, tuple[bytes, Context]] = field(default_factory=dict)

    def seal(self, plaintext: bytes, readers: Iterable[bytes], info: bytes) -> Sealed:
        """``plaintext`` sealed to each of ``readers`` (X25519 public keys), bound to
        ``info``, which must name this record alone."""
        keys = sorted(set(readers))
        if not 0 < len(keys) <= MAX_READERS:
            raise EncodingError(f"a sealed record needs 1..{MAX_READERS} readers, "
                                f"got {len(keys)}")
        if len(plaintext) > MAX_SEALED_BYTES:
            raise EncodingError(f"a sealed record holds at most {MAX_SEALED_BYTES} bytes")
        key = self.entropy(b"content key|" + self.name + b"|" + info)
        wraps = []
        for reader in keys:
            enc, ctx = self._context(reader)
            seq, sealed_key = ctx.seal(info, key)
            wraps.append(Wrap(reader, enc, seq, sealed_key))
        return Sealed(tuple(wraps), _commitment(key),
                      ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, info))

    def _context(self, reader: bytes) -> tuple[bytes, Context]:
        known = self.contexts.get(reader)
        if known is None:
            ikm = self.entropy(b"context|" + self.name + b"|" + reader)
            try:
                known = setup_sender(reader, ikm, CONTEXT_INFO)
            except ValueError:
                raise EncodingError(f"reader {reader.hex()[:16]} is not a usable X25519 key"
                                    ) from None
            self.contexts[reader] = known
        return known


class Sealers:
    """Each party's `Sealer` of one run (meters, the operator), by name, made when first
    needed, sharing the run's randomness."""

    def __init__(self, entropy: Entropy = fresh_entropy) -> None:
        self.entropy = entropy
        self._sealers: dict[bytes, Sealer] = {}

    def of(self, name: bytes) -> Sealer:
        if name not in self._sealers:
            self._sealers[name] = Sealer(self.entropy, name)
        return self._sealers[name]


def seal(plaintext: bytes, readers: Iterable[bytes], info: bytes,
         entropy: Entropy = fresh_entropy) -> Sealed:
    """``plaintext`` sealed once, by a sealer of its own (a context per reader for it)."""
    return Sealer(entropy).seal(plaintext, readers, info)


class Keyring(dict[bytes, ViewKey]):
    """View keys at hand by their public key, and the receiver contexts opened with them
    (one per sender and reader: decapsulated once)."""

    def __init__(self, keys: Iterable[ViewKey] = ()) -> None:
        super().__init__((k.public, k) for k in keys)
        self._contexts: dict[tuple[bytes, bytes], Context] = {}

    def context(self, reader: bytes, enc: bytes) -> Context:
        found = self._contexts.get((reader, enc))
        if found is None:
            try:
                found = setup_receiver(enc, self[reader], CONTEXT_INFO)
            except ValueError:
                raise BrokenSeal(f"the wrap for view key {reader.hex()[:16]} carries no "
                                 "usable encapsulated key") from None
            self._contexts[(reader, enc)] = found
        return found


def open_sealed(sealed: Sealed, keys: Keyring, info: bytes, only: bytes | None = None) -> bytes:
    """The plaintext, opened with the first of ``keys`` among the readers (``only``: with that
    one alone, if at hand). `NotAddressed` if none is; `BrokenSeal` if it does not open."""
    for w in sealed.wraps:
        if w.reader not in keys or (only is not None and only in keys and w.reader != only):
            continue
        try:
            content_key = keys.context(w.reader, w.enc).open(w.seq, info, w.sealed_key)
        except InvalidTag:
            raise BrokenSeal(f"the wrap for view key {w.reader.hex()[:16]} does not open"
                             ) from None
        if _commitment(content_key) != sealed.key_commitment:
            raise BrokenSeal(f"view key {w.reader.hex()[:16]} opens another content key than "
                             "the record commits to")
        try:
            return ChaCha20Poly1305(content_key).decrypt(_NONCE, sealed.ciphertext, info)
        except InvalidTag:
            raise BrokenSeal("the content does not open with its committed key") from None
    raise NotAddressed("sealed to none of the view keys at hand")
