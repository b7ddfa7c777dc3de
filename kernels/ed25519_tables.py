"""Tables of point multiples for Ed25519 verification, and how the kernels read them.

Both scalars of R' = [k](-A) + [S]B are written in ref10's signed radix-16 digits (64 digits
in -8..8), so every table holds the multiples 0..8 of a point; entry 0 is the identity, so a
zero digit needs no branch, and a negative digit negates the entry (a swap and one negation).

- A *comb* (``comb_table``, uint32 limbs, shape (TEETH, 9, 3, FE_LIMBS), 17 KB): tooth t holds
  the multiples of 2^(16 t) P as affine niels points (y+x, y-x, 2dxy). Digit 4 t + u is added
  from tooth t in row u, and rows are four doublings apart, so a whole double-scalar
  multiplication is 128 additions and 12 doublings. B's comb is the constant ``B_COMB``; a key
  that signs often gets its own comb once (kernels.ed25519_keys), for -A.
- A *window* (``fill_window``): the multiples 0..8 of -A in cached form (Y+X, Y-X, 2Z, 2dT),
  built per signature for a key without a comb; that multiplication doubles 252 times.

Scalar code (one signature per CUDA thread, or the CPU tests) passes 1-D digit arrays, an int
slot and a (9, 4, FE_LIMBS) window; the CPU's lane kernels pass (64, LANES) digit arrays, a slot
per lane and a (9, 4, FE_LIMBS, LANES) window, and ``fetch_niels`` / ``fetch_cached`` /
``store_cached`` gather or scatter each lane's own entry.
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload, register_jitable

from kernels.ed25519_core import (
    BASE_AFFINE,
    DIGITS,
    D,
    add_cached,
    add_niels,
    affine_add,
    completed_to_extended,
    decompress,
    double_times,
    encoding_matches,
    multiples,
    negate,
    recode_bytes,
    recode_limbs,
    reduce_digest,
    scalar_below_order,
    to_cached,
)
from kernels.ed25519_field import (
    FE_LIMBS,
    FE_ONE,
    FE_ZERO,
    fe_broadcast,
    fe_const,
    fe_from_bytes,
    fe_invert,
    fe_mul,
    fe_neg,
    fe_select,
    mask_if_zero,
)
from kernels.lanes import LANES, lanes_load, lanes_store
from kernels.sha512_core import sha512_ram

TEETH = 16  # tooth t of a comb holds the multiples of 2^(16 t) P
ROWS = DIGITS // TEETH  # digit ROWS t + u lives in tooth t, row u
ENTRIES = 9  # multiples 0..8
NIELS = 3  # coordinates of an affine addend (y+x, y-x, 2dxy)
CACHED = 4  # coordinates of a projective addend (Y+X, Y-X, 2Z, 2dT)
_FE_TWO = fe_const(2)
_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)


# --- tables from plain integers (B's comb at import; the reference in tests) -----------------


def _limbs(value: int) -> list[int]:
    return [int(limb) for limb in fe_const(value)]


def comb_table(point: tuple[int, int]) -> np.ndarray:
    """The comb of an affine point, from exact integer arithmetic: (TEETH, 9, 3, FE_LIMBS)."""
    table = np.empty((TEETH, ENTRIES, NIELS, FE_LIMBS), dtype=np.uint32)
    tooth = point
    for t in range(TEETH):
        if t:
            for _ in range(4 * ROWS):
                tooth = affine_add(tooth, tooth)
        multiple = (0, 1)
        for j in range(ENTRIES):
            x, y = multiple
            table[t, j] = [_limbs(y + x), _limbs(y - x), _limbs(2 * D * x * y)]
            multiple = affine_add(multiple, tooth)
    return table


B_COMB = comb_table(BASE_AFFINE)[np.newaxis]  # one slot, so it is read like a key's comb


# --- reading and writing entries: one signature, or one per lane -----------------------------


@register_jitable
def _signed_niels(q, negative):
    """q negated where the mask is all ones: y+x and y-x swap, 2dxy changes sign."""
    return (
        fe_select(negative, q[1], q[0]),
        fe_select(negative, q[0], q[1]),
        fe_select(negative, fe_neg(q[2]), q[2]),
    )


@register_jitable
def _signed_cached(q, negative):
    """q negated where the mask is all ones: Y+X and Y-X swap, 2dT changes sign."""
    return (
        fe_select(negative, q[1], q[0]),
        fe_select(negative, q[0], q[1]),
        q[2],
        fe_select(negative, fe_neg(q[3]), q[3]),
    )


@register_jitable
def load_fe_lanes(buffer, offset):
    """The field element of 8 lanes at buffer.flat[offset:], limb-major (limb k at k*LANES)."""
    return (
        lanes_load(buffer, offset),
        lanes_load(buffer, offset + LANES),
        lanes_load(buffer, offset + 2 * LANES),
        lanes_load(buffer, offset + 3 * LANES),
        lanes_load(buffer, offset + 4 * LANES),
        lanes_load(buffer, offset + 5 * LANES),
        lanes_load(buffer, offset + 6 * LANES),
        lanes_load(buffer, offset + 7 * LANES),
        lanes_load(buffer, offset + 8 * LANES),
        lanes_load(buffer, offset + 9 * LANES),
    )


@register_jitable
def store_fe_lanes(buffer, offset, f):
    for k in range(FE_LIMBS):
        lanes_store(buffer, offset + k * LANES, f[k])


@register_jitable
def _table_fe(table, slot, t, entry, c):
    return (
        np.uint64(table[slot, t, entry, c, 0]),
        np.uint64(table[slot, t, entry, c, 1]),
        np.uint64(table[slot, t, entry, c, 2]),
        np.uint64(table[slot, t, entry, c, 3]),
        np.uint64(table[slot, t, entry, c, 4]),
        np.uint64(table[slot, t, entry, c, 5]),
        np.uint64(table[slot, t, entry, c, 6]),
        np.uint64(table[slot, t, entry, c, 7]),
        np.uint64(table[slot, t, entry, c, 8]),
        np.uint64(table[slot, t, entry, c, 9]),
    )


def fetch_niels(table, slot, t, digits, i, scratch):
    """digits[i] times tooth t of comb table[slot], as a niels point (one signature)."""
    d = digits[i]
    entry = abs(d)
    q = (
        _table_fe(table, slot, t, entry, 0),
        _table_fe(table, slot, t, entry, 1),
        _table_fe(table, slot, t, entry, 2),
    )
    return _signed_niels(q, _ALL_ONES if d < 0 else _ZERO)


def fetch_cached(window, digits, i, scratch):
    """digits[i] times the window's point, in cached form (one signature)."""
    d = digits[i]
    entry = abs(d)
    q = (
        _window_fe(window, entry, 0),
        _window_fe(window, entry, 1),
        _window_fe(window, entry, 2),
        _window_fe(window, entry, 3),
    )
    return _signed_cached(q, _ALL_ONES if d < 0 else _ZERO)


