"""SHA-256 block compression with the x86 SHA extensions (SHA-NI), for Numba CPU code.

``compress_ni(state, data, offset, count, flags, bits)`` folds one 64-byte block into the
8-word state: ``count`` bytes of a uint8 array from ``offset`` (no byte past them is read),
padded in registers as flags say, then read as 16 big-endian words, with the same instruction
sequence as Intel's reference code (one SHA256RNDS2 per two rounds); ``compress_ni_pair`` folds
two messages' blocks at once, interleaved. They lower straight to LLVM's x86 SHA intrinsics, so
they may only be compiled where HAS_SHA_NI is true; kernels.sha256_cpu checks that first.

The SHA instructions exist only in the legacy SSE encoding, and a CPU makes every legacy SSE
instruction slow while the upper parts of its vector registers are dirty (the AVX-SSE
transitions of Intel's optimization manual). So each intrinsic calls a function of its own,
compiled for legacy SSE only: its "target-features" switch AVX off, and with it everything
built on AVX (AVX2, AVX-512). Whatever CPU Numba compiles for, that function holds no VEX or
EVEX instruction and no register wider than 128 bits or above xmm15, and LLVM puts a
VZEROUPPER before each call from code that dirtied the upper halves. (Compiled inline for an
AVX-512 Xeon, the block's 64-byte masked load became zmm registers and k masks, the block sat
in zmm18/zmm19, which VZEROUPPER does not clear, and 256-bit extracts from it were scheduled
between the SHA instructions: ten times slower than hashlib there, 2.5 times faster on Zen 3.)

Numba's on-disk cache knows kernels.sha256_cpu's source only: after editing this file, delete
kernels/__pycache__/sha256_cpu*.nbi (or the new code is never compiled).
"""

from __future__ import annotations

from llvmlite import binding, ir
from numba import types
from numba.core import config
from numba.extending import intrinsic

from kernels.cpu_info import cpu_flags
from kernels.sha256_core import K

HAS_SHA_NI = cpu_flags()["sha_ni"]

