"""What "auto" runs: per function, the backend measured fastest on this machine.

A function's choice is read from this machine's cache file; when that is missing, corrupt or
another machine's, it is measured: a small fixed workload (WORKLOADS) runs once on the
reference and on each candidate backend untimed (the first run compiles; Numba's own cache
makes that quick after the first time), then REPEATS times each, in turn, and the best time of
each counts. A backend no faster than the reference is never chosen, and one that fails is not
either. The measurement takes well under a second per function, and its result is written
atomically to the cache, so a machine measures once per CPU, package and Numba version.

The file is in the project's cache folder (`kernels.cache_folder`); its name and content carry
the machine's identity: CPU model, LLVM's name for the CPU and its flags, the package version
with a digest of the kernels' sources (so a changed kernel is measured again), the Numba and
Python versions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from kernels.cache_folder import cache_dir, write_atomically
from kernels.cpu_info import cpu_flags, cpu_model, llvm_cpu

DISTRIBUTION = "p2p-energy-testbed"
FORMAT = 1  # of the cache file
REPEATS = 3  # timed runs per backend; the best counts
_log = logging.getLogger("kernels")

Run = Callable[[str], object]  # one run of a function's workload on the named backend


@dataclass(frozen=True)
class Choice:
    """A function's auto backend, the best seconds each backend took on the workload, and
    whether that was measured now or read from ``path``."""

    function: str
    backend: str
    seconds: dict[str, float]
    measured: bool
    path: Path

    def describe(self) -> str:
        times = ", ".join(f"{name} {s * 1e3:.2f} ms" for name, s in sorted(self.seconds.items()))
        how = "measured now" if self.measured else "measured before"
        return f"{how}: {times}; {self.path}"


def _signed(count: int) -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
    """count 150-byte messages, each signed by a key of its own: (seeds, keys, messages, sigs)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    rng = random.Random(23)
    seeds = [rng.randbytes(32) for _ in range(count)]
    messages = [rng.randbytes(150) for _ in range(count)]
    privates = [Ed25519PrivateKey.from_private_bytes(seed) for seed in seeds]
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    keys = [private.public_key().public_bytes(*raw) for private in privates]
    signatures = [p.sign(m) for p, m in zip(privates, messages, strict=True)]
    return seeds, keys, messages, signatures


def _sha256_workload() -> Run:
    rng = random.Random(21)
    messages = [rng.randbytes(64) for _ in range(1024)]
    return lambda backend: _kernels().sha256_batch(messages, backend)


def _merkle_workload() -> Run:
    rng = random.Random(22)
    leaves = [rng.randbytes(32) for _ in range(1024)]
    return lambda backend: _kernels().merkle_root(leaves, backend)


def _verify_workload() -> Run:
    """Distinct keys and a fresh key cache each run: no key table helps, the kernels' worst case."""
    from kernels.ed25519_keys import KeyCache

    _, keys, messages, signatures = _signed(256)
    return lambda backend: _kernels().ed25519_verify_batch(
        keys, messages, signatures, backend, key_cache=KeyCache()
    )


def _sign_workload() -> Run:
    """Distinct seeds and a fresh key cache each run, as for verification."""
    from kernels.ed25519_signing_keys import SigningKeyCache

    seeds, _, messages, _ = _signed(128)
    return lambda backend: _kernels().ed25519_sign_batch(
        seeds, messages, backend, key_cache=SigningKeyCache()
    )


WORKLOADS: dict[str, Callable[[], Run]] = {
    "sha256_batch": _sha256_workload,
    "merkle_root": _merkle_workload,
    "ed25519_verify_batch": _verify_workload,
    "ed25519_sign_batch": _sign_workload,
}


def _kernels():
    import kernels

    return kernels


@functools.cache
def _sources_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def identity() -> dict[str, object]:
    """What a cached choice holds for: this CPU and this build of the kernels."""
    import numba

    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "cpu_model": cpu_model(),
        "llvm_cpu": llvm_cpu(),
        "cpu_flags": cpu_flags(),
        "package": f"{version}+{_sources_digest()}",
        "numba": numba.__version__,
        "python": platform.python_version(),
    }


def identity_key() -> str:
    """A short digest of `identity`: what names a file that holds for this machine only."""
    return hashlib.sha256(json.dumps(identity(), sort_keys=True).encode()).hexdigest()[:16]


def cache_path() -> Path:
    """This machine's cache file."""
    return cache_dir() / f"kernels-auto-{identity_key()}.json"


def _valid_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("backend"), str)
        and isinstance(entry.get("seconds"), dict)
        and all(
            isinstance(k, str) and isinstance(v, int | float) and v > 0
            for k, v in entry["seconds"].items()
        )
    )


def _read(path: Path) -> dict[str, dict]:
    """The valid choices in the cache file; nothing when it is missing, unreadable, corrupt
    or another machine's."""
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if (
        not isinstance(content, dict)
        or content.get("format") != FORMAT
        or content.get("identity") != identity()
        or not isinstance(content.get("choices"), dict)
    ):
        return {}
    return {name: entry for name, entry in content["choices"].items() if _valid_entry(entry)}


def _write(path: Path, function: str, entry: dict) -> None:
    """Add the function's entry to the cache file atomically (a temporary file renamed over
    it), keeping the valid entries already there; a folder we cannot write is only logged."""
    choices = {**_read(path), function: entry}
    content = {"format": FORMAT, "identity": identity(), "choices": choices}
    try:
        write_atomically(path, json.dumps(content, indent=1, sort_keys=True).encode())
    except OSError as error:
        _log.warning("kernels: cannot save the auto backends in %s (%s)", path, error)


def _seconds(run: Run, backend: str) -> float:
    """Wall time of one run of the workload on backend."""
    start = time.perf_counter()
    run(backend)
    return time.perf_counter() - start


def measure(function: str, candidates: Sequence[str]) -> dict[str, float]:
    """Best seconds of the function's workload on the reference and each candidate that runs
    (one that raises is left out, and logged)."""
    run = WORKLOADS[function]()
    working = ["reference"]
    run("reference")
    for backend in candidates:
        try:
            run(backend)
        except Exception as error:  # noqa: BLE001 - a backend that fails here is never chosen
            _log.warning(
                "kernels: %s backend %r failed while measured: %r", function, backend, error
            )
        else:
            working.append(backend)
    best = dict.fromkeys(working, float("inf"))
    for _ in range(REPEATS):
        for backend in working:
            best[backend] = min(best[backend], _seconds(run, backend))
    return best


def decide(seconds: dict[str, float]) -> str:
    """The fastest backend, if it is faster than the reference; the reference otherwise."""
    fastest = min(seconds, key=seconds.__getitem__)
    return fastest if seconds[fastest] < seconds["reference"] else "reference"


def choose(function: str, candidates: Sequence[str]) -> Choice:
    """The function's auto backend among the reference and candidates: cached, else measured."""
    path = cache_path()
    cached = _read(path).get(function)
    if cached is not None and cached["backend"] in ("reference", *candidates):
        return Choice(function, cached["backend"], cached["seconds"], False, path)
    seconds = measure(function, candidates)
    backend = decide(seconds)
    _write(path, function, {"backend": backend, "seconds": seconds})
    return Choice(function, backend, seconds, True, path)