def store_cached(window, j, q):
    """window[j] = q, a point in cached form (one signature)."""
    for c in range(CACHED):
        for k in range(FE_LIMBS):
            window[j, c, k] = q[c][k]


def identity(digits):
    """The extended identity point, in the limb type matching the digits (scalar here)."""
    return (FE_ZERO, FE_ONE, FE_ONE, FE_ZERO)


def signed_digit(digits, i):
    """(|digits[i]|, all ones where digits[i] < 0), without a branch (one signature)."""
    d = digits[i]
    sign = d >> 63  # -1 where negative, else 0
    return np.uint64((d ^ sign) - sign), _ZERO - np.uint64(sign & 1)


@register_jitable
def _window_fe(window, entry, c):
    return (
        window[entry, c, 0],
        window[entry, c, 1],
        window[entry, c, 2],
        window[entry, c, 3],
        window[entry, c, 4],
        window[entry, c, 5],
        window[entry, c, 6],
        window[entry, c, 7],
        window[entry, c, 8],
        window[entry, c, 9],
    )


@register_jitable
def _lane_signs(digits, i):
    return _ZERO - (lanes_load(digits, i * LANES) >> np.uint64(63))


@register_jitable
def _fetch_niels_lanes(table, slot, t, digits, i, scratch):
    for lane in range(LANES):
        entry = abs(digits[i, lane])
        s = slot[lane]
        for c in range(NIELS):
            for k in range(FE_LIMBS):
                scratch[(c * FE_LIMBS + k) * LANES + lane] = table[s, t, entry, c, k]
    q = (
        load_fe_lanes(scratch, 0),
        load_fe_lanes(scratch, FE_LIMBS * LANES),
        load_fe_lanes(scratch, 2 * FE_LIMBS * LANES),
    )
    return _signed_niels(q, _lane_signs(digits, i))


