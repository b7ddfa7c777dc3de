"""Shared test helpers."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
LANES = {"network": "network/", "browser": "dashboard/test_browser.py"}
"""Markers given by where a test lives: each file under the prefix gets the marker. ``slow``
(a test of 20 s or more on a quiet machine) is marked in the test's own module."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets its lane's marker, and the slow tests go first: `make test`'s two
    processes, handed a file at a time in this order (``--no-loadscope-reorder``: xdist's
    default hands out the files of most tests first), then share the files of slow tests out at
    the start instead of one of them finishing alone with the last long test."""
    for item in items:
        path = item.path.relative_to(ROOT).as_posix()
        for marker, prefix in LANES.items():
            if path.startswith(prefix):
                item.add_marker(marker)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


@pytest.fixture(autouse=True)
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt here, as in a terminal, and in the processes the tests
    start, even when the suite runs in the background: a shell's ``&`` starts its command with
    SIGINT ignored, Python then installs no handler, and the signal tests would see nothing (the
    runs interrupted during start-up ran to their end instead, and those tests skipped)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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
