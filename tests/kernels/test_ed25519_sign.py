"""Ed25519 signing on the CPU: bit for bit what `cryptography` signs, and every signature
verifies with it; the expanded-key cache is bounded and never holds a seed.

The per-signature code the GPU runs (``sign_one``) is compiled for the CPU here too.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import kernels
from kernels.ed25519_core import DIGITS, SCALAR_LIMBS, WIDE_LIMBS
from kernels.ed25519_sign_core import sign_one
from kernels.ed25519_signing_keys import SigningKeyCache, fingerprint
from kernels.ed25519_tables import B_COMB
from kernels.packing import pack

from .conftest import RFC8032

seeds = st.binary(min_size=32, max_size=32)
messages = st.one_of(
    st.just(b""),
    st.binary(min_size=150, max_size=150),  # a ledger transaction's signing message
    st.binary(max_size=300),
    st.binary(min_size=1000, max_size=3000),
)


def _cryptography(seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(message)


def _public(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def _rows(signatures: np.ndarray) -> list[bytes]:
    assert signatures.dtype == np.uint8 and signatures.shape == (len(signatures), 64)
    return [row.tobytes() for row in signatures]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(seeds, messages), min_size=1, max_size=20))
def test_signatures_are_cryptographys_and_verify(pairs):
    batch_seeds, batch_messages = map(list, zip(*pairs))
    got = _rows(
        kernels.ed25519_sign_batch(
            batch_seeds, batch_messages, backend="cpu", key_cache=SigningKeyCache()
        )
    )
    for seed, message, signature in zip(batch_seeds, batch_messages, got):
        assert signature == _cryptography(seed, message)
        Ed25519PrivateKey.from_private_bytes(seed).public_key().verify(signature, message)


def test_rfc8032_vectors():
    secrets, _, msgs, expected = zip(*RFC8032)
    got = kernels.ed25519_sign_batch(
        [bytes.fromhex(s) for s in secrets], [bytes.fromhex(m) for m in msgs], backend="cpu"
    )
    assert [row.hex() for row in _rows(got)] == list(expected)


def test_reference_backend_is_cryptography():
    rng = random.Random(5)
    batch_seeds = [rng.randbytes(32) for _ in range(3)] * 2
    batch_messages = [rng.randbytes(rng.randrange(200)) for _ in range(6)]
    got = _rows(kernels.ed25519_sign_batch(batch_seeds, batch_messages, backend="reference"))
    assert got == [_cryptography(s, m) for s, m in zip(batch_seeds, batch_messages)]


def test_batches_around_the_lane_and_task_widths_with_the_ledgers_keys():
    """Partial groups of eight and partial tasks, serial and across the thread pool."""
    rng = random.Random(7)
    keys = [rng.randbytes(32) for _ in range(41)]
    batch_seeds = [keys[rng.randrange(41)] for _ in range(130)]
    batch_messages = [rng.randbytes(150) for _ in range(130)]
    expected = [_cryptography(s, m) for s, m in zip(batch_seeds, batch_messages)]
    cache = SigningKeyCache()
    for n in (1, 7, 8, 9, 23, 24, 25, 41, 48, 49, 130):
        got = kernels.ed25519_sign_batch(
            batch_seeds[:n], batch_messages[:n], backend="cpu", key_cache=cache
        )
        assert _rows(got) == expected[:n], n


@njit(cache=True)
def _sign_one_each(secrets, publics, slots, data, starts, lengths, out):
    """The CUDA kernel's per-thread code, one signature after another on the CPU."""
    sha_u64 = np.empty(88, np.uint64)
    sha_u8 = np.empty(64, np.uint8)
    wide = np.empty(WIDE_LIMBS, np.int64)
    scalars = np.empty((3, SCALAR_LIMBS), np.int64)
    digits = np.empty(DIGITS, np.int64)
    for i in range(slots.shape[0]):
        s = slots[i]
        sign_one(
            secrets[s], publics[s], data, starts[i], lengths[i], B_COMB, out[i],
            sha_u64, sha_u8, wide, scalars, digits,
        )  # fmt: skip


