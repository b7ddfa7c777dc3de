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
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import kernels
from kernels import reference
from kernels.ed25519_keys import KeyCache
from kernels.ed25519_signing_keys import SigningKeyCache
from testbed.benchmarks import BenchResult, median_seconds

LEDGER_KEYS = 41
BLOCK = 500  # signatures per call in the ledger's workload


@dataclass
class _Sheet:
    """One run's figures: each kernel timed on every backend beside its baseline, on the
    same inputs, medians of ``repeats`` runs."""

    backends: list[str]
    repeats: int
    results: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)

    def side_by_side(self, figure: str, ratio: str, baseline_name: str,
                     baseline: Callable[[], object], ours: Callable[[str], object],
                     count: int | None = None) -> None:
        """``ours(backend)`` on each backend and ``baseline()``, in turn. ``figure`` and
        ``ratio`` name the results with ``{who}`` (the baseline's name or a backend): per
        second of ``count`` items, or seconds when there is no count; each ratio is the
        baseline's time over the backend's."""
        seconds = {baseline_name: median_seconds(baseline, self.repeats)}
        for name in self.backends:
            seconds[name] = median_seconds(lambda name=name: ours(name), self.repeats)
        for who, t in seconds.items():
            self.results[figure.format(who=who)] = count / t if count else t
            if who != baseline_name:
                self.ratios[ratio.format(who=who)] = seconds[baseline_name] / t

    def auto_vs_reference(self, function: str, workload: Callable[[str, object], object],
                          new_cache: Callable[[], object] | None = None) -> None:
        """``workload(backend, cache)`` on the reference backend, then on auto, each with a key
        cache of its own (new_cache(), kept across its runs) where the function takes one."""
        seconds = {}
        for backend in ("reference", "auto"):
            cache = new_cache() if new_cache else None
            seconds[backend] = median_seconds(
                lambda backend=backend, cache=cache: workload(backend, cache), self.repeats
            )
            self.results[f"{function}_{backend}_s"] = seconds[backend]
        self.ratios[f"{function}_auto_vs_reference"] = seconds["reference"] / seconds["auto"]


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


def _verification(sheet: _Sheet, rng: random.Random, count: int) -> None:
    distinct = _signed_batch(count, keys=count, rng=rng)
    sheet.side_by_side(
        "ed25519_{who}_sigs_per_s", "ed25519_{who}_vs_reference", "reference",
        lambda: reference.ed25519_verify_batch(*distinct),
        lambda b: kernels.ed25519_verify_batch(*distinct, backend=b, key_cache=KeyCache()),
        count,
    )
    ledger = _signed_batch(count, keys=LEDGER_KEYS, rng=rng)
    blocks = [tuple(part[i : i + BLOCK] for part in ledger) for i in range(0, count, BLOCK)]

    def verify(backend: str, cache: object) -> list:
        return [kernels.ed25519_verify_batch(*block, backend=backend, key_cache=cache)
                for block in blocks]

    caches = {name: KeyCache() for name in sheet.backends}
    sheet.side_by_side(
        "ed25519_{who}_41_keys_sigs_per_s", "ed25519_{who}_vs_reference_41_keys", "reference",
        lambda: [reference.ed25519_verify_batch(*block) for block in blocks],
        lambda b: verify(b, caches[b]),
        count,
    )
    sheet.auto_vs_reference("ed25519_verify_batch", verify, KeyCache)


def _signing(sheet: _Sheet, rng: random.Random, count: int) -> None:
    seeds = [rng.randbytes(32) for _ in range(LEDGER_KEYS)]
    privates = [Ed25519PrivateKey.from_private_bytes(seed) for seed in seeds]
    messages = [rng.randbytes(150) for _ in range(count)]

    def in_calls(batch: int) -> list[range]:
        return [range(i, min(count, i + batch)) for i in range(0, count, batch)]

    def sign(calls: list[range], backend: str, cache: object) -> list:
        return [kernels.ed25519_sign_batch([seeds[i % LEDGER_KEYS] for i in rows],
                                           [messages[i] for i in rows],
                                           backend=backend, key_cache=cache)
                for rows in calls]

    for batch, suffix in ((LEDGER_KEYS, ""), (BLOCK, f"_batch_{BLOCK}")):
        calls = in_calls(batch)
        caches = {name: SigningKeyCache() for name in sheet.backends}
        sheet.side_by_side(
            f"ed25519_sign_{{who}}{suffix}_sigs_per_s",
            f"ed25519_sign_{{who}}_vs_reference{suffix}",
            "reference",
            lambda calls=calls: [reference.ed25519_sign_with_keys(
                [privates[i % LEDGER_KEYS] for i in rows], [messages[i] for i in rows])
                for rows in calls],
            lambda b, calls=calls, caches=caches: sign(calls, b, caches[b]),
            count,
        )
    sheet.auto_vs_reference("ed25519_sign_batch",
                            lambda b, cache: sign(in_calls(LEDGER_KEYS), b, cache),
                            SigningKeyCache)


def _hashing(sheet: _Sheet, rng: random.Random, n_hashes: int, n_leaves: int) -> None:
    messages = [rng.randbytes(64) for _ in range(n_hashes)]
    sheet.side_by_side(
        "sha256_64B_{who}_per_s", "sha256_{who}_vs_hashlib_loop", "hashlib_loop",
        lambda: [hashlib.sha256(m).digest() for m in messages],
        lambda b: kernels.sha256_batch(messages, backend=b),
        n_hashes,
    )
    sheet.auto_vs_reference("sha256_batch", lambda b, _: kernels.sha256_batch(messages, backend=b))
    leaves = [rng.randbytes(32) for _ in range(n_leaves)]
    sheet.side_by_side(
        f"merkle_2^{n_leaves.bit_length() - 1}_{{who}}_s", "merkle_{who}_vs_hashlib_loop",
        "hashlib_loop",
        lambda: reference.merkle_root(leaves),
        lambda b: kernels.merkle_root(leaves, backend=b),
    )
    sheet.auto_vs_reference("merkle_root", lambda b, _: kernels.merkle_root(leaves, backend=b))


def run(quick: bool = False) -> BenchResult:
    rng = random.Random(2026)
    repeats = 3 if quick else 5
    n_sigs = 64 if quick else 20_000
    n_signed = BLOCK if quick else n_sigs
    n_hashes = 4096 if quick else 1 << 20
    n_leaves = 1 << (10 if quick else 20)
    backends = ["cpu", "cuda"] if kernels._gpu_usable() else ["cpu"]
    auto = kernels.auto_backends()  # decided (measured or cached) before any figure is taken
    sheet = _Sheet(backends, repeats)
    _verification(sheet, rng, n_sigs)
    _signing(sheet, rng, n_signed)
    _hashing(sheet, rng, n_hashes, n_leaves)

    notes = [
        (
            f"Ed25519: {n_sigs} signatures of 150-byte messages, from {n_sigs} distinct keys in "
            f"one call, and from {LEDGER_KEYS} keys in calls of {BLOCK} with the key cache kept; "
            f"medians of {repeats} runs after one warm-up"
        ),
        (
            f"Ed25519 signing: {n_signed} signatures of 150-byte messages "
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
    return BenchResult("kernels", sheet.results, sheet.ratios, notes, auto_backends=auto)
