"""SHA-256 batches and Merkle roots on the CPU: Numba, parallel over cores, vectorised across lanes.

On CPUs with the SHA extensions each block is one SHA-NI sequence (kernels.sha256_ni);
elsewhere each task hashes LANES messages side by side (see kernels.sha256_core), so one core
runs 8-16 SHA-256 computations per instruction stream. Large batches spread the tasks over cores
with prange; small ones stay on the calling thread, because waking the thread pool costs more
than it saves on a busy machine (milliseconds measured on the 2-core CI box).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from kernels.merkle_rule import EMPTY_ROOT
from kernels.packing import pack
from kernels.sha256_core import (
    H0,
    NO_PREFIX,
    compress,
    init_state,
    load_block,
    load_node_blocks,
    padded_blocks,
)
from kernels.sha256_ni import HAS_SHA_NI, compress_ni

LANES = 16  # uint32 words: one AVX-512 register
PARALLEL_FROM = 1 << 14  # hashes per call from which the thread pool pays off
PACK_CHUNK = 1 << 16  # messages packed at a time: small buffers are reused, not page-faulted


@register_jitable
def _hash_chunk(data, starts, lengths, prefix, out, chunk):
    n = starts.shape[0]
    state = np.empty((8, LANES), np.uint32)
    keep = np.empty((8, LANES), np.uint32)
    work = np.empty((8, LANES), np.uint32)
    w = np.zeros((64, LANES), np.uint32)
    nblocks = np.zeros(LANES, np.int64)
    lo = chunk * LANES
    hi = min(n, lo + LANES)
    for lane in range(hi - lo):
        nblocks[lane] = padded_blocks(lengths[lo + lane], prefix)
    most = nblocks.max()
    ragged = nblocks.min() != most
    init_state(state)
    for block in range(most):
        for lane in range(hi - lo):
            if block < nblocks[lane]:
                m = lo + lane
                load_block(w, lane, data, starts[m], lengths[m], prefix, nblocks[lane], block)
        if ragged:
            keep[:] = state
        compress(state, w, work)
        if ragged:
            for lane in range(LANES):
                if block >= nblocks[lane]:
                    state[:, lane] = keep[:, lane]
    for lane in range(hi - lo):
        out[lo + lane] = state[:, lane]


@register_jitable
def _hash_chunk_ni(data, starts, lengths, prefix, out, chunk):
    state = np.empty(8, np.uint32)
    w = np.empty((16, 1), np.uint32)
    lo = chunk * LANES
    for m in range(lo, min(starts.shape[0], lo + LANES)):
        nblocks = padded_blocks(lengths[m], prefix)
        state[:] = H0
        for block in range(nblocks):
            load_block(w, 0, data, starts[m], lengths[m], prefix, nblocks, block)
            compress_ni(state, w, 0)
        out[m] = state


@njit(cache=True, parallel=True, nogil=True)
def _hash_parallel_ni(data, starts, lengths, prefix, out):
    for chunk in prange((starts.shape[0] + LANES - 1) // LANES):
        _hash_chunk_ni(data, starts, lengths, prefix, out, chunk)


@njit(cache=True, nogil=True)
def _hash_serial_ni(data, starts, lengths, prefix, out):
    for chunk in range((starts.shape[0] + LANES - 1) // LANES):
        _hash_chunk_ni(data, starts, lengths, prefix, out, chunk)


@njit(cache=True, parallel=True, nogil=True)
def _hash_parallel(data, starts, lengths, prefix, out):
    for chunk in prange((starts.shape[0] + LANES - 1) // LANES):
        _hash_chunk(data, starts, lengths, prefix, out, chunk)


@njit(cache=True, nogil=True)
def _hash_serial(data, starts, lengths, prefix, out):
    for chunk in range((starts.shape[0] + LANES - 1) // LANES):
        _hash_chunk(data, starts, lengths, prefix, out, chunk)


def hash_messages(messages: Sequence[bytes], prefix: int) -> np.ndarray:
    """Digest words (n, 8) of prefix || message for every message (prefix -1: none)."""
    out = np.empty((len(messages), 8), np.uint32)
    if HAS_SHA_NI:
        hash_fn = _hash_parallel_ni if len(messages) >= PARALLEL_FROM else _hash_serial_ni
    else:
        hash_fn = _hash_parallel if len(messages) >= PARALLEL_FROM else _hash_serial
    if len(messages) <= PACK_CHUNK:
        hash_fn(*pack(messages), prefix, out)
        return out
    # Pipeline: the GIL-free kernel hashes one chunk while this thread packs the next.
    with ThreadPoolExecutor(1) as worker:
        pending = None
        for lo in range(0, len(messages), PACK_CHUNK):
            packed = pack(messages[lo : lo + PACK_CHUNK])
            if pending is not None:
                pending.result()
            pending = worker.submit(hash_fn, *packed, prefix, out[lo : lo + PACK_CHUNK])
        pending.result()
    return out


@register_jitable
def _pair_chunk(level, out, chunk):
    pairs = level.shape[0] // 2
    state = np.empty((8, LANES), np.uint32)
    work = np.empty((8, LANES), np.uint32)
    w = np.zeros((64, LANES), np.uint32)
    lo = chunk * LANES
    hi = min(pairs, lo + LANES)
    init_state(state)
    for block in range(2):
        for lane in range(hi - lo):
            p = lo + lane
            load_node_blocks(w, lane, level[2 * p], level[2 * p + 1], block)
        compress(state, w, work)
    for lane in range(hi - lo):
        out[lo + lane] = state[:, lane]


@register_jitable
def _pair_chunk_ni(level, out, chunk):
    state = np.empty(8, np.uint32)
    w = np.empty((16, 1), np.uint32)
    lo = chunk * LANES
    for p in range(lo, min(level.shape[0] // 2, lo + LANES)):
        state[:] = H0
        for block in range(2):
            load_node_blocks(w, 0, level[2 * p], level[2 * p + 1], block)
            compress_ni(state, w, 0)
        out[p] = state


@njit(cache=True, parallel=True)
def _pairs_parallel(level, out):
    for chunk in prange((level.shape[0] // 2 + LANES - 1) // LANES):
        _pair_chunk(level, out, chunk)


@njit(cache=True, parallel=True)
def _pairs_parallel_ni(level, out):
    for chunk in prange((level.shape[0] // 2 + LANES - 1) // LANES):
        _pair_chunk_ni(level, out, chunk)


@njit(cache=True)
def _pairs_serial(level, out):
    for chunk in range((level.shape[0] // 2 + LANES - 1) // LANES):
        _pair_chunk(level, out, chunk)


@njit(cache=True)
def _pairs_serial_ni(level, out):
    for chunk in range((level.shape[0] // 2 + LANES - 1) // LANES):
        _pair_chunk_ni(level, out, chunk)


def _root_of_leaf_digests(level: np.ndarray) -> np.ndarray:
    """Apply the node rule level by level (odd last node promoted) down to one digest."""
    while len(level) > 1:
        n = len(level)
        out = np.empty(((n + 1) // 2, 8), np.uint32)
        parallel = n // 2 >= PARALLEL_FROM
        if HAS_SHA_NI:
            (_pairs_parallel_ni if parallel else _pairs_serial_ni)(level, out)
        else:
            (_pairs_parallel if parallel else _pairs_serial)(level, out)
        if n % 2:
            out[n // 2] = level[n - 1]
        level = out
    return level[0]


def _words_to_bytes(words: np.ndarray) -> np.ndarray:
    """(n, 8) big-endian 32-bit words -> (n, 32) uint8 digests."""
    return words.astype(">u4").view(np.uint8).reshape(len(words), 32)


def sha256_batch(messages: Sequence[bytes]) -> np.ndarray:
    return _words_to_bytes(hash_messages(messages, NO_PREFIX))


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    leaf_words = hash_messages(leaves, 0)
    return _words_to_bytes(_root_of_leaf_digests(leaf_words).reshape(1, 8)).tobytes()
