"""Ed25519 signature verification, written once for Numba's CPU and CUDA targets.

The rule is OpenSSL's (``ossl_ed25519_verify``, what `cryptography` calls), bit for bit; the
tests pin each point below on `cryptography` itself (checked with 50.0.2 / OpenSSL 4.0.3):

1. The public key is 32 bytes and the signature 64 bytes (checked by the caller; anything else
   is invalid).
2. S (the signature's last 32 bytes, little-endian) must be below the group order L;
   S >= L is rejected.
3. The public key A is decoded: y = the low 255 bits, taken modulo p, so non-canonical
   encodings (y >= p) are ACCEPTED; x is the square root of (y^2 - 1) / (d y^2 + 1) whose low
   bit equals the top bit of the key; no square root means rejection. x = 0 with the sign bit
   set is accepted (x stays 0). Small-order and mixed-order keys, the identity included, are
   accepted: there is no subgroup or small-order check.
4. k = SHA-512(R || A || M) mod L, hashed over the signature's and key's bytes exactly as given.
5. R' = [S]B - [k]A is computed without cofactor (a plain double-scalar multiplication) and
   encoded canonically (y mod p, sign of x in the top bit). The signature is valid exactly when
   that encoding equals the 32 bytes of R. R is never decoded, so a non-canonical R (y >= p,
   or x = 0 with the sign bit set) can never match and is rejected; a small-order or
   mixed-order R is accepted whenever the equation holds.

Points use extended coordinates (X : Y : Z : T) with the complete twisted Edwards formulas of
RFC 8032, valid for every pair of curve points, so small-order inputs need no special case.
R' is computed as [S]B + [k](-A) from signed radix-16 digits of both scalars (ref10's
recoding: 64 digits in [-8, 8]) and tables of the multiples 0..8 (kernels.ed25519_tables).
Every function here is generic over the limb type (see kernels.ed25519_field): one signature
with ``np.uint64`` limbs, or eight with ``u64x8`` limbs; per-lane decisions are masks.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from kernels.ed25519_field import (
    FE_D,
    FE_D2,
    FE_ONE,
    FE_SQRTM1,
    P,
    fe_add,
    fe_broadcast,
    fe_canonical,
    fe_const,
    fe_mul,
    fe_neg,
    fe_parity,
    fe_pow22523,
    fe_select,
    fe_sq,
    fe_sub,
    fe_to_bytes,
    fe_zero_mask,
    mask_if_zero,
)

L = 2**252 + 27742317777372353535851937790883648493
L_BYTES = np.frombuffer(L.to_bytes(32, "little"), dtype=np.uint8).copy()
L_LIMBS = np.array([(L >> (21 * i)) & 0x1FFFFF for i in range(13)], dtype=np.int64)
# 2^252 = -(L - 2^252) mod L: the folding constant of the scalar reduction, in 21-bit limbs.
C_LIMBS = np.array([((L - 2**252) >> (21 * i)) & 0x1FFFFF for i in range(6)], dtype=np.int64)
SCALAR_LIMBS = 13  # 21-bit limbs of a scalar below 2^273
WIDE_LIMBS = 25  # 21-bit limbs of a 64-byte digest or a product of two scalars
DIGITS = 64  # signed radix-16 digits of a scalar below 2^253
D = -121665 * pow(121666, -1, P) % P
_ZERO = np.uint64(0)


def affine_add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    """The sum of two affine points, in plain integers (for constants and tests)."""
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P,
        (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P,
    )


def _base_point() -> tuple[int, int]:
    y = 4 * pow(5, -1, P) % P
    xx = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    return (P - x if x & 1 else x), y


BASE_AFFINE = _base_point()
BASE = (  # B in extended coordinates: what a lane whose key does not decode computes with
    fe_const(BASE_AFFINE[0]),
    fe_const(BASE_AFFINE[1]),
    FE_ONE,
    fe_const(BASE_AFFINE[0] * BASE_AFFINE[1]),
)


# --- scalars ---------------------------------------------------------------------------------


@register_jitable
def scalar_below_order(s):
    """Whether the 32-byte little-endian scalar s is below L (variable time: S is public)."""
    for i in range(31, -1, -1):
        if s[i] < L_BYTES[i]:
            return True
        if s[i] > L_BYTES[i]:
            return False
    return False


@register_jitable
def _carry21(limbs, lo, hi):
    """Floor-carry limbs[lo:hi] into limbs[hi], leaving each in [0, 2^21)."""
    for j in range(lo, hi):
        c = limbs[j] >> 21
        limbs[j + 1] += c
        limbs[j] -= c << 21


@register_jitable
def _load_limbs(b, nbytes, limbs, count):
    """limbs[0:count] = the nbytes little-endian bytes of b, in 21-bit limbs."""
    for i in range(count):
        shift = 21 * i
        first = shift >> 3
        word = np.int64(0)
        for j in range(4):
            if first + j < nbytes:
                word |= np.int64(b[first + j]) << (8 * j)
        limbs[i] = (word >> (shift & 7)) & 0x1FFFFF


@register_jitable
def _fold(limbs, i):
    """Move limb i >= 12 down by 2^252 = -(L - 2^252) mod L: the value mod L is unchanged."""
    v = limbs[i]
    limbs[i] = 0
    for j in range(6):
        limbs[i - 12 + j] -= v * C_LIMBS[j]


@register_jitable
def reduce_wide(limbs):
    """limbs[0:13] = the value of limbs[0:25] mod L, canonical; each input limb in [0, 2^21).

    No branch depends on the value (a signer's nonce and S are secret). Each fold leaves the
    limb below it signed and small, and that limb is folded next; after limb 12's own fold the
    value V lies in (-2^148, 2^252 + 2^148), so one masked addition of L and one masked
    subtraction make it canonical.
    """
    for i in range(WIDE_LIMBS - 1, SCALAR_LIMBS - 1, -1):
        _fold(limbs, i)
        _carry21(limbs, i - 12, i - 1)
    _fold(limbs, 12)
    _carry21(limbs, 0, 12)  # limbs[12] is now -1, 0 or 1
    negative = limbs[12] >> 63  # all ones where V < 0
    for j in range(SCALAR_LIMBS):
        limbs[j] += L_LIMBS[j] & negative
    _carry21(limbs, 0, 12)  # 0 <= V < 2L
    borrow = np.int64(0)
    for j in range(SCALAR_LIMBS):
        borrow = (limbs[j] - L_LIMBS[j] + borrow) >> 21
    below = borrow >> 63  # all ones where V < L
    for j in range(SCALAR_LIMBS):
        limbs[j] -= L_LIMBS[j] & ~below
    _carry21(limbs, 0, 12)


@register_jitable
def reduce_digest(digest, limbs):
    """limbs[0:13] = the 64-byte little-endian digest mod L, in canonical 21-bit limbs."""
    _load_limbs(digest, 64, limbs, WIDE_LIMBS)
    reduce_wide(limbs)


@register_jitable
def load_scalar(s, limbs):
    """limbs[0:13] = the 32-byte little-endian scalar s, in 21-bit limbs (not reduced)."""
    _load_limbs(s, 32, limbs, SCALAR_LIMBS)


@register_jitable
def scalar_muladd(k, a, r, limbs):
    """limbs[0:13] = (r + k a) mod L, canonical: a signature's S. k, a and r are 21-bit limbs
    of values below 2^253 (13 each); limbs has WIDE_LIMBS. Branch-free, like reduce_wide."""
    for i in range(WIDE_LIMBS):
        limbs[i] = 0
    for i in range(SCALAR_LIMBS):
        limbs[i] += r[i]
        for j in range(SCALAR_LIMBS):
            limbs[i + j] += k[i] * a[j]  # a column sums at most 13 products below 2^42
    _carry21(limbs, 0, WIDE_LIMBS - 1)  # below 2^507: limb 24 is under 2^21
    reduce_wide(limbs)


@register_jitable
def scalar_to_bytes(limbs, out):
    """out[0:32] = the canonical scalar in limbs[0:13] (below 2^256), little-endian."""
    _split_limbs(limbs, out, 32, 8)


@register_jitable
def _split_limbs(limbs, out, count, width):
    """out[0:count] = the scalar in 21-bit limbs as consecutive width-bit chunks, low first."""
    word = np.int64(0)
    bits = 0
    j = 0
    for n in range(count):
        if bits < width and j < SCALAR_LIMBS:
            word |= limbs[j] << bits
            bits += 21
            j += 1
        out[n] = word & ((1 << width) - 1)
        word >>= width
        bits -= width


@register_jitable
def _signed_radix16(digits):
    """Turn digits from nibbles (0..15) into ref10's signed digits (-8..8), in place."""
    carry = 0
    for i in range(DIGITS - 1):
        d = digits[i] + carry
        carry = (d + 8) >> 4
        digits[i] = d - (carry << 4)
    digits[DIGITS - 1] += carry


@register_jitable
def recode_bytes(s, digits):
    """digits[0:64] = signed radix-16 digits of the 32-byte little-endian scalar s < 2^253."""
    for i in range(32):
        digits[2 * i] = s[i] & 15
        digits[2 * i + 1] = s[i] >> 4
    _signed_radix16(digits)


@register_jitable
def recode_limbs(limbs, digits):
    """digits[0:64] = signed radix-16 digits of the scalar in 21-bit limbs (below L)."""
    _split_limbs(limbs, digits, DIGITS, 4)
    _signed_radix16(digits)


# --- points ----------------------------------------------------------------------------------


@register_jitable
def decompress(y, sign):
    """(ok mask, extended point) from a key's y limbs and sign bit, under the module's rule.

    ok is all ones where the key decodes; elsewhere the point is not on the curve.
    """
    y2 = fe_sq(y)
    u = fe_sub(y2, FE_ONE)
    v = fe_add(fe_mul(y2, FE_D), FE_ONE)
    v3 = fe_mul(fe_sq(v), v)
    x = fe_mul(fe_mul(fe_sq(v3), v), u)  # u v^7
    x = fe_mul(fe_mul(fe_pow22523(x), v3), u)  # u v^3 (u v^7)^((p-5)/8)
    vxx = fe_mul(fe_sq(x), v)
    root = fe_zero_mask(fe_sub(vxx, u))
    root_of_minus = fe_zero_mask(fe_add(vxx, u))
    x = fe_select(root, x, fe_mul(x, FE_SQRTM1))
    x = fe_select(_ZERO - (fe_parity(x) ^ sign), fe_neg(x), x)
    return root | root_of_minus, (x, y, fe_broadcast(FE_ONE, x[0]), fe_mul(x, y))


@register_jitable
def point_select(mask, p, q):
    """p where mask is all ones, q where it is zero (per lane)."""
    return (
        fe_select(mask, p[0], q[0]),
        fe_select(mask, p[1], q[1]),
        fe_select(mask, p[2], q[2]),
        fe_select(mask, p[3], q[3]),
    )


@register_jitable
def negate(p):
    return (fe_neg(p[0]), p[1], p[2], fe_neg(p[3]))


@register_jitable
def to_cached(p):
    """Extended point -> (Y+X, Y-X, 2Z, 2dT), the addend form of add_cached."""
    x, y, z, t = p
    return (fe_add(y, x), fe_sub(y, x), fe_add(z, z), fe_mul(t, FE_D2))


@register_jitable
def _completed(a, b, c, d):
    """(E, F, G, H) of the RFC 8032 formulas from their A, B, C, D."""
    return (fe_sub(b, a), fe_sub(d, c), fe_add(d, c), fe_add(b, a))


@register_jitable
def add_cached(p, q):
    """p + q, q in cached form (Y+X, Y-X, 2Z, 2dT); result in completed form."""
    x, y, z, t = p
    ypx, ymx, z2, t2d = q
    return _completed(
        fe_mul(fe_sub(y, x), ymx), fe_mul(fe_add(y, x), ypx), fe_mul(t, t2d), fe_mul(z, z2)
    )


@register_jitable
def add_niels(p, q):
    """p + q, q affine in niels form (y+x, y-x, 2dxy); result in completed form."""
    x, y, z, t = p
    ypx, ymx, xy2d = q
    return _completed(
        fe_mul(fe_sub(y, x), ymx), fe_mul(fe_add(y, x), ypx), fe_mul(t, xy2d), fe_add(z, z)
    )


@register_jitable
def double(p):
    """2p from (X, Y, Z) (T unused); completed form."""
    x, y, z = p[0], p[1], p[2]
    a = fe_sq(x)
    b = fe_sq(y)
    c = fe_sq(z)
    c = fe_add(c, c)
    h = fe_add(a, b)
    e = fe_sub(h, fe_sq(fe_add(x, y)))
    g = fe_sub(a, b)
    return (e, fe_add(c, g), g, h)


@register_jitable
def completed_to_extended(c):
    e, f, g, h = c
    return (fe_mul(e, f), fe_mul(g, h), fe_mul(f, g), fe_mul(e, h))


@register_jitable
def completed_to_projective(c):
    """(X, Y, Z) only, T is left as Z (unused): enough for a following doubling."""
    e, f, g, h = c
    z = fe_mul(f, g)
    return (fe_mul(e, f), fe_mul(g, h), z, z)


@register_jitable
def double_times(p, n):
    """[2^n]p in extended coordinates, n >= 1 (only the last doubling computes T)."""
    for _ in range(n - 1):
        p = completed_to_projective(double(p))
    return completed_to_extended(double(p))


@register_jitable
def multiples(p):
    """([1]p, [2]p, ..., [8]p) in extended coordinates: 4 doublings and 3 additions."""
    one = to_cached(p)
    p2 = completed_to_extended(double(p))
    p3 = completed_to_extended(add_cached(p2, one))
    p4 = completed_to_extended(double(p2))
    p6 = completed_to_extended(double(p3))
    return (
        p,
        p2,
        p3,
        p4,
        completed_to_extended(add_cached(p4, one)),
        p6,
        completed_to_extended(add_cached(p6, one)),
        completed_to_extended(double(p4)),
    )


@register_jitable
def encode_point(y, x_parity, out):
    """out[0:32] = a point's encoding from its canonical y (fe_canonical) and x's parity."""
    fe_to_bytes(y, out)
    out[31] |= np.uint8(x_parity << np.uint64(7))


@register_jitable
def encoding_matches(x, y, r_y, r_sign):
    """Mask of the lanes where the affine point (x, y) encodes to R (r_y: R's exact y limbs)."""
    cy = fe_canonical(y)
    differ = (fe_parity(x) ^ r_sign) | (cy[0] ^ r_y[0]) | (cy[1] ^ r_y[1]) | (cy[2] ^ r_y[2])
    differ = differ | (cy[3] ^ r_y[3]) | (cy[4] ^ r_y[4]) | (cy[5] ^ r_y[5]) | (cy[6] ^ r_y[6])
    differ = differ | (cy[7] ^ r_y[7]) | (cy[8] ^ r_y[8]) | (cy[9] ^ r_y[9])
    return mask_if_zero(differ)
