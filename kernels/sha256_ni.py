"""SHA-256 block compression with the x86 SHA extensions (SHA-NI), for Numba CPU code.

``compress_ni(state, data, offset, count, flags, bits)`` folds one 64-byte block into the
8-word state: ``count`` bytes of a uint8 array from ``offset``, padded in registers as flags
say, then read as 16 big-endian words (PSHUFB), with the same instruction sequence as Intel's
reference code (one SHA256RNDS2 per two rounds); ``compress_ni_pair`` folds two messages'
blocks at once, interleaved. They lower straight to LLVM's x86 SHA intrinsics, so they may
only be compiled where HAS_SHA_NI is true; kernels.sha256_cpu checks that before calling them.
A VZEROUPPER between the (AVX) block assembly and the (SSE) rounds avoids the AVX-to-SSE
transition stall, which costs ~100x here.
"""

from __future__ import annotations

from llvmlite import binding, ir
from numba import types
from numba.extending import intrinsic

from kernels.sha256_core import K

HAS_SHA_NI = bool(binding.get_host_cpu_features().get("sha", False))

_I32X4 = ir.VectorType(ir.IntType(32), 4)
_BIG_ENDIAN = [4 * (i // 4) + 3 - i % 4 for i in range(16)]  # each word's bytes reversed


def _declare(module: ir.Module, name: str, ftype: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, ftype, name)


def _shuffle(builder: ir.IRBuilder, a, b, lanes: list[int]):
    return builder.shuffle_vector(a, b, ir.Constant(_I32X4, lanes))


def _message_block(builder: ir.IRBuilder, pointer, count, flags, bits) -> list:
    """The block's four message words: ``count`` bytes from pointer (a masked load: no byte
    past them is read), then 0x80 if flags & 1 and the bit length at the end if flags & 2.
    Built in registers, because a block stored byte by byte and reloaded stalls the loads."""
    i1, i8, i32, i64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
    bytes64 = ir.VectorType(i8, 64)
    lanes = ir.Constant(bytes64, list(range(64)))

    def splat(value):
        undefined = ir.Constant(ir.VectorType(value.type, 64), ir.Undefined)
        first = builder.insert_element(undefined, value, ir.Constant(i32, 0))
        return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(i32, 64), None))

    def flag(bit):
        return splat(
            builder.icmp_unsigned(
                "!=", builder.and_(flags, ir.Constant(i64, bit)), ir.Constant(i64, 0)
            )
        )

    load_type = ir.FunctionType(bytes64, [pointer.type, i32, ir.VectorType(i1, 64), bytes64])
    masked_load = _declare(builder.module, "llvm.masked.load.v64i8.p0", load_type)
    bswap = _declare(builder.module, "llvm.bswap.i64", ir.FunctionType(i64, [i64]))
    count = splat(builder.trunc(count, i8))
    zero = ir.Constant(bytes64, None)
    block = builder.call(
        masked_load, [pointer, ir.Constant(i32, 1), builder.icmp_unsigned("<", lanes, count), zero]
    )
    marker = builder.and_(builder.icmp_unsigned("==", lanes, count), flag(1))
    block = builder.select(marker, ir.Constant(bytes64, [0x80] * 64), block)
    length = builder.bitcast(builder.call(bswap, [bits]), ir.VectorType(i8, 8))
    at_end = ir.Constant(ir.VectorType(i32, 64), [0] * 56 + list(range(8)))
    length = builder.shuffle_vector(length, ir.Constant(length.type, ir.Undefined), at_end)
    tail = builder.icmp_unsigned(">=", lanes, ir.Constant(bytes64, [56] * 64))
    block = builder.select(builder.and_(tail, flag(2)), length, block)
    words = []
    for q in range(4):
        order = ir.Constant(ir.VectorType(i32, 16), [16 * q + i for i in _BIG_ENDIAN])
        words.append(builder.bitcast(builder.shuffle_vector(block, block, order), _I32X4))
    return words


