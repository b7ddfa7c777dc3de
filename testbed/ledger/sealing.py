"""Sealed records: one plaintext on the ledger, readable only by the parties it is sealed to.

A sealer seals a stream of records to the same readers (one home's meter readings, say) on a
*channel*. The channel's first record carries its `Opening`: a fresh 32-byte channel key
sealed to each reader's view key (X25519) with HPKE (RFC 9180, base mode, single-shot:
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; its info is the channel's
context, so a wrap opens for no other channel), and ``SHA-256(SEAL_KEY_DOMAIN | channel
key)``. Every record, the first included, is one ChaCha20-Poly1305 ciphertext under the key
and base nonce that RFC 9180's key schedule derives from the channel key (taken as the shared
secret) and the channel's context; the record's associated data is its own context (what it
is and where it belongs: chain, kind, participant, interval), so a record cannot be moved to
another place on the ledger and still open. Later records carry no wraps: a reader opens the
opening once and keeps the channel's key, so a record costs its ciphertext, its tag and its
length, not three key encapsulations.

Every reader opens the same ciphertext with the same key: each checks the key its wrap opens
to against the opening's commitment (ChaCha20-Poly1305 alone does not commit to its key), so
two readers cannot be shown two plaintexts.

Nonces never repeat under one key, by construction rather than by chance: a record's ``seq``
is not carried by the record but named by its place on the ledger (a reading's or a
settlement's interval, in seconds), and the record uses ``base_nonce XOR seq`` (as HPKE
numbers its own messages). The ledger's rule is that a place's numbers only grow
(`ChannelState`, whichever key its channel has), so no two accepted records share one; a
sealer never seals twice with one number under one key: asked for a number it has used (a
record sealed again, its first never on the ledger), it opens a new channel, with a fresh
key. A channel key lives in its sealer's memory only: a sealer that restarts opens a new
channel too.

Randomness (each channel key, each wrap's ephemeral key, from 32 bytes as DeriveKeyPair does)
is the operating system's (`fresh_entropy`), or for a development run, whose ledger bytes must
reproduce, a hash of a public seed, the sealer and what it opens (`seeded_entropy`: with
development keys anyone can open everything anyway).

Layout (canonical, `encoding`)::

    u8 n (0 or 1) | n x opening | u32 length | ciphertext
    opening: u8 m | m x (reader 32 | enc 32 | sealed channel key 48) | key_commitment 32

readers in ascending byte order, each once. Who may or must read a record, and which channel
state a record continues, is the contract's rule; this module only seals and opens.
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
from testbed.ledger.encoding import B32, EncodingError, b32, blob, fixed, list_of, u64
from testbed.ledger.keys import ViewKey
from testbed.ledger.params import MAX_READERS, MAX_SEALED_BYTES, SEAL_DOMAIN, SEAL_KEY_DOMAIN

KEY_BYTES = 32
SEALED_KEY_BYTES = KEY_BYTES + 16  # the channel key and its tag
RECORDS_INFO = b"|records"  # after a channel's context: the info of its records' key schedule


Entropy = Callable[[bytes], bytes]
"""32 bytes of randomness for what a label names (a channel key, a wrap)."""


def fresh_entropy(label: bytes) -> bytes:
    """The operating system's randomness: what every real sealer uses."""
    return os.urandom(32)


def seeded_entropy(seed: bytes) -> Entropy:
    """Randomness that is a hash of ``seed`` and the label: reproducible ledger bytes for
    development runs, whose keys (and so records) are public anyway. Labels name one sealer's
    channel or wrap, so no two share randomness."""
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

    def seal(self, aad: bytes, plaintext: bytes, seq: int | None = None) -> bytes:
        """``plaintext`` sealed with sequence number ``seq`` (default: the next), which must
        not be below the next; the next is then the one after it."""
        seq = self.seq if seq is None else seq
        assert seq >= self.seq, "a sequence number used, or passed over, under this key"
        self.seq = seq + 1
        return self.key.encrypt(self.nonce(seq), plaintext, aad or None)

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
    """The channel key sealed to one reader: HPKE's encapsulated key and ciphertext."""

    reader: bytes = b32()
    enc: bytes = b32()
    sealed_key: bytes = fixed(SEALED_KEY_BYTES)


