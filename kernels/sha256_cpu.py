"""SHA-256 batches and Merkle roots on the CPU: Numba, spread over cores, vectorised across lanes.

On CPUs with the SHA extensions each block is one SHA-NI sequence (kernels.sha256_ni), read
straight from the message bytes and padded in registers; elsewhere LANES messages are hashed
side by side (see kernels.sha256_core), so one core runs 16 SHA-256 computations per
instruction stream. A prefix byte (the Merkle rule's) is laid down by the packing, so the
kernels only ever hash plain byte ranges. Large batches spread their tasks over the cores
(kernels.threads) while the calling thread packs the next chunk of messages; small ones stay on
the calling thread. A Merkle level is the same kernel again, over NODE_PREFIX || left || right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels.merkle_rule import EMPTY_ROOT, LEAF_PREFIX, NODE_PREFIX
from kernels.packing import pack
from kernels.sha256_core import H0, NO_PREFIX, compress, init_state, load_block, padded_blocks
from kernels.sha256_ni import HAS_SHA_NI, compress_ni, compress_ni_pair
from kernels.threads import Tasks, run_tasks

LANES = 16  # uint32 words: one AVX-512 register
TASK = 1024  # messages per task
PARALLEL_FROM = 1 << 14  # hashes per call from which the thread pool pays off
PACK_CHUNK = 1 << 12  # messages packed at a time: their objects are still cached when joined
_MARKER = 1  # compress_ni flags: the 0x80 after the message falls in this block,
_LENGTH = 2  # and the message's bit length ends it


@register_jitable
def _big_endian(word):
    """The uint32 whose bytes in memory are word's, most significant first (a BSWAP)."""
    w = np.uint32(word)
    return np.uint32(
        (w >> np.uint32(24))
        | ((w >> np.uint32(8)) & np.uint32(0xFF00))
        | ((w << np.uint32(8)) & np.uint32(0xFF0000))
        | (w << np.uint32(24))
    )


@register_jitable
def _blocks(length):
    """Blocks of a message: its full 64-byte blocks, then one or two that end it."""
    return length // 64 + (1 if length % 64 < 56 else 2)


@register_jitable
def _block(start, length, j):
    """(offset, byte count, flags) of block j of the message at data[start:][:length]."""
    full = length // 64
    if j < full:
        return start + 64 * j, 64, 0
    rest = length - 64 * full
    if j == full:
        return start + 64 * full, rest, _MARKER | (_LENGTH if rest < 56 else 0)
    return start, 0, _LENGTH  # the 0x80 did not leave room for the length


@register_jitable
def _hash_range_ni(data, starts, lengths, out, lo, hi):
    """Messages two at a time (compress_ni_pair) wherever neighbours have as many blocks."""
    state_a = np.empty(8, np.uint32)
    state_b = np.empty(8, np.uint32)
    m = lo
    while m < hi:
        a_start, a_length = starts[m], lengths[m]
        a_bits = np.uint64(a_length) * np.uint64(8)
        blocks = _blocks(a_length)
        pair = m + 1 < hi and _blocks(lengths[m + 1]) == blocks
        state_a[:] = H0
        if pair:
            b_start, b_length = starts[m + 1], lengths[m + 1]
            b_bits = np.uint64(b_length) * np.uint64(8)
            state_b[:] = H0
            for j in range(blocks):
                a_at, a_count, a_flags = _block(a_start, a_length, j)
                b_at, b_count, b_flags = _block(b_start, b_length, j)
                compress_ni_pair(
                    state_a, data, a_at, a_count, a_flags, a_bits,
                    state_b, data, b_at, b_count, b_flags, b_bits,
                )  # fmt: skip
            for k in range(8):
                out[m + 1, k] = _big_endian(state_b[k])
        else:
            for j in range(blocks):
                a_at, a_count, a_flags = _block(a_start, a_length, j)
                compress_ni(state_a, data, a_at, a_count, a_flags, a_bits)
        for k in range(8):
            out[m, k] = _big_endian(state_a[k])
        m += 2 if pair else 1


