"""The SHA-NI path's machine code: legacy SSE only, on every x86-64 target, and no byte read
outside the message.

The SHA instructions are legacy SSE, which Intel's cores slow down while any upper part of a
vector register is dirty; compiled for an AVX-512 Xeon the old code held the block in zmm
registers (k-masked 64-byte loads, zmm16-31 that VZEROUPPER leaves dirty) between them and ran
ten times slower than hashlib there. Numba is made to compile for such CPUs here (it never runs
that code), and the assembly is read.
"""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from kernels import sha256_cpu

# What Numba passes LLVM on an AVX-512 Xeon with the SHA extensions (its host features).
AVX512_FEATURES = (
    "+64bit,+cmov,+cx8,+cx16,+fxsr,+mmx,+sse,+sse2,+sse3,+ssse3,+sse4.1,+sse4.2,+popcnt,+sahf,"
    "+movbe,+aes,+pclmul,+sha,+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+adx,+xsave,+avx512f,"
    "+avx512cd,+avx512dq,+avx512bw,+avx512vl,+avx512vbmi,+avx512vbmi2,+avx512vnni,"
    "+avx512bitalg,+avx512vpopcntdq,+avx512ifma,+gfni,+vaes,+vpclmulqdq,+evex512"
)
TARGETS = ("icelake-server", "sapphirerapids")
COMPILE = """
import sys
from numba import types
from kernels import sha256_cpu
signature = (types.int64[::1], types.uint8[::1], types.int64[::1], types.int64[::1],
             types.uint32[:, ::1])
sha256_cpu._hash_tasks_ni.compile(signature)
sys.stdout.write(sha256_cpu._hash_tasks_ni.inspect_asm(signature))
"""
AVX512_STATE = re.compile(r"%zmm\d+|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b")


def _functions(assembly: str) -> dict[str, str]:
    """Each function's assembly by name."""
    parts = re.split(r"^\s*\.type\s+([^,\s]+),@function\s*$", assembly, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _offending(text: str, pattern: re.Pattern) -> list[str]:
    return [line.strip() for line in text.splitlines() if pattern.search(line)][:5]


def test_sha_ni_code_for_avx512_targets_is_legacy_sse_only(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_CPU_FEATURES": AVX512_FEATURES}
    runs = {
        cpu: subprocess.Popen(
            [sys.executable, "-c", COMPILE],
            env={**env, "NUMBA_CPU_NAME": cpu},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cpu in TARGETS
    }
    for cpu, run in runs.items():
        assembly, errors = run.communicate(timeout=300)
        assert run.returncode == 0, errors
        functions = _functions(assembly)
        sha = {name: text for name, text in functions.items() if "sha256rnds2" in text}
        assert sha, f"{cpu}: no SHA256RNDS2 in the compiled kernel"
        hot = {**sha, **{n: t for n, t in functions.items() if "_hash_range_ni" in n}}
        for name, text in hot.items():
            assert not _offending(text, AVX512_STATE), (cpu, name, _offending(text, AVX512_STATE))
        vex = re.compile(r"^\s+v[a-z0-9]+\b|%ymm")
        for name, text in sha.items():
            assert not _offending(text, vex), (cpu, name, _offending(text, vex))


@pytest.mark.skipif(not sha256_cpu.HAS_SHA_NI, reason="this CPU has no SHA extensions")
def test_sha_ni_reads_no_byte_outside_the_message():
    """Messages of 0..200 bytes that start right after, or end right before, a page nobody may
    read: a byte read past either end would crash the process."""
    page = mmap.PAGESIZE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    memory = mmap.mmap(-1, 3 * page)
    data = np.frombuffer(memory, dtype=np.uint8)
    data[page : 2 * page] = np.random.default_rng(5).integers(0, 256, page, dtype=np.uint8)
    for guard in (0, 2 * page):
        assert libc.mprotect(data.ctypes.data + guard, page, 0) == 0, ctypes.get_errno()
    try:
        lengths = np.array([*range(201), *range(201)], dtype=np.int64)
        starts = np.array([*(2 * page - n for n in range(201)), *[page] * 201], dtype=np.int64)
        out = np.empty((len(lengths), 8), np.uint32)
        sha256_cpu._hash_tasks_ni(np.arange(1, dtype=np.int64), data, starts, lengths, out)
        expected = [
            hashlib.sha256(data[s : s + n].tobytes()).digest()
            for s, n in zip(starts, lengths, strict=True)
        ]
        assert [row.tobytes() for row in out] == expected
    finally:
        for guard in (0, 2 * page):
            libc.mprotect(data.ctypes.data + guard, page, mmap.PROT_READ | mmap.PROT_WRITE)
        del data
        memory.close()
