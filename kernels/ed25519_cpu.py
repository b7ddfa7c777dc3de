"""Ed25519 batch verification on the CPU: kernels.ed25519_core compiled with Numba.

Each distinct public key of a batch is decoded, and its table of odd multiples built, once
(households sign many transactions with one key); then every signature is checked against
its key's table, and the final 1/Z is one inversion per task (Montgomery's trick). Large batches run in parallel over cores; small ones (a typical block) on
the calling thread, which avoids the thread pool's wake-up cost on a busy machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from kernels.ed25519_core import (
    TABLE_SIZE,
    candidate_r,
    encodes_to,
    invert_z_batch,
    load_fe,
    load_point,
    prepare_key,
    store_point,
)
from kernels.ed25519_field import FE_LIMBS
from kernels.ed25519_inputs import pack_batch

CHUNK = 32  # signatures per task (scratch is allocated once per task)
PARALLEL_FROM = 128  # signatures per call from which the thread pool pays off
SEGMENT = 1 << 14  # signatures whose distinct keys' tables are held at once (2.5 KiB per key)


@register_jitable
def _prepare_chunk(keys, tables, key_ok, chunk):
    for u in range(chunk * CHUNK, min(keys.shape[0], (chunk + 1) * CHUNK)):
        key_ok[u] = prepare_key(keys[u], tables[u])


@register_jitable
def _verify_chunk(keys, sigs, data, starts, lengths, usable, key_index, tables, out, chunk):
    scratch_u64 = np.empty(88, np.uint64)
    scratch_u8 = np.empty(64, np.uint8)
    limbs = np.empty(25, np.int64)
    k_digits = np.empty(256, np.int8)
    s_digits = np.empty(256, np.int8)
    points = np.empty((CHUNK, 3, FE_LIMBS), np.uint64)
    inverses = np.empty((CHUNK, 1, FE_LIMBS), np.uint64)
    live = np.zeros(CHUNK, np.bool_)
    lo = chunk * CHUNK
    count = min(keys.shape[0], lo + CHUNK) - lo
    for j in range(count):
        i = lo + j
        if usable[i]:
            ok, r = candidate_r(
                keys[i],
                sigs[i],
                data,
                starts[i],
                lengths[i],
                tables[key_index[i]],
                scratch_u64,
                scratch_u8,
                limbs,
                k_digits,
                s_digits,
            )
            live[j] = ok
            if ok:
                store_point(points, j, r)
    invert_z_batch(points, live, count, inverses)
    for j in range(count):
        if live[j]:
            z_inverse = load_fe(inverses, j, 0)
            out[lo + j] = encodes_to(load_point(points, j), z_inverse, sigs[lo + j, 0:32])


@njit(cache=True, parallel=True)
def _prepare_parallel(keys, tables, key_ok):
    for chunk in prange((keys.shape[0] + CHUNK - 1) // CHUNK):
        _prepare_chunk(keys, tables, key_ok, chunk)


@njit(cache=True)
def _prepare_serial(keys, tables, key_ok):
    for chunk in range((keys.shape[0] + CHUNK - 1) // CHUNK):
        _prepare_chunk(keys, tables, key_ok, chunk)


@njit(cache=True, parallel=True)
def _verify_parallel(keys, sigs, data, starts, lengths, usable, key_index, tables, out):
    for chunk in prange((keys.shape[0] + CHUNK - 1) // CHUNK):
        _verify_chunk(keys, sigs, data, starts, lengths, usable, key_index, tables, out, chunk)


@njit(cache=True)
def _verify_serial(keys, sigs, data, starts, lengths, usable, key_index, tables, out):
    for chunk in range((keys.shape[0] + CHUNK - 1) // CHUNK):
        _verify_chunk(keys, sigs, data, starts, lengths, usable, key_index, tables, out, chunk)


def ed25519_verify_batch(
    public_keys: Sequence[bytes], messages: Sequence[bytes], signatures: Sequence[bytes]
) -> np.ndarray:
    keys, sigs, data, starts, lengths, well_formed = pack_batch(public_keys, messages, signatures)
    out = np.zeros(len(keys), dtype=bool)
    parallel = len(keys) >= PARALLEL_FROM
    for lo in range(0, len(keys), SEGMENT):
        part = slice(lo, lo + SEGMENT)
        _, first, key_index = np.unique(
            keys[part].view(np.dtype((np.void, keys.shape[1]))).ravel(),
            return_index=True,
            return_inverse=True,
        )
        distinct = np.ascontiguousarray(keys[part][first])
        tables = np.empty((len(distinct), TABLE_SIZE, 4, FE_LIMBS), dtype=np.uint64)
        key_ok = np.zeros(len(distinct), dtype=bool)
        (_prepare_parallel if parallel else _prepare_serial)(distinct, tables, key_ok)
        usable = well_formed[part] & key_ok[key_index]
        (_verify_parallel if parallel else _verify_serial)(
            keys[part],
            sigs[part],
            data,
            starts[part],
            lengths[part],
            usable,
            key_index.astype(np.int64),
            tables,
            out[part],
        )
    return out
