"""SHA-256 block compression with the x86 SHA extensions (SHA-NI), for Numba CPU code.

``compress_ni(state, words, offset)`` folds the 16 big-endian words at words.flat[offset:]
into the 8-word state, with the same instruction sequence as Intel's reference code (one
SHA256RNDS2 per two rounds). It lowers straight to LLVM's x86 SHA intrinsics, so it may only
be compiled where HAS_SHA_NI is true; kernels.sha256_cpu checks that before calling it.
A VZEROUPPER first avoids the AVX-to-SSE transition stall, which costs ~100x here.
"""

from __future__ import annotations

from llvmlite import binding, ir
from numba import types
from numba.extending import intrinsic

from kernels.sha256_core import K

HAS_SHA_NI = bool(binding.get_host_cpu_features().get("sha", False))

_I32X4 = ir.VectorType(ir.IntType(32), 4)


def _declare(module: ir.Module, name: str, ftype: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, ftype, name)


def _shuffle(builder: ir.IRBuilder, a, b, lanes: list[int]):
    return builder.shuffle_vector(a, b, ir.Constant(_I32X4, lanes))


@intrinsic
def compress_ni(typingctx, state, words, offset):
    def codegen(context, builder, signature, args):
        module = builder.module
        rnds2 = _declare(module, "llvm.x86.sha256rnds2", ir.FunctionType(_I32X4, [_I32X4] * 3))
        msg1 = _declare(module, "llvm.x86.sha256msg1", ir.FunctionType(_I32X4, [_I32X4] * 2))
        msg2 = _declare(module, "llvm.x86.sha256msg2", ir.FunctionType(_I32X4, [_I32X4] * 2))
        vzeroupper = _declare(module, "llvm.x86.avx.vzeroupper", ir.FunctionType(ir.VoidType(), []))
        st = context.make_array(signature.args[0])(context, builder, args[0]).data
        wd = context.make_array(signature.args[1])(context, builder, args[1]).data
        block = builder.gep(wd, [args[2]])

        def at(ptr, index):
            return builder.bitcast(
                builder.gep(ptr, [ir.Constant(ir.IntType(64), index)]), _I32X4.as_pointer()
            )

        builder.call(vzeroupper, [])
        abcd = builder.load(at(st, 0), align=4)  # lanes A B C D
        efgh = builder.load(at(st, 4), align=4)  # lanes E F G H
        abef = _shuffle(builder, efgh, abcd, [1, 0, 5, 4])  # lanes F E B A
        cdgh = _shuffle(builder, efgh, abcd, [3, 2, 7, 6])  # lanes H G D C
        s0, s1 = abef, cdgh
        w: list = []
        for i in range(16):  # four rounds per step
            if i < 4:
                wi = builder.load(at(block, 4 * i), align=4)
            else:
                t = builder.call(msg1, [w[i - 4], w[i - 3]])
                t = builder.add(t, _shuffle(builder, w[i - 2], w[i - 1], [1, 2, 3, 4]))
                wi = builder.call(msg2, [t, w[i - 1]])
            w.append(wi)
            kw = builder.add(wi, ir.Constant(_I32X4, [int(k) for k in K[4 * i : 4 * i + 4]]))
            s1 = builder.call(rnds2, [s1, s0, kw])
            s0 = builder.call(rnds2, [s0, s1, _shuffle(builder, kw, kw, [2, 3, 0, 0])])
        s0 = builder.add(s0, abef)
        s1 = builder.add(s1, cdgh)
        builder.store(_shuffle(builder, s0, s1, [3, 2, 7, 6]), at(st, 0), align=4)
        builder.store(_shuffle(builder, s0, s1, [1, 0, 5, 4]), at(st, 4), align=4)
        return context.get_dummy_value()

    return types.void(state, words, offset), codegen
