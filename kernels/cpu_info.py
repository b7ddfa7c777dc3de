"""The CPU the kernels run on: its model, LLVM's name for it, and the flags the kernels use.

The auto backend keys its measured choices on these (kernels.calibration), the SHA-256 kernel
picks its path by the SHA flag, and benchmarks record them beside every figure.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

from llvmlite import binding

# The flags that change which kernel code runs, by our name: LLVM's feature name.
FLAGS = {"sha_ni": "sha", "avx2": "avx2", "avx512f": "avx512f"}


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@functools.cache
def llvm_cpu() -> str:
    """LLVM's name for this CPU (what Numba compiles for), e.g. "znver3", "icelake-server"."""
    return str(binding.get_host_cpu_name())  # llvmlite has no types


def cpu_flags() -> dict[str, bool]:
    """Whether the CPU has each of FLAGS."""
    return dict(zip(FLAGS, _has_flags(), strict=True))


@functools.cache
def _has_flags() -> tuple[bool, ...]:
    features = binding.get_host_cpu_features()
    return tuple(bool(features.get(llvm, False)) for llvm in FLAGS.values())
