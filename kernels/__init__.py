"""Batch kernels: SHA-256, Merkle roots, Ed25519 verification and signing.

Each function takes ``backend`` = "auto" | "reference" | "cpu" | "cuda" (default from the
environment variable TESTBED_KERNEL_BACKEND, else "auto"). Every backend gives the same answer
as "reference" bit for bit.

"auto" picks, per function, the backend measured fastest on this machine among "reference",
"cpu" and, when a real GPU is usable (never the simulator), "cuda": measured at the function's
first auto call, in well under a second, and cached per CPU and kernels build in the user's
cache folder (kernels.calibration). A backend slower than the reference is never chosen. The
choice is logged once per function and process on the "kernels" logger.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kernels import reference
from kernels.errors import KernelError

if TYPE_CHECKING:
    from kernels.ed25519_keys import KeyCache
    from kernels.ed25519_signing_keys import SigningKeyCache

BACKENDS = ("reference", "cpu", "cuda")
ENV_VAR = "TESTBED_KERNEL_BACKEND"
_log = logging.getLogger("kernels")
_auto_choices: dict[str, str] = {}  # function: backend, decided once per process
_auto_lock = threading.Lock()


# Where numba-cuda looks for the CUDA driver on Linux (cudadrv.driver.locate_driver_and_loader)
_CUDA_DRIVER_NAMES = ("libcuda.so", "libcuda.so.1")
_CUDA_DRIVER_FOLDERS = ("", "/usr/lib", "/usr/lib64")


@functools.cache
def _gpu_usable() -> bool:
    from numba import config

    if config.ENABLE_CUDASIM:  # type: ignore[attr-defined]  # numba's stubs omit it (set at import)
        return False
    if not _cuda_driver_opens():
        return False
    from kernels import cuda_backend

    return cuda_backend.is_usable()


def _cuda_driver_opens() -> bool:
    """Whether the CUDA driver library opens where numba-cuda would look for it on Linux
    (elsewhere numba-cuda decides): without a driver there is no GPU, and importing numba.cuda
    to learn that cost every process that runs a kernel a quarter of a second."""
    if not sys.platform.startswith("linux"):
        return True
    for folder in _CUDA_DRIVER_FOLDERS:
        for name in _CUDA_DRIVER_NAMES:
            try:
                ctypes.CDLL(os.path.join(folder, name))
            except OSError:
                continue
            return True
    return False


def _auto_choice(function: str) -> str:
    """The function's auto backend: cached or measured (kernels.calibration), logged once."""
    with _auto_lock:
        if function not in _auto_choices:
            from kernels import calibration

            candidates = ("cpu", "cuda") if _gpu_usable() else ("cpu",)
            choice = calibration.choose(function, candidates)
            _log.info(
                "kernels: backend for %s is %r (%s)", function, choice.backend, choice.describe()
            )
            _auto_choices[function] = choice.backend
        return _auto_choices[function]


def auto_backends() -> dict[str, str]:
    """The backend "auto" runs for each function (deciding those not yet decided)."""
    from kernels.calibration import WORKLOADS

    return {function: _auto_choice(function) for function in WORKLOADS}


class _Accelerated(Protocol):
    """What the cpu and cuda backend modules provide (the reference's verify and sign keep no
    key cache, so it is called apart)."""

    def sha256_batch(self, messages: Sequence[bytes], /) -> np.ndarray: ...

    def merkle_root(self, leaves: Sequence[bytes], /) -> bytes: ...

    def ed25519_verify_batch(
        self,
        public_keys: Sequence[bytes],
        messages: Sequence[bytes],
        signatures: Sequence[bytes],
        /,
        *,
        key_cache: KeyCache | None = None,
    ) -> np.ndarray: ...

    def ed25519_sign_batch(
        self, seeds: Sequence[bytes], messages: Sequence[bytes], /, *, key_cache: SigningKeyCache
    ) -> np.ndarray: ...


def _backend(function: str, backend: str | None) -> _Accelerated | None:
    """The backend module to run the function, None for the reference."""
    name = backend or os.environ.get(ENV_VAR) or "auto"
    if name == "auto":
        name = _auto_choice(function)
    if name == "reference":
        return None
    if name == "cpu":
        from kernels import cpu_backend

        return cpu_backend
    if name == "cuda":
        from kernels import cuda_backend

        return cuda_backend
    raise KernelError(f"unknown kernel backend {name!r} (choose from auto, {', '.join(BACKENDS)})")


def sha256_batch(messages: Sequence[bytes], backend: str | None = None) -> np.ndarray:
    """SHA-256 of each message: uint8 array of shape (n, 32)."""
    implementation = _backend("sha256_batch", backend)
    if implementation is None:
        return reference.sha256_batch(messages)
    return implementation.sha256_batch(messages)


def merkle_root(leaves: Sequence[bytes], backend: str | None = None) -> bytes:
    """Merkle root of the leaves under the ledger's rule (see kernels.merkle_rule)."""
    implementation = _backend("merkle_root", backend)
    if implementation is None:
        return reference.merkle_root(leaves)
    return implementation.merkle_root(leaves)


def ed25519_verify_batch(
    public_keys: Sequence[bytes],
    messages: Sequence[bytes],
    signatures: Sequence[bytes],
    backend: str | None = None,
    *,
    key_cache: KeyCache | None = None,
) -> np.ndarray:
    """Whether each signature is valid for its key and message: bool array of shape (n,).

    The rule is OpenSSL's, documented in kernels.ed25519_core. The cpu and cuda backends keep
    a table for each key that signs often in ``key_cache`` (default: one shared per process,
    kernels.ed25519_keys.DEFAULT_KEY_CACHE); the reference backend needs none.
    """
    implementation = _backend("ed25519_verify_batch", backend)
    if implementation is None:
        return reference.ed25519_verify_batch(public_keys, messages, signatures)
    return implementation.ed25519_verify_batch(
        public_keys, messages, signatures, key_cache=key_cache
    )


