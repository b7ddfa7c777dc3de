"""Arithmetic modulo p = 2^255 - 19, written once for Numba's CPU and CUDA targets.

A field element is a tuple of ten limbs in radix 2^25.5, as in ref10 (SUPERCOP) and OpenSSL's
32-bit code: limb i weighs 2^ceil(25.5 i), even limbs hold 26 bits and odd limbs 25. Every
product is of two operands below 2^32 and accumulates in 64 bits, the one multiplication that
SIMD units (VPMULUDQ) and GPUs (mul.wide.u32) do natively; so the same source runs with
``np.uint64`` limbs (one signature per CUDA thread, the scalar CPU helpers, the simulator) and
with ``kernels.lanes.u64x8`` limbs (eight signatures per instruction stream on the CPU).
Limbs are unsigned: there are no branches and no signed shifts, so a lane never diverges.

Bounds (tests/kernels/test_field_bounds.py runs these very functions on intervals): fe_mul,
fe_sq and fe_sub return *carried* elements (limbs below 2^26 / 2^25; limbs 1 and 5 a hair
above); fe_add does not carry. The inputs of fe_mul and fe_sq, and fe_sub's subtrahend, may be
sums of up to three carried elements; a product's 64-bit column sums then cannot overflow, and
no multiplicand exceeds 32 bits (the masks in ``_m`` would otherwise cut it).
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

P = 2**255 - 19
FE_LIMBS = 10
LIMB_SHIFTS = tuple((51 * i + 1) // 2 for i in range(FE_LIMBS))  # 0, 26, 51, 77, ...
_M32 = np.uint64(0xFFFFFFFF)
_M26 = np.uint64((1 << 26) - 1)
_M25 = np.uint64((1 << 25) - 1)
_U2 = np.uint64(2)
_U19 = np.uint64(19)
_U25 = np.uint64(25)
_U26 = np.uint64(26)
_U38 = np.uint64(38)
_U63 = np.uint64(63)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


def _limb_width(i: int) -> int:
    return 26 if i % 2 == 0 else 25


def fe_const(value: int) -> tuple[np.uint64, ...]:
    """The limbs of an integer constant (plain Python, used to build module constants)."""
    value %= P
    return tuple(
        np.uint64((value >> LIMB_SHIFTS[i]) & ((1 << _limb_width(i)) - 1)) for i in range(FE_LIMBS)
    )


def fe_value(limbs) -> int:
    """The integer an element stands for, mod p (plain Python, for tests and constants)."""
    return sum(int(x) << LIMB_SHIFTS[i] for i, x in enumerate(limbs)) % P


FE_ZERO = fe_const(0)
FE_ONE = fe_const(1)
FE_D = fe_const(-121665 * pow(121666, -1, P))
FE_D2 = fe_const(2 * -121665 * pow(121666, -1, P))
FE_SQRTM1 = fe_const(pow(2, (P - 1) // 4, P))
# 4p in limbs, added before a subtraction so that no limb goes below zero.
_4P = tuple(np.uint64(4 * ((1 << _limb_width(i)) - 1)) for i in range(FE_LIMBS))
_4P0 = np.uint64(4 * ((1 << 26) - 19))


@register_jitable(forceinline=True)
def _m(a, b):
    """a * b for operands below 2^32 (the masks tell the compiler so: one VPMULUDQ)."""
    return (a & _M32) * (b & _M32)


@register_jitable(forceinline=True)
def _carry(h0, h1, h2, h3, h4, h5, h6, h7, h8, h9):
    """Carry ten 64-bit column sums into a carried element (ref10's interleaved order)."""
    c = h0 >> _U26
    h1 = h1 + c
    h0 = h0 & _M26
    c = h4 >> _U26
    h5 = h5 + c
    h4 = h4 & _M26
    c = h1 >> _U25
    h2 = h2 + c
    h1 = h1 & _M25
    c = h5 >> _U25
    h6 = h6 + c
    h5 = h5 & _M25
    c = h2 >> _U26
    h3 = h3 + c
    h2 = h2 & _M26
    c = h6 >> _U26
    h7 = h7 + c
    h6 = h6 & _M26
    c = h3 >> _U25
    h4 = h4 + c
    h3 = h3 & _M25
    c = h7 >> _U25
    h8 = h8 + c
    h7 = h7 & _M25
    c = h4 >> _U26
    h5 = h5 + c
    h4 = h4 & _M26
    c = h8 >> _U26
    h9 = h9 + c
    h8 = h8 & _M26
    c = h9 >> _U25
    h0 = h0 + c * _U19
    h9 = h9 & _M25
    c = h0 >> _U26
    h1 = h1 + c
    h0 = h0 & _M26
    return (h0, h1, h2, h3, h4, h5, h6, h7, h8, h9)


@register_jitable(forceinline=True)
def fe_mul(f, g):
    f0, f1, f2, f3, f4, f5, f6, f7, f8, f9 = f
    g0, g1, g2, g3, g4, g5, g6, g7, g8, g9 = g
    f1_2 = f1 * _U2
    f3_2 = f3 * _U2
    f5_2 = f5 * _U2
    f7_2 = f7 * _U2
    f9_2 = f9 * _U2
    g1_19 = g1 * _U19
    g2_19 = g2 * _U19
    g3_19 = g3 * _U19
    g4_19 = g4 * _U19
    g5_19 = g5 * _U19
    g6_19 = g6 * _U19
    g7_19 = g7 * _U19
    g8_19 = g8 * _U19
    g9_19 = g9 * _U19
    # Column k sums f_i g_j over i + j = k (mod 10): times 19 where i + j >= 10 (2^255 = 19),
    # times 2 where i and j are both odd (their weights sum to one bit more than column k's).
    h0 = _m(f0, g0) + _m(f1_2, g9_19) + _m(f2, g8_19) + _m(f3_2, g7_19) + _m(f4, g6_19)
    h0 = h0 + _m(f5_2, g5_19) + _m(f6, g4_19) + _m(f7_2, g3_19) + _m(f8, g2_19) + _m(f9_2, g1_19)
    h1 = _m(f0, g1) + _m(f1, g0) + _m(f2, g9_19) + _m(f3, g8_19) + _m(f4, g7_19)
    h1 = h1 + _m(f5, g6_19) + _m(f6, g5_19) + _m(f7, g4_19) + _m(f8, g3_19) + _m(f9, g2_19)
    h2 = _m(f0, g2) + _m(f1_2, g1) + _m(f2, g0) + _m(f3_2, g9_19) + _m(f4, g8_19)
    h2 = h2 + _m(f5_2, g7_19) + _m(f6, g6_19) + _m(f7_2, g5_19) + _m(f8, g4_19) + _m(f9_2, g3_19)
    h3 = _m(f0, g3) + _m(f1, g2) + _m(f2, g1) + _m(f3, g0) + _m(f4, g9_19)
    h3 = h3 + _m(f5, g8_19) + _m(f6, g7_19) + _m(f7, g6_19) + _m(f8, g5_19) + _m(f9, g4_19)
    h4 = _m(f0, g4) + _m(f1_2, g3) + _m(f2, g2) + _m(f3_2, g1) + _m(f4, g0)
    h4 = h4 + _m(f5_2, g9_19) + _m(f6, g8_19) + _m(f7_2, g7_19) + _m(f8, g6_19) + _m(f9_2, g5_19)
    h5 = _m(f0, g5) + _m(f1, g4) + _m(f2, g3) + _m(f3, g2) + _m(f4, g1)
    h5 = h5 + _m(f5, g0) + _m(f6, g9_19) + _m(f7, g8_19) + _m(f8, g7_19) + _m(f9, g6_19)
    h6 = _m(f0, g6) + _m(f1_2, g5) + _m(f2, g4) + _m(f3_2, g3) + _m(f4, g2)
    h6 = h6 + _m(f5_2, g1) + _m(f6, g0) + _m(f7_2, g9_19) + _m(f8, g8_19) + _m(f9_2, g7_19)
    h7 = _m(f0, g7) + _m(f1, g6) + _m(f2, g5) + _m(f3, g4) + _m(f4, g3)
    h7 = h7 + _m(f5, g2) + _m(f6, g1) + _m(f7, g0) + _m(f8, g9_19) + _m(f9, g8_19)
    h8 = _m(f0, g8) + _m(f1_2, g7) + _m(f2, g6) + _m(f3_2, g5) + _m(f4, g4)
    h8 = h8 + _m(f5_2, g3) + _m(f6, g2) + _m(f7_2, g1) + _m(f8, g0) + _m(f9_2, g9_19)
    h9 = _m(f0, g9) + _m(f1, g8) + _m(f2, g7) + _m(f3, g6) + _m(f4, g5)
    h9 = h9 + _m(f5, g4) + _m(f6, g3) + _m(f7, g2) + _m(f8, g1) + _m(f9, g0)
    return _carry(h0, h1, h2, h3, h4, h5, h6, h7, h8, h9)


@register_jitable(forceinline=True)
def fe_sq(f):
    f0, f1, f2, f3, f4, f5, f6, f7, f8, f9 = f
    f0_2 = f0 * _U2
    f1_2 = f1 * _U2
    f2_2 = f2 * _U2
    f3_2 = f3 * _U2
    f4_2 = f4 * _U2
    f5_2 = f5 * _U2
    f6_2 = f6 * _U2
    f7_2 = f7 * _U2
    f5_38 = f5 * _U38
    f6_19 = f6 * _U19
    f7_38 = f7 * _U38
    f8_19 = f8 * _U19
    f9_38 = f9 * _U38
    # fe_mul's columns with each cross product f_i f_j (i != j) counted once, doubled.
    h0 = _m(f0, f0) + _m(f1_2, f9_38) + _m(f2_2, f8_19) + _m(f3_2, f7_38) + _m(f4_2, f6_19)
    h0 = h0 + _m(f5, f5_38)
    h1 = _m(f0_2, f1) + _m(f2, f9_38) + _m(f3_2, f8_19) + _m(f4, f7_38) + _m(f5_2, f6_19)
    h2 = _m(f0_2, f2) + _m(f1_2, f1) + _m(f3_2, f9_38) + _m(f4_2, f8_19) + _m(f5_2, f7_38)
    h2 = h2 + _m(f6, f6_19)
    h3 = _m(f0_2, f3) + _m(f1_2, f2) + _m(f4, f9_38) + _m(f5_2, f8_19) + _m(f6, f7_38)
    h4 = _m(f0_2, f4) + _m(f1_2, f3_2) + _m(f2, f2) + _m(f5_2, f9_38) + _m(f6_2, f8_19)
    h4 = h4 + _m(f7, f7_38)
    h5 = _m(f0_2, f5) + _m(f1_2, f4) + _m(f2_2, f3) + _m(f6, f9_38) + _m(f7_2, f8_19)
    h6 = _m(f0_2, f6) + _m(f1_2, f5_2) + _m(f2_2, f4) + _m(f3_2, f3) + _m(f7_2, f9_38)
    h6 = h6 + _m(f8, f8_19)
    h7 = _m(f0_2, f7) + _m(f1_2, f6) + _m(f2_2, f5) + _m(f3_2, f4) + _m(f8, f9_38)
    h8 = _m(f0_2, f8) + _m(f1_2, f7_2) + _m(f2_2, f6) + _m(f3_2, f5_2) + _m(f4, f4)
    h8 = h8 + _m(f9, f9_38)
    h9 = _m(f0_2, f9) + _m(f1_2, f8) + _m(f2_2, f7) + _m(f3_2, f6) + _m(f4_2, f5)
    return _carry(h0, h1, h2, h3, h4, h5, h6, h7, h8, h9)


@register_jitable
def fe_add(f, g):
    return (
        f[0] + g[0],
        f[1] + g[1],
        f[2] + g[2],
        f[3] + g[3],
        f[4] + g[4],
        f[5] + g[5],
        f[6] + g[6],
        f[7] + g[7],
        f[8] + g[8],
        f[9] + g[9],
    )


@register_jitable
def fe_sub(f, g):
    """f - g, carried: 4p is added first so that no limb goes below zero."""
    return _carry(
        f[0] + _4P0 - g[0],
        f[1] + _4P[1] - g[1],
        f[2] + _4P[2] - g[2],
        f[3] + _4P[3] - g[3],
        f[4] + _4P[4] - g[4],
        f[5] + _4P[5] - g[5],
        f[6] + _4P[6] - g[6],
        f[7] + _4P[7] - g[7],
        f[8] + _4P[8] - g[8],
        f[9] + _4P[9] - g[9],
    )


@register_jitable
def fe_neg(f):
    return fe_sub(FE_ZERO, f)


@register_jitable
def fe_select(mask, f, g):
    """f where mask is all ones, g where it is zero (per lane; no branch)."""
    return (
        g[0] ^ ((f[0] ^ g[0]) & mask),
        g[1] ^ ((f[1] ^ g[1]) & mask),
        g[2] ^ ((f[2] ^ g[2]) & mask),
        g[3] ^ ((f[3] ^ g[3]) & mask),
        g[4] ^ ((f[4] ^ g[4]) & mask),
        g[5] ^ ((f[5] ^ g[5]) & mask),
        g[6] ^ ((f[6] ^ g[6]) & mask),
        g[7] ^ ((f[7] ^ g[7]) & mask),
        g[8] ^ ((f[8] ^ g[8]) & mask),
        g[9] ^ ((f[9] ^ g[9]) & mask),
    )


@register_jitable
def fe_sq_times(f, k):
    """f^(2^k), k >= 1."""
    for _ in range(k):
        f = fe_sq(f)
    return f


@register_jitable
def _pow_2_250_1(z):
    """(z^(2^250-1), z^11): ref10's addition chain, shared by the two exponentiations."""
    t0 = fe_sq(z)
    t1 = fe_mul(z, fe_sq_times(t0, 2))  # z^9
    z11 = fe_mul(t0, t1)  # z^11
    t0 = fe_mul(t1, fe_sq(z11))  # z^(2^5-1)
    t0 = fe_mul(fe_sq_times(t0, 5), t0)  # 2^10-1
    t1 = fe_mul(fe_sq_times(t0, 10), t0)  # 2^20-1
    t1 = fe_mul(fe_sq_times(t1, 20), t1)  # 2^40-1
    t0 = fe_mul(fe_sq_times(t1, 10), t0)  # 2^50-1
    t1 = fe_mul(fe_sq_times(t0, 50), t0)  # 2^100-1
    t1 = fe_mul(fe_sq_times(t1, 100), t1)  # 2^200-1
    return fe_mul(fe_sq_times(t1, 50), t0), z11  # 2^250-1


@register_jitable
def fe_pow22523(z):
    """z^((p-5)/8) = z^(2^252-3), the square-root helper."""
    t, _ = _pow_2_250_1(z)
    return fe_mul(fe_sq_times(t, 2), z)


@register_jitable
def fe_invert(z):
    """z^(p-2) = 1/z (0 for z = 0)."""
    t, z11 = _pow_2_250_1(z)
    return fe_mul(fe_sq_times(t, 5), z11)  # 2^255-21


@register_jitable
def fe_canonical(f):
    """The unique limbs of f mod p, each below 2^26 / 2^25 (ref10's fe_tobytes reduction)."""
    h0, h1, h2, h3, h4, h5, h6, h7, h8, h9 = _carry(*_carry(*f))
    q = (h0 + _U19) >> _U26  # q = 1 exactly when the value is at least p
    q = (h1 + q) >> _U25
    q = (h2 + q) >> _U26
    q = (h3 + q) >> _U25
    q = (h4 + q) >> _U26
    q = (h5 + q) >> _U25
    q = (h6 + q) >> _U26
    q = (h7 + q) >> _U25
    q = (h8 + q) >> _U26
    q = (h9 + q) >> _U25
    h0 = h0 + q * _U19
    c = h0 >> _U26
    h0 = h0 & _M26
    h1 = h1 + c
    c = h1 >> _U25
    h1 = h1 & _M25
    h2 = h2 + c
    c = h2 >> _U26
    h2 = h2 & _M26
    h3 = h3 + c
    c = h3 >> _U25
    h3 = h3 & _M25
    h4 = h4 + c
    c = h4 >> _U26
    h4 = h4 & _M26
    h5 = h5 + c
    c = h5 >> _U25
    h5 = h5 & _M25
    h6 = h6 + c
    c = h6 >> _U26
    h6 = h6 & _M26
    h7 = h7 + c
    c = h7 >> _U25
    h7 = h7 & _M25
    h8 = h8 + c
    c = h8 >> _U26
    h8 = h8 & _M26
    h9 = (h9 + c) & _M25  # drops 2^255: the q p subtracted
    return (h0, h1, h2, h3, h4, h5, h6, h7, h8, h9)


@register_jitable
def mask_if_zero(z):
    """All ones where z = 0, else zero (per lane), for z below 2^63."""
    return _ZERO - ((z - _ONE) >> _U63)  # z - 1 wraps, setting the top bit, only for z = 0


@register_jitable
def fe_zero_mask(f):
    """All ones where f = 0 mod p, else zero (per lane)."""
    c = fe_canonical(f)
    return mask_if_zero(c[0] | c[1] | c[2] | c[3] | c[4] | c[5] | c[6] | c[7] | c[8] | c[9])


@register_jitable
def fe_broadcast(constant, like):
    """The constant element with the limb type of ``like`` (a limb): u64x8 lanes or a scalar."""
    lanes = (like, like, like, like, like, like, like, like, like, like)
    return fe_select(_ZERO, lanes, constant)


@register_jitable
def fe_parity(f):
    """The low bit of the canonical value (the 'sign' of x in an encoding): 0 or 1 per lane."""
    return fe_canonical(f)[0] & _ONE


@register_jitable
def _bits_at(b, shift, width):
    first = shift >> 3
    word = _ZERO
    for j in range(5):
        if first + j < 32:
            word |= np.uint64(b[first + j]) << np.uint64(8 * j)
    return (word >> np.uint64(shift & 7)) & np.uint64((1 << width) - 1)


@register_jitable
def fe_from_bytes(b):
    """Limbs of the low 255 bits of a 32-byte little-endian array, NOT reduced mod p.

    Values in [p, 2^255) keep their exact limbs (so a caller can tell them from canonical
    ones); the arithmetic functions treat them as their residue mod p.
    """
    return (
        _bits_at(b, 0, 26),
        _bits_at(b, 26, 25),
        _bits_at(b, 51, 26),
        _bits_at(b, 77, 25),
        _bits_at(b, 102, 26),
        _bits_at(b, 128, 25),
        _bits_at(b, 153, 26),
        _bits_at(b, 179, 25),
        _bits_at(b, 204, 26),
        _bits_at(b, 230, 25),
    )


@register_jitable
def fe_to_bytes(f, out):
    """out[0:32] = the 255 bits of canonical limbs f (from fe_canonical), little-endian."""
    word = _ZERO
    bits = 0
    n = 0
    for i in range(FE_LIMBS):
        word |= np.uint64(f[i]) << np.uint64(bits)
        bits += 26 - (i & 1)
        while bits >= 8:
            out[n] = np.uint8(word & np.uint64(0xFF))
            word >>= np.uint64(8)
            bits -= 8
            n += 1
    out[31] = np.uint8(word)  # the last 7 bits; bit 255 is zero
