"""CUDA kernels in Numba's simulator (run by test_cuda_simulator.py with NUMBA_ENABLE_CUDASIM=1).

Not collected directly (no test_ prefix): the simulator must be switched on before numba is
imported, which only a fresh process can guarantee.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

import kernels

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run through test_cuda_simulator.py"


def test_sha256_edge_lengths():
    messages = [bytes(range(n % 256)) * (1 + n // 256) for n in (0, 1, 55, 56, 64, 119, 200)]
    got = kernels.sha256_batch(messages, backend="cuda")
    assert [row.tobytes() for row in got] == [hashlib.sha256(m).digest() for m in messages]


def test_merkle_roots():
    for n in range(10):
        leaves = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
        assert kernels.merkle_root(leaves, backend="cuda") == kernels.merkle_root(
            leaves, backend="reference"
        )


def test_ed25519_hard_cases(ed_hard_cases):
    labels, keys, msgs, sigs = map(list, zip(*ed_hard_cases))
    ref = kernels.ed25519_verify_batch(keys, msgs, sigs, backend="reference")
    got = kernels.ed25519_verify_batch(keys, msgs, sigs, backend="cuda")
    assert [lab for lab, r, g in zip(labels, ref, got) if r != g] == []


def test_ed25519_random_and_flipped(make_random_batch, make_bit_flips):
    keys, msgs, sigs = make_random_batch(6, seed=3)
    flips = make_bit_flips(keys[0], msgs[0], sigs[0])
    picked = [flips[i] for i in range(0, len(flips), max(1, len(flips) // 24))]
    keys += [f[0] for f in picked]
    msgs += [f[1] for f in picked]
    sigs += [f[2] for f in picked]
    ref = kernels.ed25519_verify_batch(keys, msgs, sigs, backend="reference")
    got = kernels.ed25519_verify_batch(keys, msgs, sigs, backend="cuda")
    assert ref[:6].all() and np.array_equal(ref, got)
