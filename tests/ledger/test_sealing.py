"""Sealed records (HPKE, RFC 9180): every reader opens the same plaintext; a record opens
nowhere else, for no one else, and not after any byte of it changed; the HPKE contexts are
RFC 9180's (its test vectors, and `cryptography`'s own HPKE opens a context's first
message)."""

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import KeyFileError
from testbed.ledger import encoding as enc
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.ledger.sealing import (
    BrokenSeal,
    Keyring,
    NotAddressed,
    Sealed,
    Sealer,
    context,
    open_sealed,
    seal,
    seeded_entropy,
    setup_receiver,
    setup_sender,
)

READERS = [ViewKey.development(f"sealing/{n}") for n in ("home", "validators", "auditor")]
STRANGER = ViewKey.development("sealing/stranger")
INFO = context(b"reading", b"A", b"T")
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
        sender.seq = seq
        assert sender.seal(aad, RFC["pt"]) == (seq, H(ct)), seq
        assert receiver.open(seq, aad, H(ct)) == RFC["pt"]


@settings(max_examples=20, deadline=None)
@given(ikm=st.binary(min_size=32, max_size=32), info=st.binary(max_size=80),
       plain=st.binary(max_size=64))
def test_a_contexts_first_message_opens_with_cryptographys_hpke(ikm, info, plain):
    """`cryptography`'s public HPKE is single-shot without associated data: it checks the
    key schedule; the associated data and later sequence numbers are the RFC vectors'."""
    key = READERS[0]
    enc_, sender = setup_sender(key.public, ikm, info)
    _, ct = sender.seal(b"", plain)
    assert SUITE.decrypt(enc_ + ct, key.private, info) == plain


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200))
def test_every_reader_opens_the_same_plaintext(plain):
    sealed = seal(plain, [k.public for k in READERS], INFO)
    assert sealed.readers == tuple(sorted(k.public for k in READERS))
    for key in READERS:
        assert open_sealed(sealed, Keyring([key]), INFO) == plain
    again = enc.decode_exact(enc.encode(sealed), enc.struct_codec(Sealed))
    assert again == sealed


def test_a_sealer_keeps_one_context_per_reader_and_records_open_in_any_order():
    sealer = Sealer()
    readers = [k.public for k in READERS]
    records = [sealer.seal(b"%d Wh" % i, readers, INFO + b"%d" % i) for i in range(5)]
    assert {w.enc for r in records for w in r.wraps if w.reader == readers[0]} == {
        records[0].wraps[0].enc}  # one encapsulation per reader
    assert [w.seq for r in records for w in r.wraps][:3] == [0, 0, 0]
    ring = Keyring([READERS[1]])
    for i in (4, 0, 2, 1, 3):  # each record opens on its own
        assert open_sealed(records[i], ring, INFO + b"%d" % i) == b"%d Wh" % i
    with pytest.raises(BrokenSeal):  # a wrap moved to another record's place
        open_sealed(records[1], ring, INFO + b"2")


def test_only_opens_with_the_named_key_when_it_is_at_hand():
    sealed = seal(b"x", [k.public for k in READERS], INFO)
    both = Keyring(READERS[:2])
    broken = replace(sealed, wraps=tuple(replace(w, sealed_key=bytes(48))
                                         if w.reader == READERS[0].public else w
                                         for w in sealed.wraps))
    assert open_sealed(broken, both, INFO, only=READERS[1].public) == b"x"
    with pytest.raises(BrokenSeal):
        open_sealed(broken, both, INFO, only=READERS[0].public)
    assert open_sealed(sealed, Keyring([READERS[2]]), INFO, only=READERS[1].public) == b"x"


def test_a_record_does_not_open_for_anyone_else_or_anywhere_else():
    sealed = seal(b"1234", [k.public for k in READERS], INFO)
    with pytest.raises(NotAddressed):
        open_sealed(sealed, Keyring([STRANGER]), INFO)
    with pytest.raises(BrokenSeal):
        open_sealed(sealed, Keyring([READERS[0]]), context(b"reading", b"B", b"T"))


def test_any_changed_byte_is_caught():
    sealed = seal(b"1234", [k.public for k in READERS], INFO)
    raw = enc.encode(sealed)
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 1
        try:
            other = enc.decode_exact(bytes(changed), enc.struct_codec(Sealed))
        except enc.EncodingError:
            continue  # a length or count: not even a record
        opened = []
        for key in READERS:
            try:
                opened.append(open_sealed(other, Keyring([key]), INFO))
            except (BrokenSeal, NotAddressed):
                pass
        assert opened in ([], [b"1234"] * 2), i  # only a reader's own wrap or id changed


def test_two_readers_cannot_be_shown_two_plaintexts():
    """The content key is committed to: a sealer who wraps another key for one reader is
    caught by that reader, instead of showing it another plaintext."""
    honest = seal(b"700", [k.public for k in READERS], INFO)
    other = seal(b"999", [READERS[0].public], INFO)
    forged = replace(honest, wraps=tuple(other.wraps[0] if w.reader == READERS[0].public
                                         else w for w in honest.wraps))
    with pytest.raises(BrokenSeal, match="another content key"):
        open_sealed(forged, Keyring([READERS[0]]), INFO)


def test_seeded_entropy_reproduces_a_record_and_fresh_entropy_never_does():
    readers = [k.public for k in READERS]
    dev = seeded_entropy(b"development")
    assert seal(b"700", readers, INFO, dev) == seal(b"700", readers, INFO, dev)
    assert seal(b"700", readers, INFO, dev) != seal(b"700", readers, INFO + b"!", dev)
    assert Sealer(dev, b"meter-1").seal(b"700", readers, INFO) != Sealer(
        dev, b"meter-2").seal(b"700", readers, INFO)  # each sealer its own randomness
    assert seal(b"700", readers, INFO) != seal(b"700", readers, INFO)


def test_sealing_refuses_what_it_cannot_seal():
    with pytest.raises(enc.EncodingError, match="readers"):
        seal(b"x", [], INFO)


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