_I8, _I32, _I64, _I128 = ir.IntType(8), ir.IntType(32), ir.IntType(64), ir.IntType(128)
_BYTES = ir.VectorType(_I8, 16)
_I32X4 = ir.VectorType(_I32, 4)
_BIG_ENDIAN = [4 * (i // 4) + 3 - i % 4 for i in range(16)]  # each word's bytes reversed
# Each stream's arguments to the compress function: state, block, count, flags, bits.
_STREAM = [_I32.as_pointer(), _I8.as_pointer(), _I64, _I64, _I64]


class _Attributes(ir.values.FunctionAttributes):
    """llvmlite's function attributes, plus LLVM's quoted "key"="value" ones it has no API for."""

    def add(self, name: str) -> None:
        if name.startswith('"'):
            set.add(self, name)
        else:
            super().add(name)


def _sse_only_features() -> str:
    """The features Numba compiles for (NUMBA_CPU_FEATURES, else the host's), with the SHA
    extensions on and AVX, with all that builds on it, off: the last flag for a feature wins."""
    base = config.CPU_FEATURES
    if base is None:
        base = binding.get_host_cpu_features().flatten()
    return ",".join(part for part in (base, "+ssse3", "+sha", "-avx") if part)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


def _declare(module: ir.Module, name: str, ftype: ir.FunctionType) -> ir.Function:
    existing = module.globals.get(name)
    return existing if existing is not None else ir.Function(module, ftype, name)


def _shuffle(builder: ir.IRBuilder, a, b, lanes: list[int]):
    return builder.shuffle_vector(a, b, ir.Constant(_I32X4, lanes))


def _splat(builder: ir.IRBuilder, value, lanes: int = 16):
    undefined = ir.Constant(ir.VectorType(value.type, lanes), ir.Undefined)
    first = builder.insert_element(undefined, value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(_I32, lanes), None))


def _load(builder: ir.IRBuilder, pointer, at, vtype: ir.Type):
    """vtype (unaligned) from byte ``at`` of pointer."""
    address = builder.gep(pointer, [at])
    return builder.load(builder.bitcast(address, vtype.as_pointer()), align=1)


def _short_bytes(builder: ir.IRBuilder, pointer, count):
    """The count (< 16) bytes at pointer, zero above, as an i128: two loads of 8, 4 or 1 bytes
    that overlap (OR keeps the bytes they share; of 1 to 3 bytes, the middle one is a third
    load), never a byte past count."""
    join = builder.append_basic_block("short.join")
    found = []
    for width, itype in ((8, _I64), (4, _I32), (1, _I8)):
        take, skip = builder.append_basic_block(f"short.{width}"), builder.append_basic_block()
        builder.cbranch(builder.icmp_unsigned(">=", count, _i64(width)), take, skip)
        builder.position_at_end(take)
        last = builder.sub(count, _i64(width))
        starts = [_i64(0), last]
        if width == 1:
            starts.append(builder.lshr(count, _i64(1)))
        value = ir.Constant(_I128, 0)
        for at in starts:
            part = builder.zext(_load(builder, pointer, at, itype), _I128)
            shift = builder.zext(builder.mul(at, _i64(8)), _I128)
            value = builder.or_(value, builder.shl(part, shift))
        builder.branch(join)
        found.append((value, builder.block))
        builder.position_at_end(skip)
    builder.branch(join)  # no bytes at all
    found.append((ir.Constant(_I128, 0), builder.block))
    builder.position_at_end(join)
    result = builder.phi(_I128)
    for value, block in found:
        result.add_incoming(value, block)
    return result


def _long_chunks(builder: ir.IRBuilder, pointer, count) -> list:
    """The four 16-byte chunks of a block of count (16..64) bytes, each from one load that lies
    inside them (the chunk's own bytes, or the last 16 before count) and one PSHUFB that moves
    the bytes into place, zeroes those at or past count, and makes each word big-endian."""
    pshufb = _declare(
        builder.module, "llvm.x86.ssse3.pshuf.b.128", ir.FunctionType(_BYTES, [_BYTES, _BYTES])
    )
    chunks = []
    for q in range(4):
        lo = 16 * q
        end = builder.select(builder.icmp_unsigned("<", count, _i64(lo + 16)), count, _i64(lo + 16))
        end = builder.select(builder.icmp_unsigned("<", end, _i64(16)), _i64(16), end)
        loaded = _load(builder, pointer, builder.sub(end, _i64(16)), _BYTES)
        # Byte lo + j sits at lane j + shift of loaded; lane i of the chunk takes byte BE[i].
        shift = builder.trunc(builder.sub(_i64(lo + 16), end), _I8)
        source = builder.add(ir.Constant(_BYTES, _BIG_ENDIAN), _splat(builder, shift))
        present = builder.icmp_signed(
            "<",
            ir.Constant(_BYTES, _BIG_ENDIAN),
            _splat(builder, builder.trunc(builder.sub(count, _i64(lo)), _I8)),
        )
        control = builder.select(present, source, ir.Constant(_BYTES, [0x80] * 16))
        chunks.append(builder.call(pshufb, [loaded, control]))
    return chunks


def _message_block(builder: ir.IRBuilder, pointer, count, flags, bits) -> list:
    """The block's four message words (big-endian): count bytes from pointer, then 0x80 if
    flags & 1 and the bit length at the end if flags & 2, in 128-bit registers only."""
    long_block = builder.append_basic_block("block.long")
    short_block = builder.append_basic_block("block.short")
    join = builder.append_basic_block("block.join")
    builder.cbranch(builder.icmp_unsigned(">=", count, _i64(16)), long_block, short_block)
    builder.position_at_end(long_block)
    long_chunks = _long_chunks(builder, pointer, count)
    long_end = builder.block
    builder.branch(join)
    builder.position_at_end(short_block)
    natural = builder.bitcast(_short_bytes(builder, pointer, count), _BYTES)
    big_endian = builder.shuffle_vector(
        natural, natural, ir.Constant(ir.VectorType(_I32, 16), _BIG_ENDIAN)
    )
    short_chunks = [big_endian] + [ir.Constant(_BYTES, None)] * 3
    short_end = builder.block
    builder.branch(join)
    builder.position_at_end(join)
    chunks = []
    for from_long, from_short in zip(long_chunks, short_chunks, strict=True):
        chunk = builder.phi(_BYTES)
        chunk.add_incoming(from_long, long_end)
        chunk.add_incoming(from_short, short_end)
        chunks.append(chunk)

    def flag(bit):
        return builder.icmp_unsigned("!=", builder.and_(flags, _i64(bit)), _i64(0))

    count8 = _splat(builder, builder.trunc(count, _I8))
    marker = _splat(builder, flag(1))
    words = []
    for q, chunk in enumerate(chunks):
        at = ir.Constant(_BYTES, [16 * q + i for i in _BIG_ENDIAN])
        here = builder.and_(builder.icmp_unsigned("==", at, count8), marker)
        chunk = builder.select(here, ir.Constant(_BYTES, [0x80] * 16), chunk)
        words.append(builder.bitcast(chunk, _I32X4))
    length = ir.Constant(_I32X4, None)
    length = builder.insert_element(
        length, builder.trunc(builder.lshr(bits, _i64(32)), _I32), ir.Constant(_I32, 2)
    )
    length = builder.insert_element(length, builder.trunc(bits, _I32), ir.Constant(_I32, 3))
    tail = builder.and_(
        ir.Constant(ir.VectorType(ir.IntType(1), 4), [0, 0, 1, 1]), _splat(builder, flag(2), 4)
    )
    words[3] = builder.select(tail, length, words[3])
    return words


def _rounds(builder: ir.IRBuilder, streams: list) -> None:
    """Compress each (state pointer, words) stream, all in lockstep (four rounds of each in
    turn): one message's SHA256RNDS2 chain is bound by its latency, and a second fills the gaps."""
    module = builder.module
    rnds2 = _declare(module, "llvm.x86.sha256rnds2", ir.FunctionType(_I32X4, [_I32X4] * 3))
    msg1 = _declare(module, "llvm.x86.sha256msg1", ir.FunctionType(_I32X4, [_I32X4] * 2))
    msg2 = _declare(module, "llvm.x86.sha256msg2", ir.FunctionType(_I32X4, [_I32X4] * 2))

    def at(pointer, index):
        return builder.bitcast(builder.gep(pointer, [_i64(index)]), _I32X4.as_pointer())

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


def _compress_function(module: ir.Module, streams: int) -> ir.Function:
    """The SSE-only function compressing ``streams`` blocks, each given as (state, block,
    count, flags, bits); defined once per module, never inlined."""
    name = f"kernels_sha256_ni_compress_{streams}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), _STREAM * streams), name)
    function.linkage = "internal"
    function.attributes = _Attributes(["noinline", "nounwind"])
    function.attributes.add(f'"target-features"="{_sse_only_features()}"')
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    blocks = []
    for k in range(0, len(function.args), len(_STREAM)):
        state, block, count, flags, bits = function.args[k : k + len(_STREAM)]
        blocks.append((state, _message_block(builder, block, count, flags, bits)))
    _rounds(builder, blocks)
    builder.ret_void()
    return function


def _codegen(context, builder, signature, args):
    """Call the compress function with each (state, data, offset, count, flags, bits) group."""
    values = []
    for k in range(0, len(args), 6):
        state = context.make_array(signature.args[k])(context, builder, args[k]).data
        data = context.make_array(signature.args[k + 1])(context, builder, args[k + 1]).data
        offset = args[k + 2]
        numbers = (builder.zext(a, _I64) if a.type.width < 64 else a for a in args[k + 3 : k + 6])
        block = builder.bitcast(builder.gep(data, [offset]), _I8.as_pointer())
        values += [builder.bitcast(state, _I32.as_pointer()), block, *numbers]
    builder.call(_compress_function(builder.module, len(args) // 6), values)
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
