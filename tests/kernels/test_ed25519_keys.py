"""The KeyCache: combs equal to exact arithmetic, bounded memory, and verdicts that never
depend on what the cache has seen before."""

from __future__ import annotations

import random

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.ed25519_core import L
from kernels.ed25519_field import P
from kernels.ed25519_keys import KeyCache
from kernels.ed25519_tables import comb_table

from .conftest import B, challenge, encode, mul, x_from_y

POOL = [Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32) for i in range(5)]
PUBLIC = [
    p.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for p in POOL
]


def _rows(keys: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)


def _cpu(keys, msgs, sigs, cache):
    return kernels.ed25519_verify_batch(keys, msgs, sigs, backend="cpu", key_cache=cache)


def _reference(keys, msgs, sigs):
    return kernels.ed25519_verify_batch(keys, msgs, sigs, backend="reference")


def test_combs_equal_exact_arithmetic_for_minus_a():
    cache = KeyCache(admit_after=1)
    keys = PUBLIC + [encode(mul(3, B), y_offset=0)]
    slots, decodes = cache.lookup(_rows(keys), np.ones(len(keys), dtype=bool))
    assert decodes.all() and len(set(slots.tolist())) == len(keys)
    for key, slot in zip(keys, slots):
        y = int.from_bytes(key, "little") & (2**255 - 1)
        x = x_from_y(y % P, key[31] >> 7)
        assert np.array_equal(cache.combs[slot], comb_table(((-x) % P, y % P)))


def test_many_keys_admitted_at_once_are_built_across_threads(make_random_batch):
    keys, msgs, sigs = make_random_batch(60, seed=9, keys=20)  # 3 lane groups of new keys
    cache = KeyCache(admit_after=3)
    assert _cpu(keys, msgs, sigs, cache).all() and len(cache) == 20
    bad = sigs[:-1] + [sigs[0]]
    assert _cpu(keys, msgs, bad, cache).tolist() == [True] * 59 + [False]


def test_admission_after_enough_signatures_in_one_call_or_across_calls():
    cache = KeyCache(admit_after=3)
    rows = _rows(PUBLIC[:2])
    slots, _ = cache.lookup(_rows([PUBLIC[0]] * 3 + [PUBLIC[1]]), np.ones(4, dtype=bool))
    assert slots.tolist()[:3] == [slots[0]] * 3 and slots[0] >= 0 and slots[3] == -1
    cache.lookup(rows[1:], np.ones(1, dtype=bool))
    slots, _ = cache.lookup(rows[1:], np.ones(1, dtype=bool))
    assert slots[0] >= 0 and len(cache) == 2


def test_capacity_bounds_memory_and_evicts_the_least_recently_used():
    cache = KeyCache(capacity=2, admit_after=1)
    every = np.ones(1, dtype=bool)
    first, _ = cache.lookup(_rows([PUBLIC[0]]), every)
    cache.lookup(_rows([PUBLIC[1]]), every)
    cache.lookup(_rows([PUBLIC[0]]), every)  # PUBLIC[1] is now the least recently used
    third, _ = cache.lookup(_rows([PUBLIC[2]]), every)
    assert len(cache) == 2 and cache.combs.shape[0] == 2
    again, _ = cache.lookup(_rows([PUBLIC[0]]), every)
    assert again[0] == first[0] and third[0] != first[0]


def test_more_new_keys_than_capacity_in_one_call_never_share_a_slot():
    cache = KeyCache(capacity=3, admit_after=1)
    slots, _ = cache.lookup(_rows(PUBLIC), np.ones(len(PUBLIC), dtype=bool))
    combed = slots[slots >= 0]
    assert len(combed) == 3 and len(set(combed.tolist())) == 3
    keys = PUBLIC * 2
    msgs = [bytes([i]) for i in range(len(keys))]
    sigs = [POOL[i % 5].sign(m) for i, m in enumerate(msgs)]
    assert _cpu(keys, msgs, sigs, cache).all()


def test_a_flood_of_one_off_keys_builds_nothing_and_stays_bounded():
    cache = KeyCache(capacity=4, admit_after=2)
    rng = random.Random(5)
    keys = [rng.randbytes(32) for _ in range(200)]
    slots, _ = cache.lookup(_rows(keys), np.ones(len(keys), dtype=bool))
    assert (slots == -1).all() and len(cache) == 0
    assert len(cache._sightings) <= 4 * cache.capacity


def test_undecodable_key_with_a_comb_rejects_a_signature_forged_for_b():
    """A key that does not decode gets B's comb as filler; only its decodes flag stands between
    it and a signature made for B. Valid for B: R = [r]B, S = r - k (mod L)."""
    y = next(y for y in range(2, 100) if x_from_y(y, 0) is None)
    key = y.to_bytes(32, "little")
    msg = b"forged"
    r = 12345
    r_bytes = encode(mul(r, B))
    k = challenge(r_bytes, key, msg)
    sig = r_bytes + ((r - k) % L).to_bytes(32, "little")
    cache = KeyCache(admit_after=1)
    keys, msgs, sigs = [key] * 3, [msg] * 3, [sig] * 3
    assert not _cpu(keys, msgs, sigs, cache).any()
    assert len(cache) == 1 and not cache.decodes.any()
    assert not _reference(keys, msgs, sigs).any()


def test_a_key_seen_first_with_a_bad_signature_then_a_good_one():
    for admit_after in (1, 2):
        cache = KeyCache(admit_after=admit_after)
        msg = b"meter 7: 1.25 kWh"
        good = POOL[0].sign(msg)
        bad = good[:10] + bytes([good[10] ^ 1]) + good[11:]
        assert not _cpu([PUBLIC[0]] * 2, [msg] * 2, [bad] * 2, cache).any()
        assert _cpu([PUBLIC[0]] * 2, [msg] * 2, [good] * 2, cache).all()
        assert len(cache) == 1


_CORRUPTIONS = ["valid", "flip signature", "other message", "S + L", "other key"]


@st.composite
def _batches(draw):
    """A batch from a few keys that repeat, each signature valid or corrupted one way."""
    size = draw(st.integers(1, 40))
    out = []
    for _ in range(size):
        who = draw(st.integers(0, len(POOL) - 1))
        msg = draw(st.binary(max_size=200))
        how = draw(st.sampled_from(_CORRUPTIONS))
        sig = POOL[who].sign(msg)
        key = PUBLIC[who]
        if how == "flip signature":
            bit = draw(st.integers(0, 511))
            sig = bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(sig))
        elif how == "other message":
            msg += b"!"
        elif how == "S + L":
            s = int.from_bytes(sig[32:], "little") + L  # below 2^254: the same S, unreduced
            sig = sig[:32] + s.to_bytes(32, "little")
        elif how == "other key":
            key = PUBLIC[(who + 1) % len(PUBLIC)]
        out.append((key, msg, sig))
    return [list(column) for column in zip(*out)]


_SHARED = KeyCache(capacity=3, admit_after=2)  # kept across examples: hits, misses, evictions


@settings(max_examples=60, deadline=None)
@given(_batches())
def test_cached_key_verdicts_equal_openssl_on_any_batch(batch):
    keys, msgs, sigs = batch
    expected = _reference(keys, msgs, sigs)
    with_cache = _cpu(keys, msgs, sigs, _SHARED)
    fresh = _cpu(keys, msgs, sigs, KeyCache(admit_after=1))
    assert np.array_equal(with_cache, expected) and np.array_equal(fresh, expected)
