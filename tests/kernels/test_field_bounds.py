"""No limb ever overflows: the field and point functions, run on intervals of limb values.

kernels.ed25519_field keeps every limb below 2^64 and every multiplicand below 2^32 (what
VPMULUDQ reads) by bookkeeping, not by checks at run time. Here the very same Python functions
run on ``Interval`` limbs that carry a lower and an upper bound and fail on any overflow, any
subtraction below zero, and any multiplicand the 32-bit masks would cut. Starting from the
widest elements each function accepts, and from the widest carried element (a fixed point),
this covers every call the kernels make.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels import ed25519_core as C
from kernels import ed25519_field as F

_U64 = 2**64
_M32 = 2**32 - 1


class Interval:
    """An unsigned 64-bit value known to lie in [lo, hi]."""

    __array_ufunc__ = None  # numpy scalars defer to the reflected operators below

    def __init__(self, lo: int, hi: int) -> None:
        assert 0 <= lo <= hi < _U64, f"overflow: [{lo}, {hi}]"
        self.lo, self.hi = lo, hi

    @staticmethod
    def of(x) -> Interval:
        return x if isinstance(x, Interval) else Interval(int(x), int(x))

    def __add__(self, other):
        o = Interval.of(other)
        return Interval(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __sub__(self, other):
        o = Interval.of(other)
        assert self.lo >= o.hi, f"subtraction may go below zero: [{self.lo}..] - [..{o.hi}]"
        return Interval(self.lo - o.hi, self.hi - o.lo)

    def __rsub__(self, other):
        return Interval.of(other) - self

    def __mul__(self, other):
        o = Interval.of(other)
        return Interval(self.lo * o.lo, self.hi * o.hi)

    __rmul__ = __mul__

    def __and__(self, mask):
        mask = int(mask)
        if mask == _M32:
            assert self.hi <= _M32, f"multiplicand {self.hi:#x} does not fit 32 bits"
            return self
        return Interval(0, min(self.hi, mask))

    def __rshift__(self, shift):
        return Interval(self.lo >> int(shift), self.hi >> int(shift))


def element(*maxima) -> tuple[Interval, ...]:
    return tuple(Interval(0, m) for m in maxima)


def carried_bound() -> tuple[Interval, ...]:
    """The widest output of fe_mul, fe_sq and fe_sub over their widest inputs (a fixed point)."""
    limb = tuple((1 << (26 if i % 2 == 0 else 25)) - 1 for i in range(F.FE_LIMBS))
    carried = element(*limb)
    for _ in range(4):
        wide = F.fe_add(F.fe_add(carried, carried), carried)
        outputs = [F.fe_mul(wide, wide), F.fe_sq(wide), F.fe_sub(wide, F.fe_add(carried, carried))]
        grown = element(*(max(o[i].hi for o in outputs) for i in range(F.FE_LIMBS)))
        if [x.hi for x in grown] == [x.hi for x in carried]:
            return carried
        carried = element(*(max(a.hi, b.hi) for a, b in zip(carried, grown)))
    raise AssertionError("carried bound does not settle")


CARRIED = carried_bound()
SUM2 = F.fe_add(CARRIED, CARRIED)
SUM3 = F.fe_add(SUM2, CARRIED)


def test_carried_limbs_stay_near_their_width():
    widths = [26 if i % 2 == 0 else 25 for i in range(F.FE_LIMBS)]
    assert all(x.hi < (1 << w) + (1 << 18) for x, w in zip(CARRIED, widths))


@pytest.mark.parametrize("f", [CARRIED, SUM2, SUM3], ids=["carried", "sum of 2", "sum of 3"])
def test_multiplication_accepts_up_to_three_carried_summands(f):
    F.fe_mul(f, f)
    F.fe_mul(f, SUM3)
    F.fe_sq(f)


def test_subtraction_accepts_a_sum_of_two_as_subtrahend():
    F.fe_sub(SUM3, SUM2)
    F.fe_neg(SUM2)


def test_constants_and_canonical_form():
    F.fe_mul(CARRIED, F.FE_D2)
    F.fe_canonical(SUM3)
    F.fe_canonical(F.fe_add(SUM3, SUM3))


def _point(f):
    return (f, f, f, f)


def test_point_formulas_on_the_widest_inputs():
    """Every formula of the kernels, on carried points and table entries of any carried value."""
    p = _point(CARRIED)
    niels = (CARRIED, CARRIED, CARRIED)
    cached = C.to_cached(p)
    for completed in (C.double(p), C.add_niels(p, niels), C.add_cached(p, cached)):
        C.completed_to_extended(completed)
        C.completed_to_projective(completed)
    C.negate(p)


def test_table_limbs_fit_uint32():
    from kernels.ed25519_tables import B_COMB

    assert B_COMB.dtype == np.uint32 and int(B_COMB.max()) < 1 << 26