@register_jitable
def _fetch_cached_lanes(window, digits, i, scratch):
    for lane in range(LANES):
        entry = abs(digits[i, lane])
        for c in range(CACHED):
            for k in range(FE_LIMBS):
                scratch[(c * FE_LIMBS + k) * LANES + lane] = window[entry, c, k, lane]
    size = FE_LIMBS * LANES
    q = (
        load_fe_lanes(scratch, 0),
        load_fe_lanes(scratch, size),
        load_fe_lanes(scratch, 2 * size),
        load_fe_lanes(scratch, 3 * size),
    )
    return _signed_cached(q, _lane_signs(digits, i))


@register_jitable
def _store_cached_lanes(window, j, q):
    for c in range(CACHED):
        store_fe_lanes(window, (j * CACHED + c) * FE_LIMBS * LANES, q[c])


@register_jitable
def _identity_lanes(digits):
    like = lanes_load(digits, 0)
    return (
        fe_broadcast(FE_ZERO, like),
        fe_broadcast(FE_ONE, like),
        fe_broadcast(FE_ONE, like),
        fe_broadcast(FE_ZERO, like),
    )


@register_jitable
def _signed_digit_lanes(digits, i):
    d = lanes_load(digits, i * LANES)
    negative = _ZERO - (d >> np.uint64(63))
    return (d ^ negative) - negative, negative


def _with_lanes(scalar, lanes, argument: int, lanes_ndim: int) -> None:
    """Register ``scalar`` for Numba; ``lanes`` takes over when args[argument] has lanes_ndim."""

    @overload(scalar, strict=False)
    def _choose(*args):
        return lanes if args[argument].ndim == lanes_ndim else scalar


_with_lanes(fetch_niels, _fetch_niels_lanes, argument=3, lanes_ndim=2)
_with_lanes(fetch_cached, _fetch_cached_lanes, argument=1, lanes_ndim=2)
_with_lanes(store_cached, _store_cached_lanes, argument=0, lanes_ndim=4)
_with_lanes(identity, _identity_lanes, argument=0, lanes_ndim=2)
_with_lanes(signed_digit, _signed_digit_lanes, argument=0, lanes_ndim=2)


@register_jitable
def normalise_lanes(points, count):
    """points[e] = (x, y, 1) for the first ``count`` projective (X, Y, Z) points of eight lanes
    each (points: (m, 3, FE_LIMBS, LANES) uint64), with one inversion for them all
    (Montgomery's trick: three multiplications a point instead of an inversion)."""
    size = FE_LIMBS * LANES
    prefix = np.empty((count, FE_LIMBS, LANES), np.uint64)
    acc = fe_broadcast(FE_ONE, lanes_load(points, 0))
    for e in range(count):
        store_fe_lanes(prefix, e * size, acc)
        acc = fe_mul(acc, load_fe_lanes(points, (3 * e + 2) * size))
    inverse = fe_invert(acc)
    for e in range(count - 1, -1, -1):
        z = load_fe_lanes(points, (3 * e + 2) * size)
        z_inverse = fe_mul(inverse, load_fe_lanes(prefix, e * size))
        inverse = fe_mul(inverse, z)
        store_fe_lanes(points, 3 * e * size, fe_mul(load_fe_lanes(points, 3 * e * size), z_inverse))
        y = fe_mul(load_fe_lanes(points, (3 * e + 1) * size), z_inverse)
        store_fe_lanes(points, (3 * e + 1) * size, y)


# --- a key's window, shared by every kernel ---------------------------------------------------


@register_jitable
def fill_window(a, window):
    """window[j] = [j]a in cached form for j = 0..8 (a: extended point, usually -A)."""
    like = a[0][0]
    unit = fe_broadcast(FE_ONE, like)
    store_cached(window, 0, (unit, unit, fe_broadcast(_FE_TWO, like), fe_broadcast(FE_ZERO, like)))
    m = multiples(a)
    store_cached(window, 1, to_cached(m[0]))
    store_cached(window, 2, to_cached(m[1]))
    store_cached(window, 3, to_cached(m[2]))
    store_cached(window, 4, to_cached(m[3]))
    store_cached(window, 5, to_cached(m[4]))
    store_cached(window, 6, to_cached(m[5]))
    store_cached(window, 7, to_cached(m[6]))
    store_cached(window, 8, to_cached(m[7]))


# --- the double-scalar multiplications --------------------------------------------------------


