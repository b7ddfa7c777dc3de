"""`testbed bench kernels`: the validation kernels side by side with their baselines.

- Ed25519 verification, signatures per second, 150-byte messages: Numba `cpu` vs `reference`
  (`cryptography`, threads on every core), on two workloads:
  - distinct keys: every signature from its own key, in one call, with a fresh KeyCache for
    each run, so no key table outlives the run it was built in;
  - the ledger's: 41 keys (the default neighbourhood's homes), in calls of BLOCK signatures,
    as the ledger verifies a block at a time; the KeyCache persists across calls, as it does
    in the ledger's process, and the untimed warm-up run fills it.
- Ed25519 signing, signatures per second, 150-byte messages from the ledger's 41 keys: `cpu` vs
  `cryptography` signing with each key object held (as KeyPair.sign does), on threads like the
  reference backend; in calls of 41 (one interval's orders, or its meter readings) and of
  BLOCK. The expanded-key cache persists across calls, filled by the untimed warm-up run.
- SHA-256 of 64-byte messages and the Merkle root of 2^20 leaves: `cpu` vs a plain hashlib loop.
- `cuda` runs too whenever a usable GPU is present.
- `auto`: the backend it chose for each function on this machine (measured at first use and
  cached, see kernels.calibration), and ``<function>_auto_vs_reference``, `auto` against the
  `reference` backend on one workload each: the 64-byte hashes, the 2^20-leaf root, the
  ledger's verification (41 keys, calls of BLOCK) and signing (calls of 41).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import kernels
from kernels import reference
from kernels.ed25519_keys import KeyCache
from kernels.ed25519_signing_keys import SigningKeyCache
from testbed.benchmarks import BenchResult, median_seconds

LEDGER_KEYS = 41
BLOCK = 500  # signatures per call in the ledger's workload


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


def _bench_signing(
    rng: random.Random,
    count: int,
    repeats: int,
    backends: list[str],
    results: dict[str, float],
    ratios: dict[str, float],
) -> None:
    seeds = [rng.randbytes(32) for _ in range(LEDGER_KEYS)]
    privates = [Ed25519PrivateKey.from_private_bytes(seed) for seed in seeds]
    messages = [rng.randbytes(150) for _ in range(count)]

    def sign(calls: list[range], backend: str, cache: SigningKeyCache) -> list:
        return [
            kernels.ed25519_sign_batch(
                [seeds[i % LEDGER_KEYS] for i in rows],
                [messages[i] for i in rows],
                backend=backend,
                key_cache=cache,
            )
            for rows in calls
        ]

    for batch, suffix in ((LEDGER_KEYS, ""), (BLOCK, f"_batch_{BLOCK}")):
        calls = [range(i, min(count, i + batch)) for i in range(0, count, batch)]
        base = median_seconds(
            lambda calls=calls: [
                reference.ed25519_sign_with_keys(
                    [privates[i % LEDGER_KEYS] for i in rows], [messages[i] for i in rows]
                )
                for rows in calls
            ],
            repeats,
        )
        results[f"ed25519_sign_reference{suffix}_sigs_per_s"] = count / base
        for name in backends:
            cache = SigningKeyCache()
            t = median_seconds(
                lambda calls=calls, name=name, cache=cache: sign(calls, name, cache), repeats
            )
            results[f"ed25519_sign_{name}{suffix}_sigs_per_s"] = count / t
            ratios[f"ed25519_sign_{name}_vs_reference{suffix}"] = base / t
    calls = [range(i, min(count, i + LEDGER_KEYS)) for i in range(0, count, LEDGER_KEYS)]
    _auto_vs_reference(
        "ed25519_sign_batch",
        lambda backend, cache: sign(calls, backend, cache),
        SigningKeyCache,
        repeats,
        results,
        ratios,
    )


def _auto_vs_reference(
    function: str,
    workload: Callable[[str, object], object],
    new_cache: Callable[[], object] | None,
    repeats: int,
    results: dict[str, float],
    ratios: dict[str, float],
) -> None:
    """``workload(backend, cache)`` on the reference backend, then on auto, each with a key
    cache of its own (new_cache(), kept across its runs) where the function takes one."""
    seconds = {}
    for backend in ("reference", "auto"):
        cache = new_cache() if new_cache else None
        seconds[backend] = median_seconds(
            lambda backend=backend, cache=cache: workload(backend, cache), repeats
        )
        results[f"{function}_{backend}_s"] = seconds[backend]
    ratios[f"{function}_auto_vs_reference"] = seconds["reference"] / seconds["auto"]


def run(quick: bool = False) -> BenchResult:
    rng = random.Random(2026)
    repeats = 3 if quick else 5
    n_sigs = 64 if quick else 20_000
    n_hashes = 4096 if quick else 1 << 20
    n_leaves = 1 << (10 if quick else 20)
    backends = ["cpu", "cuda"] if kernels._gpu_usable() else ["cpu"]
    auto = kernels.auto_backends()  # decided (measured or cached) before any figure is taken
    results: dict[str, float] = {}
    ratios: dict[str, float] = {}

    distinct = _signed_batch(n_sigs, keys=n_sigs, rng=rng)
    base = median_seconds(lambda: reference.ed25519_verify_batch(*distinct), repeats)
    results["ed25519_reference_sigs_per_s"] = n_sigs / base
    for name in backends:
        t = median_seconds(
            lambda name=name: kernels.ed25519_verify_batch(
                *distinct, backend=name, key_cache=KeyCache()
            ),
            repeats,
        )
        results[f"ed25519_{name}_sigs_per_s"] = n_sigs / t
        ratios[f"ed25519_{name}_vs_reference"] = base / t

    ledger = _signed_batch(n_sigs, keys=LEDGER_KEYS, rng=rng)
    blocks = [tuple(part[i : i + BLOCK] for part in ledger) for i in range(0, n_sigs, BLOCK)]
    base = median_seconds(
        lambda: [reference.ed25519_verify_batch(*block) for block in blocks], repeats
    )
    results["ed25519_reference_41_keys_sigs_per_s"] = n_sigs / base
    for name in backends:
        cache = KeyCache()
        t = median_seconds(
            lambda name=name, cache=cache: [
                kernels.ed25519_verify_batch(*block, backend=name, key_cache=cache)
                for block in blocks
            ],
            repeats,
        )
        results[f"ed25519_{name}_41_keys_sigs_per_s"] = n_sigs / t
        ratios[f"ed25519_{name}_vs_reference_41_keys"] = base / t
    _auto_vs_reference(
        "ed25519_verify_batch",
        lambda backend, cache: [
            kernels.ed25519_verify_batch(*block, backend=backend, key_cache=cache)
            for block in blocks
        ],
        KeyCache,
        repeats,
        results,
        ratios,
    )

    _bench_signing(rng, n_sigs if not quick else BLOCK, repeats, backends, results, ratios)

    messages = [rng.randbytes(64) for _ in range(n_hashes)]
    base = median_seconds(lambda: [hashlib.sha256(m).digest() for m in messages], repeats)
    results["sha256_64B_hashlib_loop_per_s"] = n_hashes / base
    for name in backends:
        t = median_seconds(lambda name=name: kernels.sha256_batch(messages, backend=name), repeats)
        results[f"sha256_64B_{name}_per_s"] = n_hashes / t
        ratios[f"sha256_{name}_vs_hashlib_loop"] = base / t
    _auto_vs_reference(
        "sha256_batch",
        lambda backend, _: kernels.sha256_batch(messages, backend=backend),
        None,
        repeats,
        results,
        ratios,
    )

    leaves = [rng.randbytes(32) for _ in range(n_leaves)]
    base = median_seconds(lambda: reference.merkle_root(leaves), repeats)
    results[f"merkle_2^{n_leaves.bit_length() - 1}_hashlib_loop_s"] = base
    for name in backends:
        t = median_seconds(lambda name=name: kernels.merkle_root(leaves, backend=name), repeats)
        results[f"merkle_2^{n_leaves.bit_length() - 1}_{name}_s"] = t
        ratios[f"merkle_{name}_vs_hashlib_loop"] = base / t
    _auto_vs_reference(
        "merkle_root",
        lambda backend, _: kernels.merkle_root(leaves, backend=backend),
        None,
        repeats,
        results,
        ratios,
    )

    notes = [
        (
            f"Ed25519: {n_sigs} signatures of 150-byte messages, from {n_sigs} distinct keys in "
            f"one call, and from {LEDGER_KEYS} keys in calls of {BLOCK} with the key cache kept; "
            f"medians of {repeats} runs after one warm-up"
        ),
        (
            f"Ed25519 signing: {n_sigs if not quick else BLOCK} signatures of 150-byte messages "
            f"from {LEDGER_KEYS} keys, in calls of {LEDGER_KEYS} and of {BLOCK}; the reference "
            "signs with cryptography's key objects held across calls (threads from 256 a call)"
        ),
        (
            "reference Ed25519 = cryptography (OpenSSL) on a thread per core; "
            "the Merkle baseline is kernels.reference.merkle_root (a plain hashlib loop)"
        ),
    ]
    if "cuda" not in backends:
        notes.append("no usable GPU: the cuda backend was not measured")
    notes.append(
        "<function>_auto_vs_reference: the auto backend against the reference backend on the "
        "64-byte hashes, the Merkle leaves, the 41-key verification and signing in calls of "
        f"{LEDGER_KEYS}; auto's choices are measured once per machine (kernels.calibration)"
    )
    return BenchResult("kernels", results, ratios, notes, auto_backends=auto)
