"""Sealed records on channels (HPKE, RFC 9180): every reader opens the same plaintext; a
record opens nowhere else, on no other channel, for no one else, and not after any byte of
it changed; a channel's later records carry no wraps; no key and nonce pair repeats; the HPKE
contexts are RFC 9180's (its test vectors, and `cryptography`'s own HPKE opens a channel's
wraps)."""

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from testbed.errors import KeyFileError
from testbed.ledger import encoding as enc
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.ledger.params import SEAL_KEY_DOMAIN
from testbed.ledger.sealing import (
    BrokenSeal,
    ChannelState,
    Keyring,
    NotAddressed,
    Sealed,
    Sealer,
    advanced,
    context,
    fresh_entropy,
    next_seq,
    open_sealed,
    seal,
    seeded_entropy,
    setup_receiver,
    setup_sender,
)

READERS = [ViewKey.development(f"sealing/{n}") for n in ("home", "validators", "auditor")]
STRANGER = ViewKey.development("sealing/stranger")
INFO = context(b"reading", b"A", b"T")
CHANNEL = context(b"channel|reading", b"A")
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
H = bytes.fromhex

# RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base
RFC = {
    "info": H("4f6465206f6e2061204772656369616e2055726e"),
    "ikmE": H("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b"),
    "pkRm": H("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a"),
    "skRm": H("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb"),
    "enc": H("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a"),
    "pt": H("4265617574792069732074727574682c20747275746820626561757479"),
    "ct": {  # sequence number -> ciphertext, its associated data b"Count-<n>"
        0: "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
        1: "6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c",
        2: "71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b",
        4: "63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16",
        255: "18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c",
        256: "7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6ed9e727a5b",
    },
}


def test_contexts_are_rfc9180_a21():
    enc_, sender = setup_sender(RFC["pkRm"], RFC["ikmE"], RFC["info"])
    assert enc_ == RFC["enc"]
    receiver = setup_receiver(enc_, ViewKey(X25519PrivateKey.from_private_bytes(RFC["skRm"])),
                              RFC["info"])
    for seq, ct in RFC["ct"].items():
        aad = b"Count-%d" % seq
        assert sender.seal(aad, RFC["pt"], seq) == H(ct), seq
        assert receiver.open(seq, aad, H(ct)) == RFC["pt"]


@settings(max_examples=20, deadline=None)
@given(ikm=st.binary(min_size=32, max_size=32), info=st.binary(max_size=80),
       plain=st.binary(max_size=64))
def test_a_contexts_first_message_opens_with_cryptographys_hpke(ikm, info, plain):
    """`cryptography`'s public HPKE is single-shot without associated data: it checks the
    key schedule; the associated data and later sequence numbers are the RFC vectors'."""
    key = READERS[0]
    enc_, sender = setup_sender(key.public, ikm, info)
    ct = sender.seal(b"", plain)
    assert SUITE.decrypt(enc_ + ct, key.private, info) == plain


def _readers(keys=READERS):
    return [k.public for k in keys]


def _opened(sealed: Sealed, seq: int, known: ChannelState | None = None) -> ChannelState:
    """The channel's state once the ledger holds ``sealed``, record ``seq``."""
    return advanced(sealed, seq, known)


def test_a_channels_wraps_open_with_cryptographys_hpke():
    """A wrap is RFC 9180 single-shot base mode, the channel's context as its info: the
    reference implementation opens it to the key the opening commits to."""
    sealed = seal(b"x", _readers(), INFO, CHANNEL, 0)
    (opening,) = sealed.opening
    for key, w in zip(sorted(READERS, key=lambda k: k.public), opening.wraps, strict=True):
        channel_key = SUITE.decrypt(w.enc + w.sealed_key, key.private, CHANNEL)
        assert hashlib.sha256(SEAL_KEY_DOMAIN + channel_key).digest() == opening.key_commitment
        with pytest.raises(Exception):  # noqa: B017 - the reference's own error type
            SUITE.decrypt(w.enc + w.sealed_key, key.private, CHANNEL + b"!")


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200))
def test_every_reader_opens_the_same_plaintext(plain):
    sealed = seal(plain, _readers(), INFO, CHANNEL, 0)
    assert sealed.opening[0].readers == tuple(sorted(_readers()))
    for key in READERS:
        assert open_sealed(sealed, Keyring([key]), INFO, CHANNEL, 0) == plain
    again = enc.decode_exact(enc.encode(sealed), enc.struct_codec(Sealed))
    assert again == sealed


