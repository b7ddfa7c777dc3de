"""Sealed records (HPKE, RFC 9180): every reader opens the same plaintext; a record opens
nowhere else, for no one else, and not after any byte of it changed."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.errors import KeyFileError
from testbed.ledger import encoding as enc
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.ledger.sealing import (
    SUITE,
    BrokenSeal,
    NotAddressed,
    Sealed,
    context,
    hpke_seal,
    keyring,
    open_sealed,
    seal,
    seeded_entropy,
)

READERS = [ViewKey.development(f"sealing/{n}") for n in ("home", "validators", "auditor")]
STRANGER = ViewKey.development("sealing/stranger")
INFO = context(b"reading", b"A", b"T")


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200))
def test_every_reader_opens_the_same_plaintext(plain):
    sealed = seal(plain, [k.public for k in READERS], INFO)
    assert sealed.readers == tuple(sorted(k.public for k in READERS))
    for key in READERS:
        assert open_sealed(sealed, keyring([key]), INFO) == plain
    again = enc.decode_exact(enc.encode(sealed), enc.struct_codec(Sealed))
    assert again == sealed


def test_hpke_seal_is_rfc9180_a21():
    """RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305,
    base mode, the first encryption (its associated data "Count-0")."""
    h = bytes.fromhex
    out = hpke_seal(h("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a"),
                    h("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b"),
                    h("4f6465206f6e2061204772656369616e2055726e"),
                    h("4265617574792069732074727574682c20747275746820626561757479"),
                    aad=b"Count-0")
    assert out.hex() == (
        "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a"  # enc
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db"
        "21993c62ce81883d2dd1b51a28")


@settings(max_examples=20, deadline=None)
@given(ikm=st.binary(min_size=32, max_size=32), info=st.binary(max_size=80),
       plain=st.binary(max_size=64))
def test_every_wrap_opens_with_cryptographys_hpke(ikm, info, plain):
    key = READERS[0]
    assert SUITE.decrypt(hpke_seal(key.public, ikm, info, plain), key.private, info) == plain


def test_seeded_entropy_reproduces_a_record_and_fresh_entropy_never_does():
    readers = [k.public for k in READERS]
    dev = seeded_entropy(b"development")
    assert seal(b"700", readers, INFO, dev) == seal(b"700", readers, INFO, dev)
    assert seal(b"700", readers, INFO, dev) != seal(b"700", readers, INFO + b"!", dev)
    assert seal(b"700", readers, INFO) != seal(b"700", readers, INFO)


def test_a_record_does_not_open_for_anyone_else_or_anywhere_else():
    sealed = seal(b"1234", [k.public for k in READERS], INFO)
    with pytest.raises(NotAddressed):
        open_sealed(sealed, keyring([STRANGER]), INFO)
    with pytest.raises(BrokenSeal):
        open_sealed(sealed, keyring([READERS[0]]), context(b"reading", b"B", b"T"))


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
                opened.append(open_sealed(other, keyring([key]), INFO))
            except (BrokenSeal, NotAddressed):
                pass
        assert opened in ([], [b"1234"] * 2), i  # only a reader's own wrap or id changed


def test_two_readers_cannot_be_shown_two_plaintexts():
    """The content key is committed to: a sealer who wraps another key for one reader is
    caught by that reader, instead of showing it another plaintext."""
    honest = seal(b"700", [k.public for k in READERS], INFO)
    other = seal(b"999", [READERS[0].public], INFO)
    forged = replace(honest, wraps=tuple(replace(w, wrap=other.wraps[0].wrap)
                                         if w.reader == READERS[0].public else w
                                         for w in honest.wraps))
    with pytest.raises(BrokenSeal, match="another content key"):
        open_sealed(forged, keyring([READERS[0]]), INFO)


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
