"""Shared test helpers."""

import os
import subprocess
import sys

import pytest


def _run_in_cuda_simulator(code: str) -> str:
    """Run ``code`` in a fresh interpreter under Numba's CUDA simulator (it must be chosen
    before numba.cuda is first imported); its standard output, after a clean exit."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def run_in_cuda_simulator():
    return _run_in_cuda_simulator
