"""Pack a sequence of byte strings into one buffer plus offsets, without a Python loop per item."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pack(items: Sequence[bytes], prefix: bytes = b"") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data uint8, starts int64, lengths int64) such that prefix + item i is
    data[starts[i]:][:lengths[i]]: one join, with the prefix laid between the items."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items)) + len(prefix)
    starts = np.zeros(len(items), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    data = np.frombuffer(prefix + prefix.join(items) if items else b"", dtype=np.uint8)
    return data, starts, lengths
