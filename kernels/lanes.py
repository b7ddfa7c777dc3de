"""Eight uint64 lanes as one Numba value: an LLVM ``<8 x i64>`` vector, for CPU SIMD kernels.

``u64x8`` supports ``+ - * & | ^ << >>`` with another u64x8 or an unsigned integer (which is
broadcast to every lane), so code written for ``np.uint64`` scalars runs unchanged on eight
lanes at once: the Ed25519 field arithmetic (kernels.ed25519_field) is written once and
compiled for one signature per thread on the GPU and eight per instruction stream on the CPU.
LLVM turns a product of operands known to fit 32 bits into VPMULUDQ (AVX-512, AVX2 or SSE2,
whatever the CPU has). Lanes enter and leave through uint64 arrays (``lanes_load``,
``lanes_store``); there are no per-lane branches, only masks (all-ones or zero per lane).
"""

from __future__ import annotations

import operator

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, overload, register_model

LANES = 8
_VECTOR = ir.VectorType(ir.IntType(64), LANES)
_BROADCAST = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)


class U64x8(types.Type):
    def __init__(self) -> None:
        super().__init__(name="u64x8")


u64x8 = U64x8()


@register_model(U64x8)
class _U64x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


def _operand(builder: ir.IRBuilder, numba_type, value):
    """value as a vector: itself, or an integer scalar broadcast to every lane."""
    if numba_type == u64x8:
        return value
    if value.type.width < 64:
        value = (builder.sext if numba_type.signed else builder.zext)(value, ir.IntType(64))
    undefined = ir.Constant(_VECTOR, ir.Undefined)
    first = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(first, undefined, _BROADCAST)


def _accepts(a, b) -> bool:
    def ok(t):
        return t == u64x8 or isinstance(t, types.Integer)

    return (a == u64x8 or b == u64x8) and ok(a) and ok(b)


def _define(op, instruction: str) -> None:
    @intrinsic
    def apply(typingctx, a, b):
        def codegen(context, builder, signature, args):
            x = _operand(builder, signature.args[0], args[0])
            y = _operand(builder, signature.args[1], args[1])
            return getattr(builder, instruction)(x, y)

        return u64x8(a, b), codegen

    @overload(op)
    def _overload(a, b):
        if _accepts(a, b):
            return lambda a, b: apply(a, b)


for _op, _instruction in [
    (operator.add, "add"),
    (operator.sub, "sub"),
    (operator.mul, "mul"),
    (operator.and_, "and_"),
    (operator.or_, "or_"),
    (operator.xor, "xor"),
    (operator.lshift, "shl"),
    (operator.rshift, "lshr"),
]:
    _define(_op, _instruction)


def _element_pointer(context, builder, array_type, array, offset):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [offset])


def _words(array) -> bool:
    """A C-contiguous array of 64-bit integers (int64 lanes are read as their bit patterns)."""
    return (
        isinstance(array, types.Array)
        and array.layout == "C"
        and array.dtype in (types.uint64, types.int64)
    )


@intrinsic
def lanes_load(typingctx, array, offset):
    """array.flat[offset:offset + 8] as a u64x8."""
    if not _words(array):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load(builder.bitcast(pointer, _VECTOR.as_pointer()), align=8)

    return u64x8(array, offset), codegen


@intrinsic
def lanes_store(typingctx, array, offset, value):
    """array.flat[offset:offset + 8] = value."""
    if not (_words(array) and value == u64x8):
        return None

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(pointer, _VECTOR.as_pointer()), align=8)
        return context.get_dummy_value()

    return types.void(array, offset, value), codegen