@dataclass(frozen=True)
class Opening:
    """A channel's key, sealed to each of its readers, and the commitment to it."""

    wraps: tuple[Wrap, ...] = list_of(Wrap, MAX_READERS)
    key_commitment: bytes = b32()

    @property
    def readers(self) -> tuple[bytes, ...]:
        return tuple(w.reader for w in self.wraps)


@dataclass(frozen=True)
class Sealed:
    """A record of a channel: the channel's opening (its first record, or one the ledger
    does not hold yet) and its ciphertext. Its sequence number is its place's on the ledger
    (an interval), not carried here."""

    opening: tuple[Opening, ...] = list_of(Opening, 1)
    ciphertext: bytes = blob(MAX_SEALED_BYTES + 16)


@dataclass(frozen=True)
class ChannelState:
    """What the ledger holds of the channel a place's records are sealed on: its readers, the
    commitment to its key and the last sequence number a record used."""

    readers: tuple[bytes, ...] = list_of(B32, MAX_READERS)
    key_commitment: bytes = b32()
    last_seq: int = u64()


def context(kind: bytes, *parts: bytes) -> bytes:
    """The bytes a record (or a channel) is bound to: the domain, its kind and its place."""
    return SEAL_DOMAIN + b"|" + kind + b"|" + b"".join(parts)


def _commitment(key: bytes) -> bytes:
    return hashlib.sha256(SEAL_KEY_DOMAIN + key).digest()


def _records(key: bytes, channel: bytes) -> Context:
    return Context.schedule(key, channel + RECORDS_INFO)


def next_seq(known: ChannelState | None) -> int:
    """The least sequence number a record may use after ``known`` (None: nothing yet)."""
    return 0 if known is None else known.last_seq + 1


def readers_of(sealed: Sealed, known: ChannelState | None) -> tuple[bytes, ...]:
    """Whom ``sealed`` is sealed to: its opening's readers, else its channel's."""
    if sealed.opening:
        return sealed.opening[0].readers
    assert known is not None, "a record on a channel never opened has no readers"
    return known.readers


def advanced(sealed: Sealed, seq: int, known: ChannelState | None) -> ChannelState:
    """The channel's state after ``sealed``, record ``seq`` (checked by the caller)."""
    if sealed.opening:
        opening = sealed.opening[0]
        return ChannelState(opening.readers, opening.key_commitment, seq)
    assert known is not None
    return ChannelState(known.readers, known.key_commitment, seq)


@dataclass
class _Channel:
    """A sealer's open channel: its readers, its opening and its records' context (whose
    ``seq`` is the next number to use)."""

    readers: tuple[bytes, ...]
    opening: Opening
    records: Context


@dataclass
class Sealer:
    """One party's sealing: a channel per place it seals for, opened on its first record
    there. ``name`` tells this sealer's seeded randomness from another's."""

    entropy: Entropy = fresh_entropy
    name: bytes = b""
    channels: dict[bytes, _Channel] = field(default_factory=dict)
    opened: int = 0  # channels opened so far: each one's randomness is its own

    def seal(self, plaintext: bytes, readers: Iterable[bytes], info: bytes, channel: bytes,
             seq: int, known: ChannelState | None = None) -> Sealed:
        """``plaintext`` sealed to each of ``readers`` (X25519 public keys) on ``channel`` (the
        context of the place it serves) as record ``seq`` (its place's number on the ledger),
        bound to ``info``, which must name this record alone; ``known``: that place's channel
        as the ledger holds it. The record carries its channel's opening until the ledger
        holds it; a number this sealer has used under the channel's key opens a new one."""
        keys = tuple(sorted(set(readers)))
        if not 0 < len(keys) <= MAX_READERS:
            raise EncodingError(f"a sealed record needs 1..{MAX_READERS} readers, "
                                f"got {len(keys)}")
        if len(plaintext) > MAX_SEALED_BYTES:
            raise EncodingError(f"a sealed record holds at most {MAX_SEALED_BYTES} bytes")
        if seq < next_seq(known):
            raise EncodingError(f"record {seq} of a channel the ledger holds up to "
                                f"{next_seq(known) - 1}: numbers only grow")
        open_ = self.channels.get(channel)
        if open_ is None or open_.readers != keys or seq < open_.records.seq:
            open_ = self.channels[channel] = self._open(channel, keys, seq)
        ciphertext = open_.records.seal(info, plaintext, seq)
        held = (known is not None and known.readers == keys
                and known.key_commitment == open_.opening.key_commitment)
        return Sealed(() if held else (open_.opening,), ciphertext)

    def _open(self, channel: bytes, readers: tuple[bytes, ...], first_seq: int) -> _Channel:
        self.opened += 1
        label = (b"|" + self.name + b"|" + channel + b"|" + b"".join(readers)
                 + struct.pack(">QQ", first_seq, self.opened))
        key = self.entropy(b"channel key" + label)
        wraps = []
        for reader in readers:
            try:
                enc, ctx = setup_sender(reader, self.entropy(b"wrap|" + reader + label),
                                        channel)
            except ValueError:
                raise EncodingError(f"reader {reader.hex()[:16]} is not a usable X25519 key"
                                    ) from None
            wraps.append(Wrap(reader, enc, ctx.seal(b"", key)))
        return _Channel(readers, Opening(tuple(wraps), _commitment(key)), _records(key, channel))


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


