"""SHA-256 building blocks shared by the CPU (Numba njit) and CUDA (numba-cuda) backends.

Every function works on "lanes": state arrays of shape (8, lanes) and schedule arrays of shape
(64, lanes), lane index last so that the CPU compiler vectorises the lane loops (AVX2/AVX-512
across messages). The CUDA kernels call the very same functions with one lane per thread.
Words are uint32 (16 lanes per AVX-512 register); where Numba widens an intermediate to 64
bits, the explicit np.uint32 casts truncate it back, which is exactly arithmetic mod 2^32.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

K = np.array(
    [
        0x428A2F98,
        0x71374491,
        0xB5C0FBCF,
        0xE9B5DBA5,
        0x3956C25B,
        0x59F111F1,
        0x923F82A4,
        0xAB1C5ED5,
        0xD807AA98,
        0x12835B01,
        0x243185BE,
        0x550C7DC3,
        0x72BE5D74,
        0x80DEB1FE,
        0x9BDC06A7,
        0xC19BF174,
        0xE49B69C1,
        0xEFBE4786,
        0x0FC19DC6,
        0x240CA1CC,
        0x2DE92C6F,
        0x4A7484AA,
        0x5CB0A9DC,
        0x76F988DA,
        0x983E5152,
        0xA831C66D,
        0xB00327C8,
        0xBF597FC7,
        0xC6E00BF3,
        0xD5A79147,
        0x06CA6351,
        0x14292967,
        0x27B70A85,
        0x2E1B2138,
        0x4D2C6DFC,
        0x53380D13,
        0x650A7354,
        0x766A0ABB,
        0x81C2C92E,
        0x92722C85,
        0xA2BFE8A1,
        0xA81A664B,
        0xC24B8B70,
        0xC76C51A3,
        0xD192E819,
        0xD6990624,
        0xF40E3585,
        0x106AA070,
        0x19A4C116,
        0x1E376C08,
        0x2748774C,
        0x34B0BCB5,
        0x391C0CB3,
        0x4ED8AA4A,
        0x5B9CCA4F,
        0x682E6FF3,
        0x748F82EE,
        0x78A5636F,
        0x84C87814,
        0x8CC70208,
        0x90BEFFFA,
        0xA4506CEB,
        0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)
H0 = np.array(
    [
        0x6A09E667,
        0xBB67AE85,
        0x3C6EF372,
        0xA54FF53A,
        0x510E527F,
        0x9B05688C,
        0x1F83D9AB,
        0x5BE0CD19,
    ],
    dtype=np.uint32,
)
NO_PREFIX = -1


@register_jitable
def padded_blocks(length, prefix):
    """Number of 64-byte blocks of a message of ``length`` bytes (plus the optional prefix)."""
    skip = 0 if prefix == NO_PREFIX else 1
    return (length + skip + 9 + 63) // 64


@register_jitable
def rotr(x, n):
    return np.uint32((x >> np.uint32(n)) | (x << np.uint32(32 - n)))


@register_jitable
def _round(a, b, c, d, e, f, g, h, kw):
    """One SHA-256 round; returns the new (d, h) — the caller rotates the roles."""
    t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kw
    t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
    return np.uint32(d + t1), np.uint32(t1 + t2)


@register_jitable
def init_state(state):
    for i in range(8):
        for lane in range(state.shape[1]):
            state[i, lane] = H0[i]


@register_jitable
def compress(state, w, work):
    """Fold the block in w[0:16] into state, for every lane; w and work are scratch."""
    lanes = state.shape[1]
    for t in range(16, 64):
        for lane in range(lanes):
            x = w[t - 15, lane]
            y = w[t - 2, lane]
            s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> np.uint32(3))
            s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> np.uint32(10))
            w[t, lane] = np.uint32(w[t - 16, lane] + s0 + w[t - 7, lane] + s1)
    for i in range(8):
        for lane in range(lanes):
            work[i, lane] = state[i, lane]
    for t in range(0, 64, 8):
        for lane in range(lanes):
            a = work[0, lane]
            b = work[1, lane]
            c = work[2, lane]
            d = work[3, lane]
            e = work[4, lane]
            f = work[5, lane]
            g = work[6, lane]
            h = work[7, lane]
            d, h = _round(a, b, c, d, e, f, g, h, K[t] + w[t, lane])
            c, g = _round(h, a, b, c, d, e, f, g, K[t + 1] + w[t + 1, lane])
            b, f = _round(g, h, a, b, c, d, e, f, K[t + 2] + w[t + 2, lane])
            a, e = _round(f, g, h, a, b, c, d, e, K[t + 3] + w[t + 3, lane])
            h, d = _round(e, f, g, h, a, b, c, d, K[t + 4] + w[t + 4, lane])
            g, c = _round(d, e, f, g, h, a, b, c, K[t + 5] + w[t + 5, lane])
            f, b = _round(c, d, e, f, g, h, a, b, K[t + 6] + w[t + 6, lane])
            e, a = _round(b, c, d, e, f, g, h, a, K[t + 7] + w[t + 7, lane])
            work[0, lane] = a
            work[1, lane] = b
            work[2, lane] = c
            work[3, lane] = d
            work[4, lane] = e
            work[5, lane] = f
            work[6, lane] = g
            work[7, lane] = h
    for i in range(8):
        for lane in range(lanes):
            state[i, lane] = np.uint32(state[i, lane] + work[i, lane])


@register_jitable
def _padded_byte(data, start, length, prefix, nblocks, pos):
    """Byte ``pos`` of the padded message prefix || data[start:start+length] || padding."""
    skip = 0 if prefix == NO_PREFIX else 1
    total = length + skip
    if pos < skip:
        return np.uint64(prefix)
    if pos < total:
        return np.uint64(data[start + pos - skip])
    if pos == total:
        return np.uint64(0x80)
    last = nblocks * 64 - 1
    if pos > last - 8:
        return (np.uint64(total) * np.uint64(8) >> np.uint64(8 * (last - pos))) & np.uint64(0xFF)
    return np.uint64(0)


@register_jitable
def load_block(w, lane, data, start, length, prefix, nblocks, block):
    """Write block ``block`` of the padded message into w[0:16, lane] (big-endian words)."""
    skip = 0 if prefix == NO_PREFIX else 1
    total = length + skip
    last_block = block == nblocks - 1
    bits = np.uint64(total) * np.uint64(8)
    base = block * 64
    for i in range(16):
        pos = base + 4 * i
        if pos >= skip and pos + 4 <= total:
            p = start + pos - skip
            w[i, lane] = np.uint32(
                (np.uint64(data[p]) << np.uint64(24))
                | (np.uint64(data[p + 1]) << np.uint64(16))
                | (np.uint64(data[p + 2]) << np.uint64(8))
                | np.uint64(data[p + 3])
            )
        elif last_block and i == 14:
            w[i, lane] = np.uint32(bits >> np.uint64(32))
        elif last_block and i == 15:
            w[i, lane] = np.uint32(bits & np.uint64(0xFFFFFFFF))
        elif pos > total:
            w[i, lane] = np.uint32(0)
        else:
            word = np.uint64(0)
            for j in range(4):
                word = (word << np.uint64(8)) | _padded_byte(
                    data, start, length, prefix, nblocks, pos + j
                )
            w[i, lane] = np.uint32(word)


@register_jitable
def _straddle(hi, lo):
    """The big-endian word made of the last byte of word hi and the first three of word lo."""
    return np.uint32(
        ((np.uint64(hi) & np.uint64(0xFF)) << np.uint64(24)) | (np.uint64(lo) >> np.uint64(8))
    )


@register_jitable
def load_node_blocks(w, lane, left, right, block):
    """Block ``block`` (0 or 1) of 0x01 || left || right, given as 8 big-endian words each."""
    if block == 0:
        w[0, lane] = _straddle(1, left[0])
        for i in range(1, 8):
            w[i, lane] = _straddle(left[i - 1], left[i])
        w[8, lane] = _straddle(left[7], right[0])
        for i in range(1, 8):
            w[8 + i, lane] = _straddle(right[i - 1], right[i])
    else:
        w[0, lane] = np.uint32(
            ((np.uint64(right[7]) & np.uint64(0xFF)) << np.uint64(24)) | np.uint64(0x800000)
        )
        for i in range(1, 15):
            w[i, lane] = np.uint32(0)
        w[15, lane] = np.uint32(65 * 8)
