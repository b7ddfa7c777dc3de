"""Per-key comb tables kept across calls: the ledger's few dozen keys sign millions of times.

A ``KeyCache`` maps a 32-byte public key to a slot of one preallocated array of combs
(kernels.ed25519_tables, 17 KB each) and whether the key decodes. It is bounded twice, so no
key set, however large or hostile, can grow memory or cost much time:

- at most ``capacity`` combs (least recently used is evicted), allocated once;
- a key gets a comb only once it has signed ``admit_after`` signatures (in one call or across
  calls; the count of not-yet-admitted keys is itself an LRU of at most ``4 * capacity``), so
  a flood of one-off keys is verified by the per-signature path and builds nothing.

Building a comb (16 x 8 multiples, made affine with one shared inversion) costs a few plain
verifications; it then makes each of that key's verifications about three times cheaper (128
additions and 12 doublings instead of 252 doublings). Calls are serialised by ``lock`` while
their slots are in use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels.ed25519_core import (
    BASE,
    decompress,
    double_times,
    multiples,
    negate,
    point_select,
)
from kernels.ed25519_field import (
    FE_D2,
    FE_LIMBS,
    fe_add,
    fe_canonical,
    fe_from_bytes,
    fe_mul,
    fe_sub,
)
from kernels.ed25519_tables import (
    ENTRIES,
    NIELS,
    TEETH,
    load_fe_lanes,
    normalise_lanes,
    store_fe_lanes,
)
from kernels.lanes import LANES, lanes_load, lanes_store
from kernels.threads import run_tasks

MULTIPLES = TEETH * (ENTRIES - 1)  # the non-identity entries of a comb
_PROJECTIVE = 3  # X, Y, Z


@register_jitable
def _store_projective(buffer, e, p):
    for c in range(_PROJECTIVE):
        store_fe_lanes(buffer, (e * _PROJECTIVE + c) * FE_LIMBS * LANES, p[c])


@register_jitable
def _store_multiples(tooth, buffer, t):
    """buffer entries 8t .. 8t+7 = [1..8] tooth, projective."""
    m = multiples(tooth)
    base = t * (ENTRIES - 1)
    _store_projective(buffer, base, m[0])
    _store_projective(buffer, base + 1, m[1])
    _store_projective(buffer, base + 2, m[2])
    _store_projective(buffer, base + 3, m[3])
    _store_projective(buffer, base + 4, m[4])
    _store_projective(buffer, base + 5, m[5])
    _store_projective(buffer, base + 6, m[6])
    _store_projective(buffer, base + 7, m[7])


@register_jitable
def _build_group(keys, slots, lo, combs, decodes):
    """Combs of -A for keys[lo:lo+8] (fewer at the end) into combs[slots[...]], eight at once."""
    count = min(LANES, keys.shape[0] - lo)
    y = np.zeros((FE_LIMBS, LANES), np.uint64)
    sign = np.zeros(LANES, np.uint64)
    for lane in range(count):
        limbs = fe_from_bytes(keys[lo + lane])
        for k in range(FE_LIMBS):
            y[k, lane] = limbs[k]
        sign[lane] = keys[lo + lane, 31] >> 7
    ok, a = decompress(load_fe_lanes(y, 0), lanes_load(sign, 0))
    tooth = point_select(ok, negate(a), BASE)  # a lane whose key does not decode keeps B
    projective = np.empty((MULTIPLES, _PROJECTIVE, FE_LIMBS, LANES), np.uint64)
    for t in range(TEETH):
        if t:
            tooth = double_times(tooth, 16)
        _store_multiples(tooth, projective, t)
    normalise_lanes(projective, MULTIPLES)  # affine: one inversion for all 128 points
    niels = np.empty((MULTIPLES, NIELS, FE_LIMBS, LANES), np.uint64)
    size = FE_LIMBS * LANES
    for e in range(MULTIPLES):
        x = load_fe_lanes(projective, 3 * e * size)
        y_ = load_fe_lanes(projective, (3 * e + 1) * size)
        store_fe_lanes(niels, 3 * e * size, fe_canonical(fe_add(y_, x)))
        store_fe_lanes(niels, (3 * e + 1) * size, fe_canonical(fe_sub(y_, x)))
        store_fe_lanes(niels, (3 * e + 2) * size, fe_canonical(fe_mul(fe_mul(x, y_), FE_D2)))
    decoded = np.empty(LANES, np.uint64)
    lanes_store(decoded, 0, ok)
    for lane in range(count):
        slot = slots[lo + lane]
        for t in range(TEETH):
            combs[slot, t, 0] = 0
            combs[slot, t, 0, 0, 0] = 1  # the identity: (1, 1, 0)
            combs[slot, t, 0, 1, 0] = 1
            for j in range(1, ENTRIES):
                e = t * (ENTRIES - 1) + j - 1
                for c in range(NIELS):
                    for k in range(FE_LIMBS):
                        combs[slot, t, j, c, k] = niels[e, c, k, lane]
    for lane in range(count):
        decodes[slots[lo + lane]] = decoded[lane] != 0


@njit(cache=True, nogil=True)
def _build_groups(group_ids, keys, slots, combs, decodes):
    for group in group_ids:
        _build_group(keys, slots, group * LANES, combs, decodes)


def _build_combs(keys: np.ndarray, slots: np.ndarray, combs: np.ndarray, decodes: np.ndarray):
    """Combs of the keys (rows) into their slots, eight keys per lane group, over the cores."""
    groups = (len(keys) + LANES - 1) // LANES
    run_tasks(
        lambda group_ids: _build_groups(group_ids, keys, slots, combs, decodes),
        groups,
        parallel=groups > 1,
    )


class KeyCache:
    """Bounded LRU of public keys' combs (see the module docstring)."""

    def __init__(self, capacity: int = 256, admit_after: int = 2) -> None:
        if capacity < 1 or admit_after < 1:
            raise ValueError("capacity and admit_after must be at least 1")
        self.capacity = capacity
        self.admit_after = admit_after
        self.combs = np.zeros((capacity, TEETH, ENTRIES, NIELS, FE_LIMBS), dtype=np.uint32)
        self.decodes = np.zeros(capacity, dtype=bool)
        self.lock = threading.Lock()
        self._slots: OrderedDict[bytes, int] = OrderedDict()
        self._sightings: OrderedDict[bytes, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._slots)

    def clear(self) -> None:
        with self.lock:
            self._slots.clear()
            self._sightings.clear()

    def lookup(self, keys: np.ndarray, well_formed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(comb slot of each signature's key or -1, False where the key is known not to decode).

        keys: (n, 32) uint8 rows; rows not well formed get no slot. Keys that now reach
        ``admit_after`` signatures get their comb, built here in one batch. Call with ``lock``
        held, and hold it while the slots are read.
        """
        slots = np.full(len(keys), -1, dtype=np.int64)
        rows = np.flatnonzero(well_formed)
        if len(rows):
            _, first, inverse, uses = np.unique(
                keys[rows].view(np.dtype((np.void, keys.shape[1]))).ravel(),
                return_index=True,
                return_inverse=True,
                return_counts=True,
            )
            slots[rows] = self._admit(keys[rows][first], uses)[inverse]
        decodes = np.ones(len(keys), dtype=bool)
        combed = slots >= 0
        decodes[combed] = self.decodes[slots[combed]]
        return slots, decodes

    def _admit(self, distinct: np.ndarray, uses: np.ndarray) -> np.ndarray:
        """Slot of each distinct key (rows of ``distinct``, signing ``uses`` times), or -1."""
        out = np.full(len(distinct), -1, dtype=np.int64)
        candidates: list[int] = []
        for row, (key, count) in enumerate(zip(map(bytes, distinct), uses.tolist())):
            slot = self._slots.get(key)
            if slot is not None:
                self._slots.move_to_end(key)
                out[row] = slot
                continue
            seen = self._sightings.pop(key, 0) + count
            if seen >= self.admit_after:
                candidates.append(row)
            else:
                self._sightings[key] = seen
                if len(self._sightings) > 4 * self.capacity:
                    self._sightings.popitem(last=False)
        room = self.capacity - int((out >= 0).sum())  # never evict a slot this call reads
        for row in candidates[room:]:  # no room left in this call: admitted next time
            self._sightings[bytes(distinct[row])] = self.admit_after
        admitted = np.array(candidates[:room], dtype=np.int64)
        for row in admitted:
            if len(self._slots) < self.capacity:
                slot = len(self._slots)
            else:
                _, slot = self._slots.popitem(last=False)
            self._slots[bytes(distinct[row])] = slot
            out[row] = slot
        if len(admitted):
            _build_combs(
                np.ascontiguousarray(distinct[admitted]), out[admitted], self.combs, self.decodes
            )
        return out


DEFAULT_KEY_CACHE = KeyCache()  # what the backends use when the caller passes none
