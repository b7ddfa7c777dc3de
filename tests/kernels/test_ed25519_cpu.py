"""Ed25519 on the CPU agrees with `cryptography` (OpenSSL) on every case, on both paths.

A key with a comb in the KeyCache takes the comb path, any other key the window path; the
``path`` fixture forces one or the other with a cache that admits every key at once or none.
The per-signature code the GPU runs (``verify_one``) is compiled for the CPU here too.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import kernels
from kernels import reference
from kernels.ed25519_field import FE_LIMBS
from kernels.ed25519_inputs import pack_batch
from kernels.ed25519_keys import KeyCache
from kernels.ed25519_tables import B_COMB, CACHED, DIGITS, ENTRIES, verify_one

NEVER = 10**9


@pytest.fixture(params=["comb", "window"])
def path(request):
    return request.param


def _cache(path: str) -> KeyCache:
    return KeyCache(admit_after=1 if path == "comb" else NEVER)


def _both(keys, msgs, sigs, path):
    return (
        kernels.ed25519_verify_batch(keys, msgs, sigs, backend="reference"),
        kernels.ed25519_verify_batch(keys, msgs, sigs, backend="cpu", key_cache=_cache(path)),
    )


@njit(cache=True)
def _verify_one_each(keys, sigs, data, starts, lengths, usable, slots, combs, out):
    """The CUDA kernel's per-thread code, one signature after another on the CPU."""
    window = np.empty((ENTRIES, CACHED, FE_LIMBS), np.uint64)
    sha_u64 = np.empty(88, np.uint64)
    sha_u8 = np.empty(64, np.uint8)
    limbs = np.empty(25, np.int64)
    k_digits = np.empty(DIGITS, np.int64)
    s_digits = np.empty(DIGITS, np.int64)
    for i in range(keys.shape[0]):
        if usable[i]:
            out[i] = verify_one(
                keys[i], sigs[i], data, starts[i], lengths[i], slots[i], combs, B_COMB,
                window, sha_u64, sha_u8, limbs, k_digits, s_digits,
            )  # fmt: skip


def _verify_scalar(keys, msgs, sigs, path):
    cache = _cache(path)
    keys, sigs, data, starts, lengths, well_formed = pack_batch(keys, msgs, sigs)
    slots, decodes = cache.lookup(keys, well_formed)
    out = np.zeros(len(keys), dtype=bool)
    _verify_one_each(
        keys, sigs, data, starts, lengths, well_formed & decodes, slots, cache.combs, out
    )
    return out


def test_hard_cases_agree_with_openssl(ed_hard_cases, path):
    labels, keys, msgs, sigs = zip(*ed_hard_cases)
    ref, cpu = _both(list(keys), list(msgs), list(sigs), path)
    assert [label for label, r, c in zip(labels, ref, cpu) if r != c] == []


def test_gpu_code_agrees_with_openssl_on_hard_cases(ed_hard_cases, path):
    labels, keys, msgs, sigs = map(list, zip(*ed_hard_cases))
    ref = reference.ed25519_verify_batch(keys, msgs, sigs)
    got = _verify_scalar(keys, msgs, sigs, path)
    assert [label for label, r, g in zip(labels, ref, got) if r != g] == []


def test_hard_cases_exercise_both_verdicts(ed_hard_cases):
    """The rule as documented in kernels.ed25519_core, pinned on the reference itself."""
    verdict = {
        label: bool(ok)
        for (label, *_), ok in zip(
            ed_hard_cases,
            reference.ed25519_verify_batch(*map(list, zip(*(c[1:] for c in ed_hard_cases)))),
        )
    }
    assert verdict["rfc8032-1"] and verdict["plain"] and verdict["S=L-1"] is False
    assert not verdict["S+L"] and not verdict["S=L"] and not verdict["S=2^256-1"]
    assert verdict["R=identity"]
    assert not verdict["R=identity y+p"] and not verdict["R=identity sign"]
    assert all(verdict[f"A=small order {i}"] for i in range(8))
    assert all(verdict[f"A=mixed order {i}"] for i in range(8))
    assert verdict["A=non-canonical y=1 sign=0"] and verdict["A=identity with sign bit"]
    assert not verdict["A=not on curve"] and not verdict["key 31 bytes"]


def test_random_valid_signatures_and_corruptions(make_random_batch, make_bit_flips, path):
    keys, msgs, sigs = make_random_batch(300, seed=1)
    ref, cpu = _both(keys, msgs, sigs, path)
    assert ref.all() and (cpu == ref).all()
    flipped = [t for i in range(3) for t in make_bit_flips(keys[i], msgs[i], sigs[i])]
    ref, cpu = _both(*map(list, zip(*flipped)), path)
    assert np.array_equal(ref, cpu)


def test_every_bit_flip_of_a_hard_case(ed_hard_cases, make_bit_flips, path):
    """Flips around a small-order key, where cofactored and cofactorless checks part ways."""
    case = next(c for c in ed_hard_cases if c[0] == "A=mixed order 3")
    flipped = make_bit_flips(*case[1:])
    ref, cpu = _both(*map(list, zip(*flipped)), path)
    assert np.array_equal(ref, cpu)


def test_batches_of_every_size_around_the_lane_and_task_widths(make_random_batch):
    """Partial groups of eight and partial tasks, serial and across the thread pool."""
    keys, msgs, sigs = make_random_batch(260, seed=4, keys=3)
    sigs[5] = sigs[6]  # one invalid signature in the middle of a group
    ref = reference.ed25519_verify_batch(keys, msgs, sigs)
    for n in (1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 260):
        for path in ("comb", "window"):
            got = kernels.ed25519_verify_batch(
                keys[:n], msgs[:n], sigs[:n], backend="cpu", key_cache=_cache(path)
            )
            assert np.array_equal(got, ref[:n]), (n, path)


def test_default_cache_is_used_and_kept_between_calls(make_random_batch):
    keys, msgs, sigs = make_random_batch(40, seed=2, keys=2)
    for _ in range(2):
        assert kernels.ed25519_verify_batch(keys, msgs, sigs, backend="cpu").all()
    from kernels.ed25519_keys import DEFAULT_KEY_CACHE

    assert len(DEFAULT_KEY_CACHE) >= 2


def test_empty_batch_and_mismatched_lengths():
    assert kernels.ed25519_verify_batch([], [], [], backend="cpu").shape == (0,)
    for backend in ("cpu", "reference"):
        with pytest.raises(ValueError, match="same length"):
            kernels.ed25519_verify_batch([b"k"], [], [b"s"], backend=backend)
