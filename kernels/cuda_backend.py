"""The CUDA backend: numba-cuda kernels over the same core functions the CPU backend compiles.

One thread per message (SHA-256), per node pair (Merkle level) and per signature (Ed25519),
each thread calling the shared ``register_jitable`` code of kernels.sha256_core,
kernels.ed25519_tables (``verify_one``) and kernels.ed25519_sign_core (``sign_one``), with
np.uint64 limbs and its scratch in thread-local arrays. Ed25519 uses the same tables as the CPU:
B's comb and the combs of the KeyCache's keys, built on the host and copied to the device for
each call (only the slots the batch uses). Signing copies the expanded keys of the batch's
signers (kernels.ed25519_signing_keys) to the device for the call: device memory then holds
those secrets until it is reused.
Runs on a GPU, or in Numba's CUDA simulator when NUMBA_ENABLE_CUDASIM=1 is set before numba is
imported (tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import cuda, int64, uint8, uint32, uint64

from kernels.ed25519_core import SCALAR_LIMBS, WIDE_LIMBS
from kernels.ed25519_field import FE_LIMBS
from kernels.ed25519_inputs import pack_batch
from kernels.ed25519_keys import DEFAULT_KEY_CACHE, KeyCache
from kernels.ed25519_sign_core import sign_one
from kernels.ed25519_signing_keys import SigningKeyCache
from kernels.ed25519_tables import B_COMB, CACHED, DIGITS, ENTRIES, verify_one
from kernels.merkle_rule import EMPTY_ROOT
from kernels.packing import pack
from kernels.sha256_core import (
    NO_PREFIX,
    compress,
    init_state,
    load_block,
    load_node_blocks,
    padded_blocks,
)

THREADS_PER_BLOCK = 128


def is_usable() -> bool:
    """Whether a CUDA device (or the simulator) can run the kernels."""
    try:
        return bool(cuda.is_available())
    except cuda.CudaSupportError:  # a broken driver install counts as no GPU
        return False


def _blocks(n: int) -> int:
    return max(1, (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK)


@cuda.jit
def _sha256_kernel(data, starts, lengths, prefix, out):
    i = cuda.grid(1)
    if i >= starts.shape[0]:
        return
    state = cuda.local.array((8, 1), uint32)
    work = cuda.local.array((8, 1), uint32)
    w = cuda.local.array((64, 1), uint32)
    nblocks = padded_blocks(lengths[i], prefix)
    init_state(state)
    for block in range(nblocks):
        load_block(w, 0, data, starts[i], lengths[i], prefix, nblocks, block)
        compress(state, w, work)
    for k in range(8):
        out[i, k] = state[k, 0]


@cuda.jit
def _merkle_level_kernel(level, out):
    p = cuda.grid(1)
    n = level.shape[0]
    if p >= n // 2:
        if p == n // 2 and n % 2 == 1:
            for k in range(8):
                out[p, k] = level[n - 1, k]
        return
    state = cuda.local.array((8, 1), uint32)
    work = cuda.local.array((8, 1), uint32)
    w = cuda.local.array((64, 1), uint32)
    init_state(state)
    for block in range(2):
        load_node_blocks(w, 0, level[2 * p], level[2 * p + 1], block)
        compress(state, w, work)
    for k in range(8):
        out[p, k] = state[k, 0]


@cuda.jit
def _verify_kernel(keys, sigs, data, starts, lengths, usable, slots, combs, b_comb, out):
    i = cuda.grid(1)
    if i >= keys.shape[0]:
        return
    if not usable[i]:
        out[i] = False
        return
    window = cuda.local.array((ENTRIES, CACHED, FE_LIMBS), uint64)
    sha_u64 = cuda.local.array(88, uint64)
    sha_u8 = cuda.local.array(64, uint8)
    limbs = cuda.local.array(25, int64)
    k_digits = cuda.local.array(DIGITS, int64)
    s_digits = cuda.local.array(DIGITS, int64)
    out[i] = verify_one(
        keys[i],
        sigs[i],
        data,
        starts[i],
        lengths[i],
        slots[i],
        combs,
        b_comb,
        window,
        sha_u64,
        sha_u8,
        limbs,
        k_digits,
        s_digits,
    )


@cuda.jit
def _sign_kernel(secrets, publics, slots, data, starts, lengths, b_comb, out):
    i = cuda.grid(1)
    if i >= slots.shape[0]:
        return
    sha_u64 = cuda.local.array(88, uint64)
    sha_u8 = cuda.local.array(64, uint8)
    wide = cuda.local.array(WIDE_LIMBS, int64)
    scalars = cuda.local.array((3, SCALAR_LIMBS), int64)
    digits = cuda.local.array(DIGITS, int64)
    s = slots[i]
    sign_one(
        secrets[s], publics[s], data, starts[i], lengths[i], b_comb, out[i],
        sha_u64, sha_u8, wide, scalars, digits,
    )  # fmt: skip


def _words_to_bytes(words: np.ndarray) -> np.ndarray:
    """(n, 8) big-endian 32-bit words -> (n, 32) uint8 digests."""
    return words.astype(">u4").view(np.uint8).reshape(len(words), 32)


def _nonempty(data: np.ndarray) -> np.ndarray:
    """Device copies need at least one element; the kernels never read past the lengths."""
    return data if data.size else np.zeros(1, dtype=data.dtype)


def _hash_words(data, starts, lengths, prefix: int):
    out = cuda.device_array((len(starts), 8), dtype=np.uint32)
    _sha256_kernel[_blocks(len(starts)), THREADS_PER_BLOCK](
        cuda.to_device(_nonempty(data)),
        cuda.to_device(starts),
        cuda.to_device(lengths),
        prefix,
        out,
    )
    return out


def sha256_batch(messages: Sequence[bytes]) -> np.ndarray:
    if not messages:
        return np.empty((0, 32), dtype=np.uint8)
    return _words_to_bytes(_hash_words(*pack(messages), NO_PREFIX).copy_to_host())


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    level = _hash_words(*pack(leaves), 0)
    while level.shape[0] > 1:
        nxt = cuda.device_array(((level.shape[0] + 1) // 2, 8), dtype=np.uint32)
        _merkle_level_kernel[_blocks(nxt.shape[0]), THREADS_PER_BLOCK](level, nxt)
        level = nxt
    return _words_to_bytes(level.copy_to_host()).tobytes()


def ed25519_verify_batch(
    public_keys: Sequence[bytes],
    messages: Sequence[bytes],
    signatures: Sequence[bytes],
    *,
    key_cache: KeyCache | None = None,
) -> np.ndarray:
    keys, sigs, data, starts, lengths, well_formed = pack_batch(public_keys, messages, signatures)
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=bool)
    cache = DEFAULT_KEY_CACHE if key_cache is None else key_cache
    with cache.lock:
        slots, decodes = cache.lookup(keys, well_formed)
        used, compact = np.unique(slots, return_inverse=True)  # -1 (no comb) sorts first
        combed = used >= 0
        combs = cache.combs[used[combed]] if combed.any() else B_COMB
        compact_slots = np.where(slots >= 0, compact - (~combed).sum(), -1)
        out = cuda.device_array(n, dtype=np.bool_)
        _verify_kernel[_blocks(n), THREADS_PER_BLOCK](
            cuda.to_device(keys),
            cuda.to_device(sigs),
            cuda.to_device(_nonempty(data)),
            cuda.to_device(starts),
            cuda.to_device(lengths),
            cuda.to_device(well_formed & decodes),
            cuda.to_device(compact_slots),
            cuda.to_device(np.ascontiguousarray(combs)),
            cuda.to_device(B_COMB),
            out,
        )
        return out.copy_to_host()


def ed25519_sign_batch(
    seeds: Sequence[bytes], messages: Sequence[bytes], *, key_cache: SigningKeyCache
) -> np.ndarray:
    n = len(seeds)
    if n == 0:
        return np.zeros((0, 64), dtype=np.uint8)
    data, starts, lengths = pack(messages)
    with key_cache.lock:
        slots = key_cache.lookup(seeds)
        used, compact = np.unique(slots, return_inverse=True)
        secrets = key_cache.secrets[used]
        device_secrets = cuda.to_device(secrets)
        secrets[:] = 0  # the host copy of the secrets lives no longer than it must
        out = cuda.device_array((n, 64), dtype=np.uint8)
        _sign_kernel[_blocks(n), THREADS_PER_BLOCK](
            device_secrets,
            cuda.to_device(key_cache.publics[used]),
            cuda.to_device(compact.astype(np.int64)),
            cuda.to_device(_nonempty(data)),
            cuda.to_device(starts),
            cuda.to_device(lengths),
            cuda.to_device(B_COMB),
            out,
        )
        return out.copy_to_host()