def test_gpu_code_signs_like_cryptography():
    rng = random.Random(11)
    batch_seeds = [rng.randbytes(32) for _ in range(4)] * 3
    batch_messages = [b"", bytes(150), rng.randbytes(1), rng.randbytes(129)] * 3
    cache = SigningKeyCache()
    slots = cache.lookup(batch_seeds)
    out = np.zeros((len(batch_seeds), 64), dtype=np.uint8)
    _sign_one_each(cache.secrets, cache.publics, slots, *pack(batch_messages), out)
    assert _rows(out) == [_cryptography(s, m) for s, m in zip(batch_seeds, batch_messages)]


def test_cache_expands_each_key_to_its_public_key():
    rng = random.Random(13)
    batch_seeds = [rng.randbytes(32) for _ in range(19)] + [bytes(32), b"\xff" * 32]
    cache = SigningKeyCache()
    slots = cache.lookup(batch_seeds)
    assert [cache.publics[s].tobytes() for s in slots] == [_public(s) for s in batch_seeds]


def test_cache_is_bounded_and_evicts_the_least_recently_used():
    rng = random.Random(17)
    keys = [rng.randbytes(32) for _ in range(5)]
    cache = SigningKeyCache(capacity=3)
    for batch in ([0, 1, 2], [0, 3], [4, 4, 0], [0, 1, 2, 3, 4] * 2):  # the last one: 5 > 3
        batch_seeds = [keys[i] for i in batch]
        batch_messages = [rng.randbytes(40) for _ in batch]
        got = kernels.ed25519_sign_batch(
            batch_seeds, batch_messages, backend="cpu", key_cache=cache
        )
        assert _rows(got) == [_cryptography(s, m) for s, m in zip(batch_seeds, batch_messages)]
        assert len(cache) <= 3
    with pytest.raises(ValueError, match="more than 3 distinct seeds"):
        cache.lookup(keys)


def test_cache_holds_no_seed_and_clear_zeroes_the_secrets():
    rng = random.Random(19)
    batch_seeds = [rng.randbytes(32) for _ in range(4)]
    cache = SigningKeyCache()
    kernels.ed25519_sign_batch(batch_seeds, [b"m"] * 4, backend="cpu", key_cache=cache)
    held = cache.secrets.tobytes() + cache.publics.tobytes() + b"".join(cache._slots)
    assert not any(seed in held for seed in batch_seeds)
    assert set(cache._slots) == {fingerprint(s) for s in batch_seeds}
    assert all(seed.hex() not in repr(cache) for seed in batch_seeds)
    cache.clear()
    assert len(cache) == 0 and not cache.secrets.any() and not cache.publics.any()


def test_bad_seeds_are_named_by_row_and_never_shown():
    good = bytes(range(32))
    for backend in ("cpu", "reference"):
        with pytest.raises(ValueError, match=r"rows 1, 3 are not") as error:
            kernels.ed25519_sign_batch(
                [good, good[:31], good, good + b"\x00"], [b""] * 4, backend=backend
            )
        assert good[:31].hex() not in str(error.value)
        with pytest.raises(ValueError, match="same length"):
            kernels.ed25519_sign_batch([good], [], backend=backend)
        with pytest.raises(TypeError):  # not bytes(32), the zero seed
            kernels.ed25519_sign_batch([32], [b""], backend=backend)
    signed = kernels.ed25519_sign_batch([bytearray(good), memoryview(good)], [b"m", b"m"])
    assert _rows(signed) == [_cryptography(good, b"m")] * 2


def test_empty_batch():
    for backend in ("cpu", "reference"):
        assert kernels.ed25519_sign_batch([], [], backend=backend).shape == (0, 64)
