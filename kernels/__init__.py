"""Batch validation kernels: SHA-256, Merkle roots, Ed25519 verification.

Each function takes ``backend`` = "auto" | "reference" | "cpu" | "cuda" (default from the
environment variable TESTBED_KERNEL_BACKEND, else "auto"). Every backend gives the same answer
as "reference" bit for bit.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from kernels import reference

BACKENDS = ("reference", "cpu", "cuda")


def _backend(backend: str | None) -> str:
    name = backend or os.environ.get("TESTBED_KERNEL_BACKEND") or "auto"
    if name == "auto":
        return "reference"
    if name not in BACKENDS:
        raise ValueError(f"unknown kernel backend {name!r} (choose from auto, {', '.join(BACKENDS)})")
    return name


def sha256_batch(messages: Sequence[bytes], backend: str | None = None) -> np.ndarray:
    """SHA-256 of each message: uint8 array of shape (n, 32)."""
    _backend(backend)
    return reference.sha256_batch(messages)


def merkle_root(leaves: Sequence[bytes], backend: str | None = None) -> bytes:
    """Merkle root of the leaves under the ledger's rule (see kernels.merkle_rule)."""
    _backend(backend)
    return reference.merkle_root(leaves)


def ed25519_verify_batch(
    public_keys: Sequence[bytes],
    messages: Sequence[bytes],
    signatures: Sequence[bytes],
    backend: str | None = None,
) -> np.ndarray:
    """Whether each signature is valid for its key and message: bool array of shape (n,)."""
    _backend(backend)
    return reference.ed25519_verify_batch(public_keys, messages, signatures)