def test_a_channels_later_records_carry_no_wraps_and_open_in_any_order():
    sealer, readers = Sealer(), _readers()
    first = sealer.seal(b"0 Wh", readers, INFO + b"0", CHANNEL, 0)
    state = _opened(first, 0)
    records = [first]
    for i in range(1, 5):  # numbered by their place (an interval): gaps are allowed
        records.append(sealer.seal(b"%d Wh" % i, readers, INFO + b"%d" % i, CHANNEL, 10 * i,
                                   state))
        state = _opened(records[-1], 10 * i, state)
    assert all(not r.opening for r in records[1:])  # the ledger holds the channel
    assert len(enc.encode(records[1])) == 1 + 4 + len(b"1 Wh") + 16
    ring = Keyring([READERS[1]])
    open_sealed(first, ring, INFO + b"0", CHANNEL, 0)  # the channel, opened once
    for i in (4, 2, 1, 3):  # its records, each on its own
        assert open_sealed(records[i], ring, INFO + b"%d" % i, CHANNEL, 10 * i, state
                           ) == b"%d Wh" % i
    with pytest.raises(BrokenSeal):  # a record moved to another record's place
        open_sealed(records[1], ring, INFO + b"2", CHANNEL, 10, state)
    with pytest.raises(BrokenSeal):  # a record given another number
        open_sealed(records[1], ring, INFO + b"1", CHANNEL, 20, state)
    with pytest.raises(NotAddressed):  # a reader who never opened the channel
        open_sealed(records[1], Keyring([READERS[0]]), INFO + b"1", CHANNEL, 10, state)
    with pytest.raises(BrokenSeal, match="never opened"):
        open_sealed(records[1], ring, INFO + b"1", CHANNEL, 10, None)


def test_a_sealer_opens_again_until_the_ledger_holds_its_channel_and_when_readers_change():
    sealer, readers = Sealer(), _readers()
    first = sealer.seal(b"a", readers, INFO, CHANNEL, 0)
    again = sealer.seal(b"b", readers, INFO + b"1", CHANNEL, 1)  # the first not on the ledger
    assert again.opening == first.opening
    state = _opened(again, 1)
    fewer = sealer.seal(b"c", readers[:2], INFO + b"2", CHANNEL, 2, state)
    assert fewer.opening and fewer.opening[0].readers == tuple(sorted(readers[:2]))
    assert fewer.opening[0].key_commitment != first.opening[0].key_commitment
    with pytest.raises(enc.EncodingError, match="only grow"):  # the ledger is past it
        sealer.seal(b"d", readers[:2], INFO + b"1", CHANNEL, 1, state)


def test_a_number_sealed_again_is_sealed_under_a_new_key():
    """A record sealed again for its place (the first never reached the ledger) must not
    reuse its nonce under the same key: the sealer opens a new channel for it."""
    sealer, readers = Sealer(), _readers()
    first = sealer.seal(b"700 Wh", readers, INFO, CHANNEL, 5)
    again = sealer.seal(b"900 Wh", readers, INFO, CHANNEL, 5)
    assert again.opening and again.opening != first.opening
    assert again.opening[0].key_commitment != first.opening[0].key_commitment
    for record, plain in ((first, b"700 Wh"), (again, b"900 Wh")):
        assert open_sealed(record, Keyring([READERS[0]]), INFO, CHANNEL, 5) == plain


