"""Ed25519 batch verification on the CPU: eight signatures per SIMD instruction stream.

The shared code of kernels.ed25519_core and kernels.ed25519_tables, compiled with u64x8 limbs
(kernels.lanes): each group of eight signatures runs one double-scalar multiplication, lane by
lane in the vector registers. Signatures whose key has a comb in the KeyCache take the comb
path (128 additions, 12 doublings); the others decode their key here and take the window path
(252 doublings). A task is up to 64 signatures of one path, whose final 1/Z share one field
inversion (Montgomery's trick); tasks spread over the cores with the GIL released
(kernels.threads), and small batches stay on the calling thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels.ed25519_core import (
    BASE,
    DIGITS,
    decompress,
    encoding_matches,
    negate,
    point_select,
    recode_bytes,
    recode_limbs,
    reduce_digest,
    scalar_below_order,
)
from kernels.ed25519_field import FE_LIMBS, fe_from_bytes
from kernels.ed25519_inputs import pack_batch
from kernels.ed25519_keys import DEFAULT_KEY_CACHE, KeyCache
from kernels.ed25519_tables import (
    B_COMB,
    CACHED,
    ENTRIES,
    comb_multiply,
    fill_window,
    load_fe_lanes,
    normalise_lanes,
    store_fe_lanes,
    window_multiply,
)
from kernels.lanes import LANES, lanes_load, lanes_store
from kernels.sha512_core import sha512_ram
from kernels.threads import run_tasks

GROUPS = 8  # lane groups per task: 64 signatures share one inversion
PARALLEL_FROM = 2 * GROUPS * LANES  # signatures per call from which the thread pool pays off
_FE = FE_LIMBS * LANES  # words of one field element of eight lanes


@register_jitable
def _load_lane_inputs(i, lane, keys, sigs, data, starts, lengths, scratch, k_digits, s_digits):
    """Hash and recode signature i into column ``lane``; False where S >= L."""
    sig = sigs[i]
    if not scalar_below_order(sig[32:64]):
        return False
    sha_u64, sha_u8, limbs, digits = scratch
    sha512_ram(sig, keys[i], 64, data, starts[i], lengths[i], sha_u64[0:8], sha_u64[8:88], sha_u8)
    reduce_digest(sha_u8, limbs)
    recode_limbs(limbs, digits)
    k_digits[:, lane] = digits
    recode_bytes(sig[32:64], digits)
    s_digits[:, lane] = digits
    return True


@register_jitable
def _verify_task(order, lo, hi, combed, keys, sigs, data, starts, lengths, slots, combs, out):
    """Verify signatures order[lo:hi], all of one path (combed or not), eight per group."""
    groups = (hi - lo + LANES - 1) // LANES
    scratch = (
        np.empty(88, np.uint64),
        np.empty(64, np.uint8),
        np.empty(25, np.int64),
        np.empty(DIGITS, np.int64),
    )
    k_digits = np.empty((DIGITS, LANES), np.int64)
    s_digits = np.empty((DIGITS, LANES), np.int64)
    gather = np.empty(CACHED * _FE, np.uint64)
    window = np.empty((ENTRIES, CACHED, FE_LIMBS, LANES), np.uint64)
    lane_slots = np.zeros(LANES, np.int64)
    b_slots = np.zeros(LANES, np.int64)
    key_y = np.zeros((FE_LIMBS, LANES), np.uint64)
    key_sign = np.zeros(LANES, np.uint64)
    points = np.empty((groups, 3, FE_LIMBS, LANES), np.uint64)  # X, Y, Z of each group
    r_y = np.zeros((groups, FE_LIMBS, LANES), np.uint64)
    r_sign = np.zeros((groups, LANES), np.uint64)
    live = np.zeros((groups, LANES), np.uint64)
    for g in range(groups):
        k_digits[:] = 0
        s_digits[:] = 0
        for lane in range(LANES):
            j = lo + g * LANES + lane
            if j >= hi:
                lane_slots[lane] = lane_slots[0]
                continue
            i = order[j]
            if _load_lane_inputs(
                i, lane, keys, sigs, data, starts, lengths, scratch, k_digits, s_digits
            ):
                live[g, lane] = 1
            lane_slots[lane] = slots[i] if combed else 0
            y = fe_from_bytes(keys[i])
            r_limbs = fe_from_bytes(sigs[i, 0:32])
            for k in range(FE_LIMBS):
                key_y[k, lane] = y[k]
                r_y[g, k, lane] = r_limbs[k]
            key_sign[lane] = keys[i, 31] >> 7
            r_sign[g, lane] = sigs[i, 31] >> 7
        if combed:
            r = comb_multiply(combs, lane_slots, k_digits, B_COMB, b_slots, s_digits, gather)
        else:
            ok, a = decompress(load_fe_lanes(key_y, 0), lanes_load(key_sign, 0))
            lanes_store(live[g], 0, lanes_load(live[g], 0) & ok)
            fill_window(point_select(ok, negate(a), BASE), window)
            r = window_multiply(window, k_digits, B_COMB, b_slots, s_digits, gather)
        for c in range(3):
            store_fe_lanes(points, (3 * g + c) * _FE, r[c])
    normalise_lanes(points, groups)  # one inversion for every group's Z
    verdict = np.empty(LANES, np.uint64)
    for g in range(groups):
        x = load_fe_lanes(points, 3 * g * _FE)
        y = load_fe_lanes(points, (3 * g + 1) * _FE)
        match = encoding_matches(x, y, load_fe_lanes(r_y[g], 0), lanes_load(r_sign[g], 0))
        lanes_store(verdict, 0, match & lanes_load(live[g], 0))
        for lane in range(min(LANES, hi - lo - g * LANES)):
            out[order[lo + g * LANES + lane]] = verdict[lane] != 0


@njit(cache=True, nogil=True)
def _verify_tasks(
    task_ids, order, bounds, combed, keys, sigs, data, starts, lengths, slots, combs, out
):
    for task in task_ids:
        _verify_task(
            order,
            bounds[task],
            bounds[task + 1],
            combed[task],
            keys,
            sigs,
            data,
            starts,
            lengths,
            slots,
            combs,
            out,
        )


def _tasks(combed_rows: np.ndarray, window_rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """(order, task bounds into order, whether each task is combed): tasks of GROUPS * LANES."""
    size = GROUPS * LANES
    order = np.concatenate([combed_rows, window_rows])
    split = len(combed_rows)
    bounds = np.unique(
        np.concatenate(
            [np.arange(0, split, size), np.arange(split, len(order), size), [len(order)]]
        )
    )
    return order, bounds, bounds[:-1] < split


def ed25519_verify_batch(
    public_keys: Sequence[bytes],
    messages: Sequence[bytes],
    signatures: Sequence[bytes],
    *,
    key_cache: KeyCache | None = None,
) -> np.ndarray:
    keys, sigs, data, starts, lengths, well_formed = pack_batch(public_keys, messages, signatures)
    n = len(keys)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    cache = DEFAULT_KEY_CACHE if key_cache is None else key_cache
    with cache.lock:
        slots, decodes = cache.lookup(keys, well_formed)
        usable = well_formed & decodes
        rows = np.flatnonzero(usable)
        combed = slots[rows] >= 0
        order, bounds, task_combed = _tasks(rows[combed], rows[~combed])
        run_tasks(
            lambda task_ids: _verify_tasks(
                task_ids,
                order,
                bounds,
                task_combed,
                keys,
                sigs,
                data,
                starts,
                lengths,
                slots,
                cache.combs,
                out,
            ),
            len(bounds) - 1,
            parallel=len(rows) >= PARALLEL_FROM,
        )
    return out
