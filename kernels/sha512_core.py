"""SHA-512 for Ed25519 (R || A || M, and a signer's prefix || M), written once for Numba's CPU
and CUDA targets.

One message per call (one thread per signature on the GPU); the message is read in place
from its 32-byte parts (a signature's R, a public key, a prefix) and the packed message
buffer, so no concatenation is ever built.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable


def _first_primes(count: int) -> list[int]:
    primes: list[int] = []
    candidate = 2
    while len(primes) < count:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1
    return primes


def _icbrt(value: int) -> int:
    root = 1 << ((value.bit_length() + 2) // 3)
    while True:
        nxt = (2 * root + value // (root * root)) // 3
        if nxt >= root:
            break
        root = nxt
    while root**3 > value:
        root -= 1
    return root


# FIPS 180-4: the first 64 bits of the fractional parts of cube roots (K) and square roots (H0)
# of the first primes, computed exactly with integers.
_MASK64 = (1 << 64) - 1
K512 = np.array([_icbrt(p << 192) & _MASK64 for p in _first_primes(80)], dtype=np.uint64)
H512 = np.array([math.isqrt(p << 128) & _MASK64 for p in _first_primes(8)], dtype=np.uint64)


@register_jitable
def _rotr64(x, n):
    return (x >> np.uint64(n)) | (x << np.uint64(64 - n))


@register_jitable
def _compress(state, w):
    for t in range(16, 80):
        x = w[t - 15]
        y = w[t - 2]
        s0 = _rotr64(x, 1) ^ _rotr64(x, 8) ^ (x >> np.uint64(7))
        s1 = _rotr64(y, 19) ^ _rotr64(y, 61) ^ (y >> np.uint64(6))
        w[t] = w[t - 16] + s0 + w[t - 7] + s1
    a = state[0]
    b = state[1]
    c = state[2]
    d = state[3]
    e = state[4]
    f = state[5]
    g = state[6]
    h = state[7]
    for t in range(80):
        t1 = h + (_rotr64(e, 14) ^ _rotr64(e, 18) ^ _rotr64(e, 41)) + ((e & f) ^ (~e & g))
        t1 += K512[t] + w[t]
        t2 = (_rotr64(a, 28) ^ _rotr64(a, 34) ^ _rotr64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))
        h = g
        g = f
        f = e
        e = d + t1
        d = c
        c = b
        b = a
        a = t1 + t2
    state[0] += a
    state[1] += b
    state[2] += c
    state[3] += d
    state[4] += e
    state[5] += f
    state[6] += g
    state[7] += h


@register_jitable
def _ram_byte(first, second, head, data, start, length, nblocks, pos):
    """Byte ``pos`` of the padded message first[0:32] || second[0:head-32] || the data part."""
    if pos < 32:
        return np.uint64(first[pos])
    if pos < head:
        return np.uint64(second[pos - 32])
    total = head + length
    if pos < total:
        return np.uint64(data[start + pos - head])
    if pos == total:
        return np.uint64(0x80)
    last = nblocks * 128 - 1
    if pos > last - 8:
        return (np.uint64(total) * np.uint64(8) >> np.uint64(8 * (last - pos))) & np.uint64(0xFF)
    return np.uint64(0)


@register_jitable
def sha512_ram(first, second, head, data, start, length, state, w, digest):
    """digest[0:64] = SHA-512(first[0:32] || second[0:head-32] || data[start:start+length]).

    head = 64: R || A || M, a signature's challenge (first = R, second = A); head = 32:
    prefix || M, a signer's nonce (second unused). state (8 uint64) and w (80 uint64) are
    scratch. Which byte comes from where depends on positions only, never on the bytes.
    """
    nblocks = (head + length + 17 + 127) // 128
    for i in range(8):
        state[i] = H512[i]
    for block in range(nblocks):
        for i in range(16):
            word = np.uint64(0)
            for j in range(8):
                pos = block * 128 + 8 * i + j
                byte = _ram_byte(first, second, head, data, start, length, nblocks, pos)
                word = (word << np.uint64(8)) | byte
            w[i] = word
        _compress(state, w)
    for i in range(8):
        for j in range(8):
            digest[8 * i + j] = (state[i] >> np.uint64(56 - 8 * j)) & np.uint64(0xFF)