def test_only_opens_with_the_named_key_when_it_is_at_hand():
    sealed = seal(b"x", _readers(), INFO, CHANNEL, 0)
    (opening,) = sealed.opening
    broken = replace(sealed, opening=(replace(opening, wraps=tuple(
        replace(w, sealed_key=bytes(48)) if w.reader == READERS[0].public else w
        for w in opening.wraps)),))
    both = Keyring(READERS[:2])
    assert open_sealed(broken, both, INFO, CHANNEL, 0, only=READERS[1].public) == b"x"
    with pytest.raises(BrokenSeal):
        open_sealed(broken, Keyring(READERS[:2]), INFO, CHANNEL, 0, only=READERS[0].public)
    assert open_sealed(sealed, Keyring([READERS[2]]), INFO, CHANNEL, 0,
                       only=READERS[1].public) == b"x"


def test_a_record_does_not_open_for_anyone_else_or_anywhere_else():
    sealed = seal(b"1234", _readers(), INFO, CHANNEL, 0)
    with pytest.raises(NotAddressed):
        open_sealed(sealed, Keyring([STRANGER]), INFO, CHANNEL, 0)
    with pytest.raises(BrokenSeal):
        open_sealed(sealed, Keyring([READERS[0]]), context(b"reading", b"B", b"T"), CHANNEL, 0)
    with pytest.raises(BrokenSeal):  # its opening moved to another channel
        open_sealed(sealed, Keyring([READERS[0]]), INFO, context(b"channel|reading", b"B"), 0)
    with pytest.raises(BrokenSeal):  # another number: another nonce
        open_sealed(sealed, Keyring([READERS[0]]), INFO, CHANNEL, 1)


def test_any_changed_byte_is_caught():
    sealer, readers = Sealer(), _readers()
    first = sealer.seal(b"1234", readers, INFO, CHANNEL, 0)
    state = _opened(first, 0)
    later = sealer.seal(b"5678", readers, INFO + b"1", CHANNEL, 1, state)
    for record, info, plain in ((first, INFO, b"1234"), (later, INFO + b"1", b"5678")):
        raw = enc.encode(record)
        for i in range(len(raw)):
            changed = bytearray(raw)
            changed[i] ^= 1
            try:
                other = enc.decode_exact(bytes(changed), enc.struct_codec(Sealed))
            except enc.EncodingError:
                continue  # a length or count: not even a record
            opened = []
            for key in READERS:
                ring = Keyring([key])
                open_sealed(first, ring, INFO, CHANNEL, 0)  # each reader holds the channel
                try:
                    opened.append(open_sealed(other, ring, info, CHANNEL,
                                              0 if record is first else 1,
                                              None if record is first else state))
                except (BrokenSeal, NotAddressed):
                    pass
            assert opened in ([], [plain] * 2), i  # only a reader's own wrap or id changed


def test_two_readers_cannot_be_shown_two_plaintexts():
    """The channel key is committed to: a sealer who wraps another key for one reader is
    caught by that reader, instead of showing it another plaintext."""
    honest = seal(b"700", _readers(), INFO, CHANNEL, 0)
    other = seal(b"999", [READERS[0].public], INFO, CHANNEL, 0)
    forged = replace(honest, opening=(replace(honest.opening[0], wraps=tuple(
        other.opening[0].wraps[0] if w.reader == READERS[0].public else w
        for w in honest.opening[0].wraps)),))
    with pytest.raises(BrokenSeal, match="another channel key"):
        open_sealed(forged, Keyring([READERS[0]]), INFO, CHANNEL, 0)


def test_seeded_entropy_reproduces_a_record_and_fresh_entropy_never_does():
    readers = _readers()
    dev = seeded_entropy(b"development")
    assert seal(b"700", readers, INFO, CHANNEL, 0, entropy=dev) == seal(
        b"700", readers, INFO, CHANNEL, 0, entropy=dev)
    assert seal(b"700", readers, INFO, CHANNEL, 0, entropy=dev) != seal(
        b"700", readers, INFO + b"!", CHANNEL, 0, entropy=dev)
    assert Sealer(dev, b"meter-1").seal(b"700", readers, INFO, CHANNEL, 0) != Sealer(
        dev, b"meter-2").seal(b"700", readers, INFO, CHANNEL, 0)  # each its own randomness
    assert seal(b"700", readers, INFO, CHANNEL, 0) != seal(b"700", readers, INFO, CHANNEL, 0)


