"""CUDA kernels in Numba's simulator (run by test_cuda_simulator.py with NUMBA_ENABLE_CUDASIM=1).

Not collected directly (no test_ prefix): the simulator must be switched on before numba is
imported, which only a fresh process can guarantee.
"""

from __future__ import annotations

import hashlib
import os

import pytest

import kernels
from kernels.ed25519_keys import KeyCache

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


# One case of each kind (the CPU tests run every case through the same per-thread code).
SIMULATED = [
    "rfc8032-1",
    "plain",
    "S+L",
    "S=L-1",
    "R=identity",
    "R=identity sign",
    "A=small order 3",
    "A=mixed order 5",
    "R=mixed order 2",
    "A=non-canonical y=1 sign=0",
    "A=identity with sign bit",
    "A=not on curve",
    "key 31 bytes",
    "sig 65 bytes",
]


@pytest.mark.parametrize("admit_after", [1, 10**9], ids=["comb", "window"])
def test_ed25519_cases_agree_with_cpu_and_reference(ed_hard_cases, make_random_batch, admit_after):
    cases = [c for c in ed_hard_cases if c[0] in SIMULATED]
    assert len(cases) == len(SIMULATED)
    labels, keys, msgs, sigs = map(list, zip(*cases))
    more = make_random_batch(6, seed=3, keys=2)  # keys that repeat, with one forged signature
    more[2][4] = more[2][5]
    labels += ["random"] * 6
    keys, msgs, sigs = keys + more[0], msgs + more[1], sigs + more[2]
    ref = kernels.ed25519_verify_batch(keys, msgs, sigs, backend="reference")
    cpu = kernels.ed25519_verify_batch(
        keys, msgs, sigs, backend="cpu", key_cache=KeyCache(admit_after=admit_after)
    )
    cuda = kernels.ed25519_verify_batch(
        keys, msgs, sigs, backend="cuda", key_cache=KeyCache(admit_after=admit_after)
    )
    assert [lab for lab, r, c, g in zip(labels, ref, cpu, cuda) if not r == c == g] == []
    assert ref.any() and not ref.all()


def test_ed25519_signatures_agree_with_cpu_and_reference():
    import random

    from kernels.ed25519_signing_keys import SigningKeyCache

    rng = random.Random(23)
    keys = [rng.randbytes(32) for _ in range(2)]
    seeds = [keys[0], keys[1], keys[0]]  # a key that signs twice
    messages = [b"", rng.randbytes(150), rng.randbytes(129)]
    ref = kernels.ed25519_sign_batch(seeds, messages, backend="reference")
    cpu = kernels.ed25519_sign_batch(seeds, messages, backend="cpu", key_cache=SigningKeyCache())
    cuda = kernels.ed25519_sign_batch(seeds, messages, backend="cuda", key_cache=SigningKeyCache())
    assert ref.tobytes() == cpu.tobytes() == cuda.tobytes()
