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
The double-scalar multiplication is ref10's: signed sliding windows (width 5) over both
scalars, a per-signature table of odd multiples of A and a constant table for B.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from kernels.ed25519_field import (
    FE_D,
    FE_D2,
    FE_LIMBS,
    FE_ONE,
    FE_SQRTM1,
    FE_ZERO,
    P,
    fe_add,
    fe_canonical,
    fe_const,
    fe_equal_limbs,
    fe_from_bytes,
    fe_invert,
    fe_is_negative,
    fe_is_zero,
    fe_mul,
    fe_neg,
    fe_pow22523,
    fe_sq,
    fe_sub,
)
from kernels.sha512_core import sha512_ram

L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, P) % P
TABLE_SIZE = 8  # odd multiples 1, 3, ..., 15 (signed window width 5)


def _affine_add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = p1, p2
    t = _D * x1 * x2 * y1 * y2 % P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P,
        (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P,
    )


def _base_point() -> tuple[int, int]:
    y = 4 * pow(5, -1, P) % P
    xx = (y * y - 1) * pow(_D * y * y + 1, -1, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    return (P - x if x & 1 else x), y


def _base_table() -> np.ndarray:
    """[1, 3, ..., 15]B as (y + x, y - x, 2 d x y) limbs: shape (8, 3, FE_LIMBS)."""
    base = _base_point()
    twice = _affine_add(base, base)
    table = np.empty((TABLE_SIZE, 3, FE_LIMBS), dtype=np.uint64)
    point = base
    for j in range(TABLE_SIZE):
        x, y = point
        table[j] = [fe_const(y + x), fe_const(y - x), fe_const(2 * _D * x * y)]
        point = _affine_add(point, twice)
    return table


BASE_TABLE = _base_table()
L_BYTES = np.frombuffer(L.to_bytes(32, "little"), dtype=np.uint8).copy()
L_LIMBS = np.array([(L >> (21 * i)) & 0x1FFFFF for i in range(13)], dtype=np.int64)
# 2^252 = -(L - 2^252) mod L: the folding constant of the scalar reduction, in 21-bit limbs.
C_LIMBS = np.array([((L - 2**252) >> (21 * i)) & 0x1FFFFF for i in range(6)], dtype=np.int64)
IDENTITY = (FE_ZERO, FE_ONE, FE_ONE, FE_ZERO)


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
def reduce_digest(digest, limbs):
    """limbs[0:13] = the 64-byte little-endian digest mod L, in canonical 21-bit limbs."""
    for i in range(25):
        shift = 21 * i
        b = shift >> 3
        word = np.int64(0)
        for j in range(4):
            if b + j < 64:
                word |= np.int64(digest[b + j]) << (8 * j)
        limbs[i] = (word >> (shift & 7)) & 0x1FFFFF
    for i in range(24, 12, -1):  # fold limb i (weight 2^(21 i) = 2^(21 (i-12)) 2^252)
        v = limbs[i]
        limbs[i] = 0
        for j in range(6):
            limbs[i - 12 + j] -= v * C_LIMBS[j]
        _carry21(limbs, i - 12, i - 1)
        _carry21(limbs, i - 1, i)
    for _ in range(3):  # fold whatever sits at 2^252 and above (limb 12) until it is 0 or 1
        _carry21(limbs, 0, 12)
        v = limbs[12]
        if v == 0 or v == 1:
            break
        limbs[12] = 0
        for j in range(6):
            limbs[j] -= v * C_LIMBS[j]
    _carry21(limbs, 0, 12)
    if limbs[12] < 0:
        for j in range(13):
            limbs[j] += L_LIMBS[j]
        _carry21(limbs, 0, 12)
    for _ in range(2):  # now 0 <= value < 2L: subtract L when that stays non-negative
        borrow = np.int64(0)
        for j in range(13):
            borrow = (limbs[j] - L_LIMBS[j] + borrow) >> 21
        if borrow >= 0:
            for j in range(13):
                limbs[j] -= L_LIMBS[j]
            _carry21(limbs, 0, 12)


@register_jitable
def bits_from_limbs(limbs, r):
    for i in range(256):
        r[i] = (limbs[i // 21] >> (i % 21)) & 1


@register_jitable
def bits_from_bytes(s, r):
    for i in range(256):
        r[i] = (s[i >> 3] >> (i & 7)) & 1


@register_jitable
def slide(r):
    """ref10's signed sliding-window recoding, in place: digits odd, in [-15, 15]."""
    for i in range(256):
        if r[i] == 0:
            continue
        for b in range(1, 7):
            if i + b >= 256:
                break
            if r[i + b] == 0:
                continue
            shifted = np.int64(r[i + b]) << b
            if r[i] + shifted <= 15:
                r[i] = r[i] + shifted
                r[i + b] = 0
            elif r[i] - shifted >= -15:
                r[i] = r[i] - shifted
                for k in range(i + b, 256):
                    if r[k] == 0:
                        r[k] = 1
                        break
                    r[k] = 0
            else:
                break


# --- points ----------------------------------------------------------------------------------


@register_jitable
def decompress(key):
    """(ok, point) for a 32-byte public key, under the rule in the module docstring."""
    y = fe_from_bytes(key)
    u = fe_sub(fe_sq(y), FE_ONE)
    v = fe_add(fe_mul(fe_sq(y), FE_D), FE_ONE)
    v3 = fe_mul(fe_sq(v), v)
    x = fe_mul(fe_mul(fe_sq(v3), v), u)  # u v^7
    x = fe_mul(fe_mul(fe_pow22523(x), v3), u)  # u v^3 (u v^7)^((p-5)/8)
    vxx = fe_mul(fe_sq(x), v)
    ok = True
    if not fe_is_zero(fe_sub(vxx, u)):
        if fe_is_zero(fe_add(vxx, u)):
            x = fe_mul(x, FE_SQRTM1)
        else:
            ok = False
    if fe_is_negative(x) != (key[31] >> 7):
        x = fe_neg(x)
    return ok, (x, y, FE_ONE, fe_mul(x, y))


@register_jitable
def to_cached(p):
    x, y, z, t = p
    return (fe_add(y, x), fe_sub(y, x), fe_add(z, z), fe_mul(t, FE_D2))


@register_jitable
def _completed(a, b, c, d):
    """(E, F, G, H) of the RFC 8032 formulas from their A, B, C, D."""
    return (fe_sub(b, a), fe_sub(d, c), fe_add(d, c), fe_add(b, a))


@register_jitable
def add_cached(p, q, negate):
    """p + q (or p - q), q in cached form (Y+X, Y-X, 2Z, 2dT); result in completed form."""
    x, y, z, t = p
    ypx, ymx, z2, t2d = q
    if negate:
        ypx, ymx, t2d = ymx, ypx, fe_neg(t2d)
    return _completed(
        fe_mul(fe_sub(y, x), ymx), fe_mul(fe_add(y, x), ypx), fe_mul(t, t2d), fe_mul(z, z2)
    )


@register_jitable
def add_affine(p, q, negate):
    """p + q (or p - q), q an affine precomputed point (y+x, y-x, 2dxy); completed form."""
    x, y, z, t = p
    ypx, ymx, xy2d = q
    if negate:
        ypx, ymx, xy2d = ymx, ypx, fe_neg(xy2d)
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
    """(X, Y, Z) only, with T left as zero: enough for a following doubling."""
    e, f, g, h = c
    return (fe_mul(e, f), fe_mul(g, h), fe_mul(f, g), FE_ZERO)


@register_jitable
def load_fe(table, j, c):
    return (table[j, c, 0], table[j, c, 1], table[j, c, 2], table[j, c, 3], table[j, c, 4])


@register_jitable
def store_fe(table, j, c, f):
    for i in range(FE_LIMBS):
        table[j, c, i] = f[i]


@register_jitable
def fill_odd_multiples(a, table):
    """table[j] = cached (2j+1)A for j < TABLE_SIZE; table: (TABLE_SIZE, 4, FE_LIMBS) uint64."""
    twice = completed_to_extended(double(a))
    q = to_cached(a)
    for j in range(TABLE_SIZE):
        for c in range(4):
            store_fe(table, j, c, q[c])
        if j + 1 < TABLE_SIZE:
            q = to_cached(completed_to_extended(add_cached(twice, q, False)))


@register_jitable
def _cached_entry(table, j):
    return (load_fe(table, j, 0), load_fe(table, j, 1), load_fe(table, j, 2), load_fe(table, j, 3))


@register_jitable
def _base_entry(j):
    return (load_fe(BASE_TABLE, j, 0), load_fe(BASE_TABLE, j, 1), load_fe(BASE_TABLE, j, 2))


@register_jitable
def s_b_minus_k_a(a_table, k_digits, s_digits):
    """[s]B - [k]A from recoded scalars and A's table of odd multiples; (X, Y, Z, 0)."""
    top = 255
    while top >= 0 and k_digits[top] == 0 and s_digits[top] == 0:
        top -= 1
    r = IDENTITY
    for i in range(top, -1, -1):
        c = double(r)
        dk = k_digits[i]
        ds = s_digits[i]
        if dk != 0:
            c = add_cached(completed_to_extended(c), _cached_entry(a_table, abs(dk) >> 1), dk > 0)
        if ds != 0:
            c = add_affine(completed_to_extended(c), _base_entry(abs(ds) >> 1), ds < 0)
        r = completed_to_projective(c)
    return r


@register_jitable
def encodes_to(p, z_inverse, r_bytes):
    """Whether the canonical encoding of projective point p (given 1/Z) equals r_bytes."""
    x = fe_canonical(fe_mul(p[0], z_inverse))
    y = fe_canonical(fe_mul(p[1], z_inverse))
    return fe_equal_limbs(y, fe_from_bytes(r_bytes)) and fe_is_negative(x) == (r_bytes[31] >> 7)


@register_jitable
def store_point(points, j, p):
    """points[j] = (X, Y, Z) of p; points: (m, 3, FE_LIMBS) uint64."""
    for c in range(3):
        store_fe(points, j, c, p[c])


@register_jitable
def load_point(points, j):
    return (load_fe(points, j, 0), load_fe(points, j, 1), load_fe(points, j, 2), FE_ZERO)


@register_jitable
def invert_z_batch(points, live, count, inverses):
    """inverses[j] = 1/Z of points[j] for the live j < count, with one field inversion
    (Montgomery's trick: 3 multiplications per element instead of ~265)."""
    acc = FE_ONE
    for j in range(count):
        if live[j]:
            store_fe(inverses, j, 0, acc)  # product of the Zs before j
            acc = fe_mul(acc, load_fe(points, j, 2))
    acc = fe_invert(acc)
    for j in range(count - 1, -1, -1):
        if live[j]:
            z = load_fe(points, j, 2)
            store_fe(inverses, j, 0, fe_mul(acc, load_fe(inverses, j, 0)))
            acc = fe_mul(acc, z)


@register_jitable
def prepare_key(key, a_table):
    """Decode the public key and fill a_table with its odd multiples; False if undecodable.

    Split from the signature check so a caller can do it once per distinct key.
    """
    ok, a = decompress(key)
    if ok:
        fill_odd_multiples(a, a_table)
    return ok


@register_jitable
def candidate_r(
    key, sig, data, start, length, a_table, scratch_u64, scratch_u8, limbs, k_digits, s_digits
):
    """(ok, [S]B - [k]A) for a key already through prepare_key; ok is False when S >= L.

    Scratch: uint64 (88), uint8 (64), int64 (25), int8 (256) twice.
    """
    if not scalar_below_order(sig[32:64]):
        return False, IDENTITY
    sha512_ram(sig, key, data, start, length, scratch_u64[0:8], scratch_u64[8:88], scratch_u8)
    reduce_digest(scratch_u8, limbs)
    bits_from_limbs(limbs, k_digits)
    slide(k_digits)
    bits_from_bytes(sig[32:64], s_digits)
    slide(s_digits)
    return True, s_b_minus_k_a(a_table, k_digits, s_digits)


@register_jitable
def verify_one(
    key, sig, data, start, length, a_table, scratch_u64, scratch_u8, limbs, k_digits, s_digits
):
    """One signature under the module's rule; a_table (TABLE_SIZE, 4, FE_LIMBS) uint64 is scratch."""
    if not prepare_key(key, a_table):
        return False
    ok, r = candidate_r(
        key, sig, data, start, length, a_table, scratch_u64, scratch_u8, limbs, k_digits, s_digits
    )
    return ok and encodes_to(r, fe_invert(r[2]), sig[0:32])