def test_sealing_refuses_what_it_cannot_seal():
    with pytest.raises(enc.EncodingError, match="readers"):
        seal(b"x", [], INFO, CHANNEL, 0)


class NonceUniqueness(RuleBasedStateMachine):
    """Sealers seal on two channels, with readers that change, records the ledger takes or
    not, and restarts; the ledger takes a record only if its sequence number grows, as the
    contract's rule is. Every record is opened to learn its key: no (key, nonce) pair is ever
    used twice by one sealer, nor among the records the ledger took, nor at all unless a
    development sealer restarted (seeded randomness derives a channel key again after a
    restart: only the ledger's rule then stands between it and the numbers it used)."""

    CHANNELS = (CHANNEL, context(b"channel|settlement", b"A"))

    def __init__(self) -> None:
        super().__init__()
        self.ledger: dict[bytes, ChannelState] = {}
        self.sealer = Sealer(self.entropy, b"meter")
        self.ring = Keyring(READERS)
        self.sealed_by_this_sealer: set[tuple[bytes, int]] = set()
        self.taken: set[tuple[bytes, int]] = set()
        self.all: set[tuple[bytes, int]] = set()
        self.seeded_restart = False
        self.count = 0

    entropy = staticmethod(seeded_entropy(b"nonce-property"))

    @rule(channel=st.sampled_from(CHANNELS), three=st.booleans(), taken=st.booleans(),
          ahead=st.integers(0, 2))
    def seal_one(self, channel, three, taken, ahead):
        """A record for the place ``ahead`` of the ledger's next number: the same number
        again when the last was not taken (a record sealed again)."""
        readers = _readers(READERS if three else READERS[:2])
        known = self.ledger.get(channel)
        seq = next_seq(known) + ahead
        self.count += 1
        record = self.sealer.seal(b"%d" % self.count, readers, INFO + b"%d" % self.count,
                                  channel, seq, known)
        commitment = (record.opening[0].key_commitment if record.opening
                      else known.key_commitment)
        open_sealed(record, self.ring, INFO + b"%d" % self.count, channel, seq, known)  # key
        used = (commitment, seq)
        assert used not in self.sealed_by_this_sealer
        self.sealed_by_this_sealer.add(used)
        if not self.seeded_restart:
            assert used not in self.all
        self.all.add(used)
        if taken:  # the ledger's rule: the number grows (checked above); the record counts
            assert used not in self.taken
            self.taken.add(used)
            self.ledger[channel] = advanced(record, seq, known)

    @rule(fresh=st.booleans())
    def restart(self, fresh):
        """A new sealer: its channels gone from memory, development or real randomness."""
        self.seeded_restart = self.seeded_restart or not fresh
        self.sealer = Sealer(fresh_entropy if fresh else self.entropy, b"meter")
        self.sealed_by_this_sealer = set()

    @invariant()
    def ledger_numbers_grow(self):
        for channel, state in self.ledger.items():
            assert state.last_seq >= 0 and channel in self.CHANNELS


NonceUniqueness.TestCase.settings = settings(max_examples=40, stateful_step_count=25,
                                             deadline=None)
test_no_key_and_nonce_pair_repeats = NonceUniqueness.TestCase


def test_view_key_files(tmp_path):
    key = ViewKey.generate()
    key.save(tmp_path / "a.view", "secret")
    assert ViewKey.load(tmp_path / "a.view", "secret").public == key.public
    assert "ENCRYPTED PRIVATE KEY" in (tmp_path / "a.view").read_text()
    KeyPair.generate().save(tmp_path / "signing.key", "secret")
    with pytest.raises(KeyFileError, match="not an X25519 view key"):
        ViewKey.load(tmp_path / "signing.key", "secret")
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        KeyPair.load(tmp_path / "a.view", "secret")
    with pytest.raises(KeyFileError, match="No such file"):
        ViewKey.load(tmp_path / "missing.view", "secret")
    assert key.public.hex() in repr(key) and "private" not in repr(key)
