"""Arithmetic modulo p = 2^255 - 19, written once for Numba's CPU and CUDA targets.

A field element is a tuple of five uint64 limbs in radix 2^51 (limb i weighs 2^(51 i)), as in
OpenSSL's and curve25519-donna's 64-bit code. Products of two limbs are 128 bits wide: the low
half is an ordinary uint64 multiplication and the high half is ``umulhi``, the one primitive the
two targets spell differently (one x86 MUL via LLVM i128 here, __umul64hi on the GPU, registered
by kernels.cuda_backend). Tuples live in registers on the GPU and need no allocation on the CPU.

fe_mul, fe_sq and everything built on them return carried elements (limbs below 2^51 + 2^13).
fe_add, fe_sub and fe_neg do not carry: fe_sub and fe_neg add 4p before subtracting, so their
subtrahend must be carried or a single fe_add/fe_sub result, and any of these results (limbs
below 2^54) may feed fe_mul, fe_sq, another fe_add, or the canonical reduction. Within those
bounds no 128-bit accumulator and no 64-bit carry can overflow.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

P = 2**255 - 19
FE_LIMBS = 5
_LIMB_BITS = 51
_MASK = np.uint64((1 << 51) - 1)
_U51 = np.uint64(51)
_U13 = np.uint64(13)
_U19 = np.uint64(19)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)


def fe_const(value: int) -> tuple[np.uint64, ...]:
    """The limbs of an integer constant (plain Python, used to build module constants)."""
    value %= P
    return tuple(
        np.uint64((value >> (_LIMB_BITS * i)) & ((1 << _LIMB_BITS) - 1)) for i in range(FE_LIMBS)
    )


def fe_value(limbs) -> int:
    """The integer an element stands for, mod p (plain Python, for tests and constants)."""
    return sum(int(x) << (_LIMB_BITS * i) for i, x in enumerate(limbs)) % P


FE_ZERO = fe_const(0)
FE_ONE = fe_const(1)
FE_D = fe_const(-121665 * pow(121666, -1, P))
FE_D2 = fe_const(2 * -121665 * pow(121666, -1, P))
FE_SQRTM1 = fe_const(pow(2, (P - 1) // 4, P))
# 4p in limbs, added before a subtraction so that every limb stays non-negative.
_4P0 = np.uint64(4 * ((1 << 51) - 19))
_4P = np.uint64(4 * ((1 << 51) - 1))


def umulhi(a, b):
    """High 64 bits of the 128-bit product a * b (plain Python: the CUDA simulator runs this)."""
    return np.uint64((int(a) * int(b)) >> 64)


@intrinsic
def _umulhi_llvm(typingctx, a, b):
    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        return builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))

    return types.uint64(types.uint64, types.uint64), codegen


@overload(umulhi, target="cpu")
def _umulhi_cpu(a, b):
    return lambda a, b: _umulhi_llvm(a, b)


@register_jitable
def _mac(lo, hi, a, b):
    """(hi:lo) + a * b, as a 128-bit pair."""
    low = a * b
    lo2 = lo + low
    return lo2, hi + umulhi(a, b) + (_ONE if lo2 < low else _ZERO)


@register_jitable
def _shift51(lo, hi):
    """(hi:lo) >> 51, which fits 64 bits under the module's bounds."""
    return (lo >> _U51) | (hi << _U13)


@register_jitable
def _add_carry(lo, hi, c):
    lo2 = lo + c
    return lo2, hi + (_ONE if lo2 < c else _ZERO)


@register_jitable
def _reduce_wide(l0, h0, l1, h1, l2, h2, l3, h3, l4, h4):
    """Carry five 128-bit column sums into a carried element."""
    c = _shift51(l0, h0)
    r0 = l0 & _MASK
    l1, h1 = _add_carry(l1, h1, c)
    c = _shift51(l1, h1)
    r1 = l1 & _MASK
    l2, h2 = _add_carry(l2, h2, c)
    c = _shift51(l2, h2)
    r2 = l2 & _MASK
    l3, h3 = _add_carry(l3, h3, c)
    c = _shift51(l3, h3)
    r3 = l3 & _MASK
    l4, h4 = _add_carry(l4, h4, c)
    c = _shift51(l4, h4)
    r4 = l4 & _MASK
    r0 += c * _U19
    c = r0 >> _U51
    r0 &= _MASK
    return (r0, r1 + c, r2, r3, r4)


@register_jitable
def fe_mul(f, g):
    a0, a1, a2, a3, a4 = f
    b0, b1, b2, b3, b4 = g
    b1_19 = b1 * _U19
    b2_19 = b2 * _U19
    b3_19 = b3 * _U19
    b4_19 = b4 * _U19
    l0, h0 = _mac(_ZERO, _ZERO, a0, b0)
    l0, h0 = _mac(l0, h0, a1, b4_19)
    l0, h0 = _mac(l0, h0, a2, b3_19)
    l0, h0 = _mac(l0, h0, a3, b2_19)
    l0, h0 = _mac(l0, h0, a4, b1_19)
    l1, h1 = _mac(_ZERO, _ZERO, a0, b1)
    l1, h1 = _mac(l1, h1, a1, b0)
    l1, h1 = _mac(l1, h1, a2, b4_19)
    l1, h1 = _mac(l1, h1, a3, b3_19)
    l1, h1 = _mac(l1, h1, a4, b2_19)
    l2, h2 = _mac(_ZERO, _ZERO, a0, b2)
    l2, h2 = _mac(l2, h2, a1, b1)
    l2, h2 = _mac(l2, h2, a2, b0)
    l2, h2 = _mac(l2, h2, a3, b4_19)
    l2, h2 = _mac(l2, h2, a4, b3_19)
    l3, h3 = _mac(_ZERO, _ZERO, a0, b3)
    l3, h3 = _mac(l3, h3, a1, b2)
    l3, h3 = _mac(l3, h3, a2, b1)
    l3, h3 = _mac(l3, h3, a3, b0)
    l3, h3 = _mac(l3, h3, a4, b4_19)
    l4, h4 = _mac(_ZERO, _ZERO, a0, b4)
    l4, h4 = _mac(l4, h4, a1, b3)
    l4, h4 = _mac(l4, h4, a2, b2)
    l4, h4 = _mac(l4, h4, a3, b1)
    l4, h4 = _mac(l4, h4, a4, b0)
    return _reduce_wide(l0, h0, l1, h1, l2, h2, l3, h3, l4, h4)


