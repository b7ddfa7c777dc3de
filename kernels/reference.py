"""The reference backend: hashlib and `cryptography`, threaded over all cores.

It is the definition of correct: every other backend must agree with it bit for bit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from kernels.errors import KernelError
from kernels.merkle_rule import EMPTY_ROOT, LEAF_PREFIX, NODE_PREFIX

_WORKERS = os.cpu_count() or 1


def _chunks(n: int) -> list[range]:
    step = max(1, -(-n // _WORKERS))
    return [range(i, min(n, i + step)) for i in range(0, n, step)]


def _parallel(n: int, work: Callable[[range], None]) -> None:
    if n < 256 or _WORKERS == 1:
        work(range(n))
        return
    with ThreadPoolExecutor(_WORKERS) as pool:
        list(pool.map(work, _chunks(n)))


def sha256_batch(messages: Sequence[bytes]) -> np.ndarray:
    out = np.empty((len(messages), 32), dtype=np.uint8)

    def work(rows: range) -> None:
        for i in rows:
            out[i] = np.frombuffer(hashlib.sha256(messages[i]).digest(), dtype=np.uint8)

    _parallel(len(messages), work)
    return out


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    level = [hashlib.sha256(LEAF_PREFIX + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [
            hashlib.sha256(NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _verify_one(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(
            bytes(signature), bytes(message)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_verify_batch(
    public_keys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> np.ndarray:
    n = len(public_keys)
    if len(messages) != n or len(signatures) != n:
        raise KernelError("public_keys, messages and signatures must have the same length")
    out = np.zeros(n, dtype=bool)

    def work(rows: range) -> None:
        for i in rows:
            out[i] = _verify_one(public_keys[i], messages[i], signatures[i])

    _parallel(n, work)
    return out


def ed25519_sign_with_keys(
    private_keys: Sequence[Ed25519PrivateKey], messages: Sequence[bytes]
) -> np.ndarray:
    """Each message signed by its key object: (n, 64) uint8."""
    out = np.empty((len(messages), 64), dtype=np.uint8)

    def work(rows: range) -> None:
        for i in rows:
            out[i] = np.frombuffer(private_keys[i].sign(bytes(messages[i])), dtype=np.uint8)

    _parallel(len(messages), work)
    return out


def ed25519_sign_batch(seeds: Sequence[bytes], messages: Sequence[bytes]) -> np.ndarray:
    """Each message signed by the key of its seed (one key object per distinct seed)."""
    keys = {seed: Ed25519PrivateKey.from_private_bytes(seed) for seed in set(seeds)}
    return ed25519_sign_with_keys([keys[seed] for seed in seeds], messages)
