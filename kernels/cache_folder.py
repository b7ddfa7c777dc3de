"""The project's cache folder on this machine, and files written into it whole.

It holds what is slow to make and the same every time for one machine and one set of package
versions: the kernels' measured backends (`kernels.calibration`) and the SimBench nets
simbench builds (`grid_models.simbench_nets`). The folder is $TESTBED_KERNEL_CACHE_DIR, else
$XDG_CACHE_HOME/p2p-energy-testbed, else ~/.cache/p2p-energy-testbed. Each file's name carries
what it holds for, so another CPU or version writes its own file beside it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CACHE_ENV = "TESTBED_KERNEL_CACHE_DIR"
CACHE_FOLDER = "p2p-energy-testbed"


def cache_dir() -> Path:
    """Where the cache is kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / CACHE_FOLDER


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` as ``path``, whole or not at all: written to a temporary file beside it, then
    renamed over it, so that a process reading it (or killed while writing it) never sees a
    part. Raises OSError where the folder cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
