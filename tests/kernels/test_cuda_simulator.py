"""Runs the CUDA kernels' tests in Numba's CUDA simulator, in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_cuda_kernels_agree_with_reference_in_simulator():
    here = Path(__file__).parent
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::RuntimeWarning",  # wrapping uint64 adds in SHA-512, by design
            str(here / "sim_cuda_cases.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
