"""Field and scalar arithmetic of the shared Ed25519 code against Python integers.

Each field function runs compiled twice, as the kernels run it: on np.uint64 limbs (a CUDA
thread) and on u64x8 lanes (the CPU), eight different operands at once. The operands include
sums of three carried elements, the widest inputs the module allows.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from kernels import ed25519_core as C
from kernels import ed25519_field as F
from kernels.ed25519_tables import load_fe_lanes, store_fe_lanes
from kernels.lanes import LANES

P = F.P
elements = st.one_of(st.integers(0, P - 1), st.sampled_from([0, 1, 2, 18, 19, P - 2, P - 1]))
OPERATIONS = 9


@njit(cache=True)
def _ops(a, b):
    wide_a = F.fe_add(F.fe_add(a, b), a)
    return (
        F.fe_mul(a, b),
        F.fe_sq(a),
        F.fe_add(a, b),
        F.fe_sub(a, b),
        F.fe_invert(a),
        F.fe_pow22523(a),
        F.fe_canonical(F.fe_sub(a, b)),
        F.fe_mul(wide_a, F.fe_sub(wide_a, F.fe_add(b, b))),
        F.fe_sq(F.fe_sub(F.fe_neg(a), wide_a)),
    )


@njit(cache=True)
def _ops_lanes(a, b, out):
    """_ops on eight operand pairs at once: a, b, out[k] are (FE_LIMBS, LANES) limb-major."""
    results = _ops(load_fe_lanes(a, 0), load_fe_lanes(b, 0))
    for k in range(OPERATIONS):
        store_fe_lanes(out[k], 0, results[k])


def _expected(x, y):
    wide = 2 * x + y
    return [
        x * y % P,
        x * x % P,
        (x + y) % P,
        (x - y) % P,
        pow(x, P - 2, P),
        pow(x, (P - 5) // 8, P),
        (x - y) % P,
        wide * (wide - 2 * y) % P,
        (-x - wide) ** 2 % P,
    ]


@settings(max_examples=100, deadline=None)
@given(elements, elements)
def test_operations_match_integers(x, y):
    got = _ops(F.fe_const(x), F.fe_const(y))
    assert [F.fe_value(r) for r in got] == _expected(x, y)
    assert got[6] == F.fe_const(x - y)  # canonical: the exact limbs, not just the residue


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(elements, elements), min_size=LANES, max_size=LANES))
def test_eight_lanes_match_integers(pairs):
    a = np.array([F.fe_const(x) for x, _ in pairs], dtype=np.uint64).T.copy()
    b = np.array([F.fe_const(y) for _, y in pairs], dtype=np.uint64).T.copy()
    out = np.empty((OPERATIONS, F.FE_LIMBS, LANES), dtype=np.uint64)
    _ops_lanes(a, b, out)
    for lane, (x, y) in enumerate(pairs):
        assert [F.fe_value(out[k, :, lane]) for k in range(OPERATIONS)] == _expected(x, y)
        assert tuple(out[6, :, lane]) == F.fe_const(x - y)


@njit(cache=True)
def _from_bytes_canonical(b):
    return F.fe_from_bytes(b), F.fe_canonical(F.fe_from_bytes(b))


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(0, 2**256 - 1), st.integers(P - 2, 2**255 + 3)))
def test_bytes_keep_exact_limbs_and_reduce_canonically(z):
    raw, canon = _from_bytes_canonical(np.frombuffer(z.to_bytes(32, "little"), np.uint8))
    assert sum(int(x) << F.LIMB_SHIFTS[i] for i, x in enumerate(raw)) == z % 2**255
    assert canon == F.fe_const(z % 2**255)


@njit(cache=True)
def _masks(a):
    return F.fe_zero_mask(a), F.fe_parity(a)


def _exact_limbs(value: int) -> tuple[np.uint64, ...]:
    """The limbs of value < 2^255 as they are, not reduced mod p."""
    widths = [26 if i % 2 == 0 else 25 for i in range(F.FE_LIMBS)]
    return tuple(np.uint64((value >> s) & ((1 << w) - 1)) for s, w in zip(F.LIMB_SHIFTS, widths))


@settings(deadline=None)
@given(elements)
def test_zero_mask_and_parity(x):
    for value in (x, x + P) if x < 19 else (x,):  # y + p: a non-canonical encoding of y
        mask, parity = _masks(_exact_limbs(value))
        assert int(mask) == (2**64 - 1 if value % P == 0 else 0)
        assert int(parity) == value % P % 2


@njit(cache=True)
def _reduce(digest):
    limbs = np.empty(25, np.int64)
    C.reduce_digest(digest, limbs)
    return limbs[:13].copy()


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.integers(0, 2**512 - 1),
        st.sampled_from([0, 1, C.L - 1, C.L, C.L + 1, 2 * C.L - 1, 2**252, 2**253, 2**512 - 1]),
        # a lone high bit: each fold's borrow runs up through zero limbs to the top
        st.builds(lambda bit, low: (1 << bit) + low, st.integers(253, 511), st.integers(0, 3)),
    )
)
def test_scalar_reduction_mod_order(value):
    limbs = _reduce(np.frombuffer(value.to_bytes(64, "little"), np.uint8))
    assert all(0 <= int(x) < 2**21 for x in limbs)
    assert sum(int(x) << (21 * i) for i, x in enumerate(limbs)) == value % C.L


@njit(cache=True)
def _recode(limbs, s):
    k_digits = np.empty(C.DIGITS, np.int64)
    s_digits = np.empty(C.DIGITS, np.int64)
    C.recode_limbs(limbs, k_digits)
    C.recode_bytes(s, s_digits)
    return k_digits, s_digits


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(0, C.L - 1), st.sampled_from([0, 1, 15, 16, 2**252, C.L - 1])))
def test_signed_radix16_digits(value):
    limbs = np.array([(value >> (21 * i)) & 0x1FFFFF for i in range(13)], dtype=np.int64)
    s = np.frombuffer(value.to_bytes(32, "little"), np.uint8)
    for digits in _recode(limbs, s):
        assert all(-8 <= d <= 8 for d in digits)
        assert sum(int(d) * 16**i for i, d in enumerate(digits)) == value


scalars = st.one_of(st.integers(0, C.L - 1), st.sampled_from([0, 1, 2**252, C.L - 1]))


def _scalar_limbs(value: int) -> np.ndarray:
    return np.array([(value >> (21 * i)) & 0x1FFFFF for i in range(C.SCALAR_LIMBS)], np.int64)


@njit(cache=True)
def _muladd(k, a, r):
    wide = np.empty(C.WIDE_LIMBS, np.int64)
    C.scalar_muladd(k, a, r, wide)
    out = np.empty(32, np.uint8)
    C.scalar_to_bytes(wide, out)
    return wide[: C.SCALAR_LIMBS].copy(), out


@settings(max_examples=150, deadline=None)
@given(scalars, scalars, scalars)
def test_scalar_multiply_add_mod_order(k, a, r):
    limbs, encoded = _muladd(_scalar_limbs(k), _scalar_limbs(a), _scalar_limbs(r))
    assert all(0 <= int(x) < 2**21 for x in limbs)
    assert sum(int(x) << (21 * i) for i, x in enumerate(limbs)) == (r + k * a) % C.L
    assert encoded.tobytes() == ((r + k * a) % C.L).to_bytes(32, "little")


@njit(cache=True)
def _load_scalar(s):
    limbs = np.empty(C.SCALAR_LIMBS, np.int64)
    C.load_scalar(s, limbs)
    return limbs


@njit(cache=True)
def _encode(y, parity):
    out = np.empty(32, np.uint8)
    C.encode_point(F.fe_canonical(y), parity, out)
    return out


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**256 - 1), elements, st.sampled_from([0, 1]))
def test_scalar_and_point_encodings(s, y, parity):
    limbs = _load_scalar(np.frombuffer(s.to_bytes(32, "little"), np.uint8))
    assert sum(int(x) << (21 * i) for i, x in enumerate(limbs)) == s
    encoded = _encode(F.fe_const(y), np.uint64(parity)).tobytes()
    assert encoded == (y | parity << 255).to_bytes(32, "little")