@register_jitable
def fe_sq(f):
    a0, a1, a2, a3, a4 = f
    d0 = a0 + a0
    d1 = a1 + a1
    d2 = a2 + a2
    a3_19 = a3 * _U19
    a4_19 = a4 * _U19
    l0, h0 = _mac(_ZERO, _ZERO, a0, a0)
    l0, h0 = _mac(l0, h0, d1, a4_19)
    l0, h0 = _mac(l0, h0, d2, a3_19)
    l1, h1 = _mac(_ZERO, _ZERO, d0, a1)
    l1, h1 = _mac(l1, h1, d2, a4_19)
    l1, h1 = _mac(l1, h1, a3, a3_19)
    l2, h2 = _mac(_ZERO, _ZERO, d0, a2)
    l2, h2 = _mac(l2, h2, a1, a1)
    l2, h2 = _mac(l2, h2, a3 + a3, a4_19)
    l3, h3 = _mac(_ZERO, _ZERO, d0, a3)
    l3, h3 = _mac(l3, h3, d1, a2)
    l3, h3 = _mac(l3, h3, a4, a4_19)
    l4, h4 = _mac(_ZERO, _ZERO, d0, a4)
    l4, h4 = _mac(l4, h4, d1, a3)
    l4, h4 = _mac(l4, h4, a2, a2)
    return _reduce_wide(l0, h0, l1, h1, l2, h2, l3, h3, l4, h4)


@register_jitable
def fe_add(f, g):
    return (f[0] + g[0], f[1] + g[1], f[2] + g[2], f[3] + g[3], f[4] + g[4])


@register_jitable
def fe_sub(f, g):
    return (
        f[0] + _4P0 - g[0],
        f[1] + _4P - g[1],
        f[2] + _4P - g[2],
        f[3] + _4P - g[3],
        f[4] + _4P - g[4],
    )


@register_jitable
def fe_neg(f):
    return fe_sub(FE_ZERO, f)


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
def _carry(f):
    r0, r1, r2, r3, r4 = f
    c = r0 >> _U51
    r0 &= _MASK
    r1 += c
    c = r1 >> _U51
    r1 &= _MASK
    r2 += c
    c = r2 >> _U51
    r2 &= _MASK
    r3 += c
    c = r3 >> _U51
    r3 &= _MASK
    r4 += c
    c = r4 >> _U51
    r4 &= _MASK
    return (r0 + c * _U19, r1, r2, r3, r4)


@register_jitable
def fe_canonical(f):
    """The unique limbs of f mod p, every limb below 2^51."""
    r0, r1, r2, r3, r4 = _carry(_carry(f))
    q = (r0 + _U19) >> _U51  # q = 1 exactly when the value is at least p
    q = (r1 + q) >> _U51
    q = (r2 + q) >> _U51
    q = (r3 + q) >> _U51
    q = (r4 + q) >> _U51
    r0 += _U19 * q
    c = r0 >> _U51
    r0 &= _MASK
    r1 += c
    c = r1 >> _U51
    r1 &= _MASK
    r2 += c
    c = r2 >> _U51
    r2 &= _MASK
    r3 += c
    c = r3 >> _U51
    r3 &= _MASK
    r4 = (r4 + c) & _MASK
    return (r0, r1, r2, r3, r4)


@register_jitable
def fe_is_zero(f):
    c = fe_canonical(f)
    return (c[0] | c[1] | c[2] | c[3] | c[4]) == _ZERO


@register_jitable
def fe_is_negative(f):
    """The low bit of the canonical value (the 'sign' of x in an encoding), as 0 or 1."""
    return np.int64(fe_canonical(f)[0] & _ONE)


@register_jitable
def _bits_at(b, shift):
    first = shift >> 3
    word = _ZERO
    for j in range(8):
        if first + j < 32:
            word |= np.uint64(b[first + j]) << np.uint64(8 * j)
    return (word >> np.uint64(shift & 7)) & _MASK


@register_jitable
def fe_from_bytes(b):
    """Limbs of the low 255 bits of a 32-byte little-endian array, NOT reduced mod p.

    Values in [p, 2^255) keep their exact limbs (so a caller can tell them from canonical
    ones); the arithmetic functions treat them as their residue mod p.
    """
    return (_bits_at(b, 0), _bits_at(b, 51), _bits_at(b, 102), _bits_at(b, 153), _bits_at(b, 204))


@register_jitable
def fe_equal_limbs(f, g):
    return f[0] == g[0] and f[1] == g[1] and f[2] == g[2] and f[3] == g[3] and f[4] == g[4]