def _codegen(context, builder, signature, args):
    """Compress each (state, data, offset, count, flags, bits) group of the arguments, all
    messages in lockstep (four rounds of each in turn): one message's SHA256RNDS2 chain is
    bound by its latency, and a second one fills the gaps."""
    module = builder.module
    i64 = ir.IntType(64)
    rnds2 = _declare(module, "llvm.x86.sha256rnds2", ir.FunctionType(_I32X4, [_I32X4] * 3))
    msg1 = _declare(module, "llvm.x86.sha256msg1", ir.FunctionType(_I32X4, [_I32X4] * 2))
    msg2 = _declare(module, "llvm.x86.sha256msg2", ir.FunctionType(_I32X4, [_I32X4] * 2))
    vzeroupper = _declare(module, "llvm.x86.avx.vzeroupper", ir.FunctionType(ir.VoidType(), []))

    def at(pointer, index):
        return builder.bitcast(builder.gep(pointer, [ir.Constant(i64, index)]), _I32X4.as_pointer())

    streams = []
    for k in range(0, len(args), 6):
        state = context.make_array(signature.args[k])(context, builder, args[k]).data
        data = context.make_array(signature.args[k + 1])(context, builder, args[k + 1]).data
        padding = (builder.zext(a, i64) if a.type.width < 64 else a for a in args[k + 3 : k + 6])
        words = _message_block(builder, builder.gep(data, [args[k + 2]]), *padding)
        streams.append((state, words))
    builder.call(vzeroupper, [])
    runs = []
    for state, words in streams:
        abcd = builder.load(at(state, 0), align=4)  # lanes A B C D
        efgh = builder.load(at(state, 4), align=4)  # lanes E F G H
        abef = _shuffle(builder, efgh, abcd, [1, 0, 5, 4])  # lanes F E B A
        cdgh = _shuffle(builder, efgh, abcd, [3, 2, 7, 6])  # lanes H G D C
        runs.append({"state": state, "words": words, "first": (abef, cdgh), "s": (abef, cdgh)})
    for i in range(16):  # four rounds per step
        for run in runs:
            w = run["words"]
            if i >= 4:
                t = builder.call(msg1, [w[i - 4], w[i - 3]])
                t = builder.add(t, _shuffle(builder, w[i - 2], w[i - 1], [1, 2, 3, 4]))
                w.append(builder.call(msg2, [t, w[i - 1]]))
            kw = builder.add(w[i], ir.Constant(_I32X4, [int(k) for k in K[4 * i : 4 * i + 4]]))
            s0, s1 = run["s"]
            s1 = builder.call(rnds2, [s1, s0, kw])
            s0 = builder.call(rnds2, [s0, s1, _shuffle(builder, kw, kw, [2, 3, 0, 0])])
            run["s"] = (s0, s1)
    for run in runs:
        s0 = builder.add(run["s"][0], run["first"][0])
        s1 = builder.add(run["s"][1], run["first"][1])
        builder.store(_shuffle(builder, s0, s1, [3, 2, 7, 6]), at(run["state"], 0), align=4)
        builder.store(_shuffle(builder, s0, s1, [1, 0, 5, 4]), at(run["state"], 4), align=4)
    return context.get_dummy_value()


@intrinsic
def compress_ni(typingctx, state, data, offset, count, flags, bits):
    """Fold one block into state: count (0..64) bytes of data from offset, padded per flags
    (1: the 0x80 after the message, 2: the bit length ``bits`` at the end; see _message_block)."""
    return types.void(state, data, offset, count, flags, bits), _codegen


@intrinsic
def compress_ni_pair(
    typingctx,
    state_a,
    data,
    offset_a,
    count_a,
    flags_a,
    bits_a,
    state_b,
    data_b,
    offset_b,
    count_b,
    flags_b,
    bits_b,
):
    """compress_ni of two messages at once, interleaved."""
    signature = types.void(
        state_a, data, offset_a, count_a, flags_a, bits_a,
        state_b, data_b, offset_b, count_b, flags_b, bits_b,
    )  # fmt: skip
    return signature, _codegen
