"""Expanded Ed25519 signing keys kept across calls: a few dozen keys sign millions of times.

Expanding a seed (SHA-512, clamping, A = [a]B) costs about as much as a signature, so a
``SigningKeyCache`` keeps each key's expansion in a slot of two preallocated arrays, at most
``capacity`` keys (the least recently used is evicted and its slot overwritten).

What it holds in memory, per key:

- ``secrets[slot]``: a mod L and the prefix (64 bytes). SECRET: enough to sign as the key
  (not to recover the seed).
- ``publics[slot]``: the public key A (32 bytes).
- a BLAKE2b fingerprint of the seed (32 bytes, one-way) that finds the slot.

The seed itself is never kept: a call's seeds are fingerprinted, the new ones expanded (in
Python, once per key), and dropped with the call. ``clear()`` zeroes every slot. Nothing here logs or prints a seed or a
secret. Python may leave copies in freed memory: this bounds what the cache holds,
it is no defence against someone who can read the process's memory. Calls are serialised by
``lock`` while their slots are in use.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numba import njit

from kernels.ed25519_core import SCALAR_LIMBS, L, load_scalar
from kernels.ed25519_sign_core import SECRET_BYTES, base_encodings
from kernels.ed25519_tables import B_COMB
from kernels.errors import KernelError

SEED_BYTES = 32
_PERSON = b"testbed-ed25519"  # BLAKE2b personalisation: these fingerprints are only ours
_CLAMP = (1 << 254) - 8  # RFC 8032: clear the low three bits and bit 255...
_HIGH = 1 << 254  # ...and set bit 254


@njit(cache=True, nogil=True)
def _public_keys(secrets, slots, out):
    """out[i] = A = [a]B encoded, a = secrets[slots[i], 0:32]."""
    scalars = np.empty((len(slots), SCALAR_LIMBS), np.int64)
    for i in range(len(slots)):
        load_scalar(secrets[slots[i], 0:32], scalars[i])
    base_encodings(scalars, B_COMB, out)


def fingerprint(seed: bytes) -> bytes:
    """The one-way id of a seed that the cache files its expansion under."""
    return hashlib.blake2b(seed, digest_size=32, person=_PERSON).digest()


def _expand(seed: bytes) -> bytes:
    """a mod L || prefix, from SHA-512(seed) (RFC 8032, section 5.1.5)."""
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little") & _CLAMP | _HIGH
    return (a % L).to_bytes(32, "little") + digest[32:]


def check_seeds(seeds: Sequence[bytes]) -> None:
    """Raise KernelError naming every row whose seed is not 32 bytes (never the seed)."""
    bad = [i for i, seed in enumerate(seeds) if len(seed) != SEED_BYTES]
    if bad:
        rows = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        raise KernelError(f"Ed25519 seeds must be {SEED_BYTES} bytes: rows {rows} are not")


class SigningKeyCache:
    """Bounded LRU of expanded signing keys (see the module docstring)."""

    def __init__(self, capacity: int = 256) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.secrets = np.zeros((capacity, SECRET_BYTES), dtype=np.uint8)
        self.publics = np.zeros((capacity, 32), dtype=np.uint8)
        self.lock = threading.Lock()
        self._slots: OrderedDict[bytes, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"SigningKeyCache({len(self)} of {self.capacity} keys)"

    def clear(self) -> None:
        with self.lock:
            self._slots.clear()
            self.secrets[:] = 0
            self.publics[:] = 0

    def lookup(self, seeds: Sequence[bytes]) -> np.ndarray:
        """The slot of each seed's expanded key, expanding the keys not yet held.

        At most ``capacity`` distinct seeds (the caller splits larger batches); seeds must be
        32 bytes (check_seeds). Call with ``lock`` held, and hold it while the slots are read.
        """
        distinct = dict.fromkeys(seeds)
        if len(distinct) > self.capacity:
            raise KernelError(f"more than {self.capacity} distinct seeds in one lookup")
        new: list[tuple[int, bytes, bytes]] = []
        slot_of = {seed: self._slot(seed, new) for seed in distinct}
        if new:
            try:
                self._expand_into([slot for slot, _, _ in new], [seed for _, seed, _ in new])
            except BaseException:
                for _, _, key in new:  # a slot that was not filled is forgotten
                    self._slots.pop(key, None)
                raise
        return np.fromiter(map(slot_of.__getitem__, seeds), dtype=np.int64, count=len(seeds))

    def _expand_into(self, slots: list[int], seeds: list[bytes]) -> None:
        rows = np.array(slots, dtype=np.int64)
        for slot, seed in zip(slots, seeds):
            self.secrets[slot] = np.frombuffer(_expand(seed), dtype=np.uint8)
        publics = np.empty((len(rows), 32), dtype=np.uint8)
        _public_keys(self.secrets, rows, publics)
        self.publics[rows] = publics

    def _slot(self, seed: bytes, new: list[tuple[int, bytes, bytes]]) -> int:
        key = fingerprint(seed)
        slot = self._slots.get(key)
        if slot is not None:
            self._slots.move_to_end(key)
            return slot
        if len(self._slots) < self.capacity:
            slot = len(self._slots)
        else:  # the least recently used; never one this call reads (those were just moved up)
            _, slot = self._slots.popitem(last=False)
        self._slots[key] = slot
        new.append((slot, seed, key))
        return slot


DEFAULT_SIGNING_KEY_CACHE = SigningKeyCache()  # what the backends use when the caller passes none
