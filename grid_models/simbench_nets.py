"""SimBench nets as simbench builds them, built once per machine and then read back.

`simbench.get_simbench_net` parses the package's whole CSV data set for every net it builds:
3.3 s of CPU for the default LV feeder and 5.2 s for the MV+LV town, paid by every run's start-up,
every sweep worker and every test process. Its net, pickled into the project's cache folder
(`kernels.cache_folder`), loads in 0.03 s (9 MB and 23 MB; AMD EPYC Zen 4). The file holds what
simbench built, so a run's grid is the same bit for bit.

A file is named by the code and a digest of the versions that shape the net (simbench,
pandapower, pandas, numpy, Python): after an upgrade the net is built afresh beside it. A file
that does not load is built again and replaced; a folder that cannot be written costs only the
time, with a warning in the log.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import platform
from importlib import metadata
from pathlib import Path

import pandapower as pp

from kernels.cache_folder import cache_dir, write_atomically

FOLDER = "simbench"
VERSIONED = ("simbench", "pandapower", "pandas", "numpy")  # distributions that shape a net
_log = logging.getLogger("grid_models")


def simbench_net(code: str) -> pp.pandapowerNet:
    """The SimBench net ``code``: read from the cache, else built by simbench and kept."""
    path = cache_path(code)
    net = _read(path, code)
    if net is not None:
        return net
    import simbench

    net = simbench.get_simbench_net(code)
    try:
        write_atomically(path, pickle.dumps({"code": code, "net": net},
                                            protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as error:
        _log.warning("grid_models: cannot keep SimBench net %s in %s (%s)", code, path, error)
    return net


def cache_path(code: str) -> Path:
    """The file that keeps ``code``'s net for these package versions."""
    versions = ";".join(f"{name}={metadata.version(name)}" for name in VERSIONED)
    digest = hashlib.sha256(f"{versions};python={platform.python_version()}".encode())
    return cache_dir() / FOLDER / f"{code}-{digest.hexdigest()[:16]}.pickle"


def _read(path: Path, code: str) -> pp.pandapowerNet | None:
    """The net the file keeps; None when there is no file, or it does not hold ``code``'s."""
    try:
        content = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - unpickling fails in many ways on a bad file
        _log.warning("grid_models: SimBench net %s is built again: %s does not load (%r)",
                     code, path, error)
        return None
    if (isinstance(content, dict) and content.get("code") == code
            and isinstance(content.get("net"), pp.pandapowerNet)):
        return content["net"]
    _log.warning("grid_models: SimBench net %s is built again: %s holds something else",
                 code, path)
    return None