@register_jitable
def comb_multiply(a_comb, a_slot, k_digits, b_comb, b_slot, s_digits, scratch):
    """[k]A' + [s]B from the combs of A' (a_comb[a_slot]) and B: 128 additions, 12 doublings."""
    r = identity(k_digits)
    for u in range(ROWS - 1, -1, -1):
        if u != ROWS - 1:
            r = double_times(r, 4)
        for t in range(TEETH):
            i = ROWS * t + u
            a = fetch_niels(a_comb, a_slot, t, k_digits, i, scratch)
            r = completed_to_extended(add_niels(r, a))
            b = fetch_niels(b_comb, b_slot, t, s_digits, i, scratch)
            r = completed_to_extended(add_niels(r, b))
    return r


@register_jitable
def window_multiply(a_window, k_digits, b_comb, b_slot, s_digits, scratch):
    """[k]A' + [s]B from A's window (its multiples 0..8) and B's first tooth: 252 doublings."""
    r = identity(k_digits)
    for i in range(DIGITS - 1, -1, -1):
        if i != DIGITS - 1:
            r = double_times(r, 4)
        r = completed_to_extended(add_cached(r, fetch_cached(a_window, k_digits, i, scratch)))
        b = fetch_niels(b_comb, b_slot, 0, s_digits, i, scratch)
        r = completed_to_extended(add_niels(r, b))
    return r


# --- the fixed-base multiplication of a signer's secret nonce ---------------------------------


@register_jitable
def _comb_niels(comb, t, entry):
    return (
        _table_fe(comb, 0, t, entry, 0),
        _table_fe(comb, 0, t, entry, 1),
        _table_fe(comb, 0, t, entry, 2),
    )


@register_jitable
def _select_niels(mask, p, q):
    return (fe_select(mask, p[0], q[0]), fe_select(mask, p[1], q[1]), fe_select(mask, p[2], q[2]))


@register_jitable
def fetch_niels_secret(comb, t, digits, i):
    """digits[i] times tooth t of comb[0], reading every entry and keeping the wanted one by
    masks: no address or branch depends on the digit (a signer's nonce is secret)."""
    entry, negative = signed_digit(digits, i)
    q = _comb_niels(comb, t, 0)
    q = _select_niels(mask_if_zero(entry), q, q)  # q takes the digit's type: lanes or scalar
    for e in range(1, ENTRIES):
        q = _select_niels(mask_if_zero(entry ^ np.uint64(e)), _comb_niels(comb, t, e), q)
    return _signed_niels(q, negative)


@register_jitable
def base_multiply(b_comb, digits):
    """[r]B from B's comb (b_comb[0]) and r's signed radix-16 digits, in constant time:
    64 additions and 12 doublings."""
    r = identity(digits)
    for u in range(ROWS - 1, -1, -1):
        if u != ROWS - 1:
            r = double_times(r, 4)
        for t in range(TEETH):
            q = fetch_niels_secret(b_comb, t, digits, ROWS * t + u)
            r = completed_to_extended(add_niels(r, q))
    return r


# --- one signature (a CUDA thread; the CPU's lane kernels do the same eight at a time) -------


@register_jitable
def verify_one(
    key,
    sig,
    data,
    start,
    length,
    comb_slot,
    combs,
    b_comb,
    window,
    sha_u64,
    sha_u8,
    limbs,
    k_digits,
    s_digits,
):
    """One signature under the rule of kernels.ed25519_core.

    comb_slot >= 0: the key's comb is combs[comb_slot] (its key decodes); otherwise the key is
    decoded here and its window built in ``window`` (ENTRIES, CACHED, FE_LIMBS) uint64.
    Scratch: sha_u64 (88) uint64, sha_u8 (64) uint8, limbs (25) int64, digits (64) int64 twice.
    """
    if not scalar_below_order(sig[32:64]):
        return False
    sha512_ram(sig, key, 64, data, start, length, sha_u64[0:8], sha_u64[8:88], sha_u8)
    reduce_digest(sha_u8, limbs)
    recode_limbs(limbs, k_digits)
    recode_bytes(sig[32:64], s_digits)
    if comb_slot >= 0:
        r = comb_multiply(combs, comb_slot, k_digits, b_comb, 0, s_digits, window)
    else:
        ok, a = decompress(fe_from_bytes(key), np.uint64(key[31] >> 7))
        if ok == 0:
            return False
        fill_window(negate(a), window)
        r = window_multiply(window, k_digits, b_comb, 0, s_digits, window)
    z_inverse = fe_invert(r[2])
    x = fe_mul(r[0], z_inverse)
    y = fe_mul(r[1], z_inverse)
    return encoding_matches(x, y, fe_from_bytes(sig[0:32]), np.uint64(sig[31] >> 7)) != 0
