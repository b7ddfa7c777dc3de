"""Field and scalar arithmetic of the shared Ed25519 code against Python integers.

The operands include non-carried sums and differences, the largest inputs the module allows.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from kernels import ed25519_core as C
from kernels import ed25519_field as F

P = F.P
elements = st.one_of(st.integers(0, P - 1), st.sampled_from([0, 1, 2, 18, 19, P - 2, P - 1]))


@njit(cache=True)
def _ops(a, b):
    return (
        F.fe_mul(a, b),
        F.fe_sq(a),
        F.fe_add(a, b),
        F.fe_sub(a, b),
        F.fe_invert(a),
        F.fe_pow22523(a),
        F.fe_canonical(F.fe_sub(a, b)),
        F.fe_mul(F.fe_add(F.fe_add(a, b), F.fe_add(a, b)), F.fe_sub(F.fe_sub(a, b), b)),
        F.fe_sq(F.fe_sub(F.fe_neg(a), F.fe_sub(a, b))),
    )


@njit(cache=True)
def _from_bytes_canonical(b):
    return F.fe_from_bytes(b), F.fe_canonical(F.fe_from_bytes(b))


@settings(max_examples=150, deadline=None)
@given(elements, elements)
def test_operations_match_integers(x, y):
    mul, sq, add, sub, inv, pow22523, canon, wide_mul, wide_sq = _ops(F.fe_const(x), F.fe_const(y))
    assert F.fe_value(mul) == x * y % P
    assert F.fe_value(sq) == x * x % P
    assert F.fe_value(add) == (x + y) % P
    assert F.fe_value(sub) == (x - y) % P
    assert F.fe_value(inv) == pow(x, P - 2, P)
    assert F.fe_value(pow22523) == pow(x, (P - 5) // 8, P)
    assert canon == F.fe_const(x - y)
    assert F.fe_value(wide_mul) == 2 * (x + y) * (x - 2 * y) % P
    assert F.fe_value(wide_sq) == (-x - (x - y)) ** 2 % P


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(0, 2**256 - 1), st.integers(P - 2, 2**255 + 3)))
def test_bytes_keep_exact_limbs_and_reduce_canonically(z):
    raw, canon = _from_bytes_canonical(np.frombuffer(z.to_bytes(32, "little"), np.uint8))
    assert sum(int(x) << (51 * i) for i, x in enumerate(raw)) == z % 2**255
    assert canon == F.fe_const(z % 2**255)


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
    )
)
def test_scalar_reduction_mod_order(value):
    limbs = _reduce(np.frombuffer(value.to_bytes(64, "little"), np.uint8))
    assert all(0 <= int(x) < 2**21 for x in limbs)
    assert sum(int(x) << (21 * i) for i, x in enumerate(limbs)) == value % C.L