def ed25519_sign_batch(
    seeds: Sequence[bytes],
    messages: Sequence[bytes],
    backend: str | None = None,
    *,
    key_cache: SigningKeyCache | None = None,
) -> np.ndarray:
    """The Ed25519 signature (RFC 8032) of each message by the key of each 32-byte seed:
    uint8 array of shape (n, 64), bit for bit what `cryptography` signs.

    The cpu and cuda backends keep each key's expansion (its secret scalar and prefix, and its
    public key; never the seed) in ``key_cache`` (default: one shared per process,
    kernels.ed25519_signing_keys.DEFAULT_SIGNING_KEY_CACHE); see that module for what it holds.
    A seed that is not 32 bytes raises KernelError naming its row.
    """
    from kernels.ed25519_signing_keys import DEFAULT_SIGNING_KEY_CACHE, check_seeds

    if len(messages) != len(seeds):
        raise KernelError("seeds and messages must have the same length")
    seeds = [seed if type(seed) is bytes else bytes(memoryview(seed)) for seed in seeds]
    check_seeds(seeds)
    implementation = _backend("ed25519_sign_batch", backend)
    if implementation is None:
        return reference.ed25519_sign_batch(seeds, messages)
    cache = DEFAULT_SIGNING_KEY_CACHE if key_cache is None else key_cache
    if len(set(seeds)) <= cache.capacity:
        return implementation.ed25519_sign_batch(seeds, messages, key_cache=cache)
    step = cache.capacity  # no more distinct keys per call than the cache holds
    return np.concatenate(
        [
            implementation.ed25519_sign_batch(
                seeds[i : i + step], messages[i : i + step], key_cache=cache
            )
            for i in range(0, len(seeds), step)
        ]
    )


def warm(*, parallel: bool = False) -> None:
    """Load every kernel the ledger calls through its default backend (compiling it, the
    first time on a machine, into Numba's cache), on inputs too small to time: a process that
    warms at start-up answers its first real call at full speed, and processes started after
    one that warmed load the cache instead of compiling the same functions at once.

    ``parallel``: where no warm-up has finished yet (`warm_stamp`), verification is compiled
    meanwhile by a second interpreter (Numba compiles holding the GIL, so only a process runs
    beside it), then loaded here from the cache: on a cold machine of two cores, a third less
    time (33 s against 44 s, AMD EPYC Zen 4, quiet). Where one has, loading the cache alone is
    quicker (1.2 s against 1.6 s, and a second of CPU less). The helper is a plain subprocess,
    not multiprocessing's: that would import the caller's main script again in the child. If it
    fails or outlasts `WARM_HELPER_TIMEOUT_S`, this process compiles what it did not. A
    daemonic process (a Dask worker's, whose cells follow the first that warmed) warms alone.

    A process warms once: a run on a network of its own warmed at start-up and again before
    starting its nodes, each time with a second process that loaded the whole cache again."""
    import multiprocessing

    global _warmed
    if _warmed:
        return
    stamp = warm_stamp()
    if parallel and not stamp.exists() and not multiprocessing.current_process().daemon:
        _warm_signing_beside_verification()
    else:
        _warm_signing()
    warm_verification()  # loaded from the cache where the helper compiled it
    _warmed = True
    try:
        stamp.touch()
    except OSError:  # a cache Numba could not write either: the helper helps next time too
        pass


def warm_stamp() -> Path:
    """A file in Numba's cache of the kernels that says a warm-up finished there, for this CPU
    and these kernels (`kernels.calibration.identity`)."""
    from kernels import calibration
    from kernels.ed25519_cpu import _verify_tasks

    cache = _verify_tasks.stats.cache_path
    assert cache is not None, "the kernels are compiled with cache=True"
    return Path(cache) / f"warmed-{calibration.identity_key()}"


def _warm_signing_beside_verification() -> None:
    """`_warm_signing` here while a second interpreter compiles verification (`warm`)."""
    import subprocess
    import sys

    helper = subprocess.Popen([sys.executable, "-c", "import kernels; kernels.warm_verification()"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    _warm_signing()
    try:
        _, stderr = helper.communicate(timeout=WARM_HELPER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        helper.kill()
        _, stderr = helper.communicate()
    if helper.returncode != 0:
        _log.warning("warming in a second process failed (exit code %s: %s): compiling here",
                     helper.returncode, stderr.decode(errors="replace").strip()[-300:])


_warmed = False
"""Whether this process has warmed (`warm`)."""


WARM_HELPER_TIMEOUT_S = 600.0
"""Compiling verification from nothing takes about a minute on a quiet core; ten is a machine
that will compile it faster here than by waiting."""


_WARM_SEED = bytes(range(32))


def _warm_signing() -> None:
    """Signing, SHA-256 and Merkle roots."""
    from kernels.ed25519_signing_keys import SigningKeyCache

    ed25519_sign_batch([_WARM_SEED], [b"warm"], key_cache=SigningKeyCache(1))
    sha256_batch([b"warm"])
    merkle_root([b"warm", b"up", b"!"])


def warm_verification() -> None:
    """Verification, of a key without its table and then with one (`warm`'s second process)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kernels.ed25519_keys import KeyCache

    key = Ed25519PrivateKey.from_private_bytes(_WARM_SEED)
    public_key = key.public_key().public_bytes_raw()
    signature = key.sign(b"warm")
    for admit_after in (2, 1):
        ed25519_verify_batch([public_key], [b"warm"], [signature],
                             key_cache=KeyCache(1, admit_after))