def seal(plaintext: bytes, readers: Iterable[bytes], info: bytes, channel: bytes, seq: int,
         known: ChannelState | None = None, entropy: Entropy = fresh_entropy) -> Sealed:
    """``plaintext`` sealed once, by a sealer of its own: on a channel of its own, opened in
    this record."""
    return Sealer(entropy).seal(plaintext, readers, info, channel, seq, known)


class Keyring(dict[bytes, ViewKey]):
    """View keys at hand by their public key, and the channels opened with them (their
    records' contexts, by channel and key commitment): a later record of a channel needs
    no key exchange."""

    def __init__(self, keys: Iterable[ViewKey] = ()) -> None:
        super().__init__((k.public, k) for k in keys)
        self._channels: dict[tuple[bytes, bytes], Context] = {}

    def open_channel(self, opening: Opening, channel: bytes, only: bytes | None = None
                     ) -> Context:
        """The records' context of the channel ``opening`` opens, with the first of these
        keys among its readers (``only``: that one alone, if at hand). `NotAddressed` if none
        is; `BrokenSeal` if it does not open, or opens to a key other than the committed.
        The wrap is opened every time: whether a record opens must not depend on what this
        keyring happened to see before (a refused record, say)."""
        for w in opening.wraps:
            if w.reader not in self or (only is not None and only in self and w.reader != only):
                continue
            try:
                key = setup_receiver(w.enc, self[w.reader], channel).open(0, b"", w.sealed_key)
            except ValueError:
                raise BrokenSeal(f"the wrap for view key {w.reader.hex()[:16]} carries no "
                                 "usable encapsulated key") from None
            except InvalidTag:
                raise BrokenSeal(f"the wrap for view key {w.reader.hex()[:16]} does not open"
                                 ) from None
            if _commitment(key) != opening.key_commitment:
                raise BrokenSeal(f"view key {w.reader.hex()[:16]} opens another channel key "
                                 "than the opening commits to")
            records = self._channels[(channel, opening.key_commitment)] = _records(key, channel)
            return records
        raise NotAddressed("sealed to none of the view keys at hand")

    def channel(self, channel: bytes, key_commitment: bytes) -> Context:
        """The records' context of a channel opened here before; `NotAddressed` if none was."""
        known = self._channels.get((channel, key_commitment))
        if known is None:
            raise NotAddressed("sealed on a channel none of the view keys at hand opened")
        return known


def open_sealed(sealed: Sealed, keys: Keyring, info: bytes, channel: bytes, seq: int,
                known: ChannelState | None = None, only: bytes | None = None) -> bytes:
    """The plaintext of record ``seq`` on ``channel``, bound to ``info``; ``known``: the
    channel as the ledger held it before this record (``only``: as for `Keyring.open_channel`).
    `NotAddressed` if no key at hand reads it; `BrokenSeal` if it does not open."""
    if sealed.opening:
        records = keys.open_channel(sealed.opening[0], channel, only)
    elif known is None:
        raise BrokenSeal("a record on a channel never opened")
    else:
        records = keys.channel(channel, known.key_commitment)
    try:
        return records.open(seq, info, sealed.ciphertext)
    except InvalidTag:
        raise BrokenSeal("the content does not open with its channel's key") from None