@register_jitable
def _hash_range_lanes(data, starts, lengths, out, lo, hi):
    state = np.empty((8, LANES), np.uint32)
    keep = np.empty((8, LANES), np.uint32)
    work = np.empty((8, LANES), np.uint32)
    w = np.zeros((64, LANES), np.uint32)
    nblocks = np.zeros(LANES, np.int64)
    for first in range(lo, hi, LANES):
        count = min(LANES, hi - first)
        nblocks[:] = 0
        for lane in range(count):
            nblocks[lane] = padded_blocks(lengths[first + lane], NO_PREFIX)
        most = nblocks.max()
        ragged = nblocks[:count].min() != most
        init_state(state)
        for block in range(most):
            for lane in range(count):
                if block < nblocks[lane]:
                    m = first + lane
                    load_block(
                        w, lane, data, starts[m], lengths[m], NO_PREFIX, nblocks[lane], block
                    )
            if ragged:
                keep[:] = state
            compress(state, w, work)
            if ragged:
                for lane in range(count):
                    if block >= nblocks[lane]:
                        state[:, lane] = keep[:, lane]
        for lane in range(count):
            for k in range(8):
                out[first + lane, k] = _big_endian(state[k, lane])


@njit(cache=True, nogil=True)
def _hash_tasks_ni(task_ids, data, starts, lengths, out):
    for task in task_ids:
        _hash_range_ni(data, starts, lengths, out, task * TASK, min(len(out), (task + 1) * TASK))


@njit(cache=True, nogil=True)
def _hash_tasks_lanes(task_ids, data, starts, lengths, out):
    for task in task_ids:
        _hash_range_lanes(data, starts, lengths, out, task * TASK, min(len(out), (task + 1) * TASK))


def _hasher(data, starts, lengths, out: np.ndarray):
    """kernel(task_ids) hashing those tasks of one packed chunk into out, (n, 8) uint32 words
    laid out as the digests' bytes."""
    kernel = _hash_tasks_ni if HAS_SHA_NI else _hash_tasks_lanes
    return lambda task_ids: kernel(task_ids, data, starts, lengths, out)


def _tasks(n: int) -> int:
    return (n + TASK - 1) // TASK


def hash_messages(messages: Sequence[bytes], prefix: bytes = b"") -> np.ndarray:
    """Digests (n, 32) uint8 of prefix || message for every message."""
    n = len(messages)
    digests = np.empty((n, 32), np.uint8)
    out = digests.view(np.uint32)
    if n < PARALLEL_FROM:
        run_tasks(_hasher(*pack(messages, prefix), out), _tasks(n), parallel=False)
        return digests
    # Pipeline: the pool hashes one chunk while this thread packs the next.
    pending = []
    for lo in range(0, n, PACK_CHUNK):
        part = out[lo : lo + PACK_CHUNK]
        packed = pack(messages[lo : lo + PACK_CHUNK], prefix)
        pending.append(Tasks(_hasher(*packed, part), _tasks(len(part))).start())
    for tasks in pending:
        tasks.wait()
    return digests


def hash_pairs(level: np.ndarray) -> np.ndarray:
    """The Merkle level above ``level`` ((n, 32) digests, n >= 2): pairs hashed, odd promoted."""
    n = len(level)
    pairs = n // 2
    nodes = np.empty((pairs, 65), np.uint8)  # NODE_PREFIX || left || right
    nodes[:, 0] = NODE_PREFIX[0]
    nodes[:, 1:] = level[: 2 * pairs].reshape(pairs, 64)
    above = np.empty(((n + 1) // 2, 32), np.uint8)
    out = above.view(np.uint32)
    hasher = _hasher(
        nodes.reshape(-1),
        np.arange(0, 65 * pairs, 65, dtype=np.int64),
        np.full(pairs, 65, dtype=np.int64),
        out[:pairs],
    )
    run_tasks(hasher, _tasks(pairs), parallel=pairs >= PARALLEL_FROM)
    if n % 2:
        above[pairs] = level[n - 1]
    return above


def sha256_batch(messages: Sequence[bytes]) -> np.ndarray:
    return hash_messages(messages)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    level = hash_messages(leaves, LEAF_PREFIX)
    while len(level) > 1:
        level = hash_pairs(level)
    return level[0].tobytes()
