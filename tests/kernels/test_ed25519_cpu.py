"""The Numba CPU Ed25519 backend agrees with `cryptography` (OpenSSL) on every case."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels import reference


def _both(keys, msgs, sigs):
    return (
        kernels.ed25519_verify_batch(keys, msgs, sigs, backend="reference"),
        kernels.ed25519_verify_batch(keys, msgs, sigs, backend="cpu"),
    )


def test_hard_cases_agree_with_openssl(ed_hard_cases):
    labels, keys, msgs, sigs = zip(*ed_hard_cases)
    ref, cpu = _both(list(keys), list(msgs), list(sigs))
    disagree = [label for label, r, c in zip(labels, ref, cpu) if r != c]
    assert not disagree


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


def test_random_valid_signatures_and_corruptions(make_random_batch, make_bit_flips):
    keys, msgs, sigs = make_random_batch(300, seed=1)
    ref, cpu = _both(keys, msgs, sigs)
    assert ref.all() and (cpu == ref).all()
    flipped = [t for i in range(3) for t in make_bit_flips(keys[i], msgs[i], sigs[i])]
    ref, cpu = _both(*map(list, zip(*flipped)))
    assert np.array_equal(ref, cpu)


def test_every_bit_flip_of_a_hard_case(ed_hard_cases, make_bit_flips):
    """Flips around a small-order key, where cofactored and cofactorless checks part ways."""
    case = next(c for c in ed_hard_cases if c[0] == "A=mixed order 3")
    flipped = make_bit_flips(*case[1:])
    ref, cpu = _both(*map(list, zip(*flipped)))
    assert np.array_equal(ref, cpu)


def test_empty_batch_and_mismatched_lengths():
    assert kernels.ed25519_verify_batch([], [], [], backend="cpu").shape == (0,)
    for backend in ("cpu", "reference"):
        with pytest.raises(ValueError, match="same length"):
            kernels.ed25519_verify_batch([b"k"], [], [b"s"], backend=backend)
