"""`testbed bench kernels`: the validation kernels side by side with their baselines.

- Ed25519 verification, signatures per second: Numba `cpu` vs `reference` (`cryptography`,
  threads on every core), on the ledger's call shape (keys reused by many signatures,
  ~150-byte messages).
- SHA-256 of 64-byte messages and the Merkle root of 2^20 leaves: `cpu` vs a plain hashlib loop.
- `cuda` runs too whenever a usable GPU is present.
"""

from __future__ import annotations

import hashlib
import random

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import kernels
from kernels import reference
from testbed.bench import BenchResult, median_seconds


def _signed_batch(count: int, keys: int, rng: random.Random) -> tuple[list, list, list]:
    privates = [Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)) for _ in range(keys)]
    publics = [
        p.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        for p in privates
    ]
    pks, msgs, sigs = [], [], []
    for i in range(count):
        message = rng.randbytes(150)
        pks.append(publics[i % keys])
        msgs.append(message)
        sigs.append(privates[i % keys].sign(message))
    return pks, msgs, sigs


def run(quick: bool = False) -> BenchResult:
    rng = random.Random(2026)
    repeats = 3 if quick else 5
    n_sigs = 64 if quick else 20_000
    n_hashes = 4096 if quick else 1 << 20
    n_leaves = 1 << (10 if quick else 20)
    backends = ["cpu", "cuda"] if kernels._gpu_usable() else ["cpu"]
    results: dict[str, float] = {}
    ratios: dict[str, float] = {}

    batch = _signed_batch(n_sigs, keys=max(1, n_sigs // 50), rng=rng)
    base = median_seconds(lambda: reference.ed25519_verify_batch(*batch), repeats)
    results["ed25519_reference_sigs_per_s"] = n_sigs / base
    for name in backends:
        t = median_seconds(
            lambda name=name: kernels.ed25519_verify_batch(*batch, backend=name), repeats
        )
        results[f"ed25519_{name}_sigs_per_s"] = n_sigs / t
        ratios[f"ed25519_{name}_vs_reference"] = base / t

    messages = [rng.randbytes(64) for _ in range(n_hashes)]
    base = median_seconds(lambda: [hashlib.sha256(m).digest() for m in messages], repeats)
    results["sha256_64B_hashlib_loop_per_s"] = n_hashes / base
    for name in backends:
        t = median_seconds(lambda name=name: kernels.sha256_batch(messages, backend=name), repeats)
        results[f"sha256_64B_{name}_per_s"] = n_hashes / t
        ratios[f"sha256_{name}_vs_hashlib_loop"] = base / t

    leaves = [rng.randbytes(32) for _ in range(n_leaves)]
    base = median_seconds(lambda: reference.merkle_root(leaves), repeats)
    results[f"merkle_2^{n_leaves.bit_length() - 1}_hashlib_loop_s"] = base
    for name in backends:
        t = median_seconds(lambda name=name: kernels.merkle_root(leaves, backend=name), repeats)
        results[f"merkle_2^{n_leaves.bit_length() - 1}_{name}_s"] = t
        ratios[f"merkle_{name}_vs_hashlib_loop"] = base / t

    notes = [
        (
            f"{n_sigs} signatures from {max(1, n_sigs // 50)} keys, 150-byte messages; "
            f"medians of {repeats} runs after one warm-up"
        ),
        (
            "reference Ed25519 = cryptography (OpenSSL) on a thread per core; "
            "the Merkle baseline is kernels.reference.merkle_root (a plain hashlib loop)"
        ),
    ]
    if "cuda" not in backends:
        notes.append("no usable GPU: the cuda backend was not measured")
    return BenchResult("kernels", results, ratios, notes)
