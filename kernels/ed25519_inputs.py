"""Turn the Python-level Ed25519 batch into arrays, marking wrong-length entries invalid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kernels.errors import KernelError
from kernels.packing import pack

KEY_BYTES = 32
SIGNATURE_BYTES = 64


def _fixed_rows(items: Sequence[bytes], width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows (n, width) uint8, ok (n,) bool): rows of wrong-length items are zero and not ok."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    ok = lengths == width
    if ok.all():
        rows = np.frombuffer(b"".join(items), dtype=np.uint8).reshape(len(items), width)
        return rows, ok
    filler = bytes(width)
    fixed = [item if good else filler for item, good in zip(items, ok.tolist())]
    return np.frombuffer(b"".join(fixed), dtype=np.uint8).reshape(len(items), width), ok


def pack_batch(
    public_keys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(keys, signatures, message data, starts, lengths, well_formed) for the batch kernels."""
    n = len(public_keys)
    if len(messages) != n or len(signatures) != n:
        raise KernelError("public_keys, messages and signatures must have the same length")
    keys, keys_ok = _fixed_rows(public_keys, KEY_BYTES)
    sigs, sigs_ok = _fixed_rows(signatures, SIGNATURE_BYTES)
    data, starts, lengths = pack(messages)
    return keys, sigs, data, starts, lengths, keys_ok & sigs_ok
