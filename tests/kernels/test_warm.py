"""`kernels.warm` loads every kernel the ledger calls with every signature a real batch gives
it: a process that warmed compiles nothing later (a node that did compile later went silent
for minutes on a cold machine, its validator thread compiling)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from numba.core.registry import CPUDispatcher

import kernels
from kernels.ed25519_keys import KeyCache
from kernels.ed25519_signing_keys import SigningKeyCache


def signatures() -> dict[str, int]:
    """How many signatures each of our compiled CPU kernels has."""
    return {f"{name}.{attr}": len(value.signatures)
            for name, module in list(sys.modules.items()) if name.startswith("kernels.")
            for attr, value in vars(module).items() if isinstance(value, CPUDispatcher)}


ROOT = Path(__file__).parents[2]


@pytest.fixture
def unwarmed():
    """A machine where no warm-up has finished, as far as `warm` can tell: its parallel path,
    a second interpreter beside it (which loads from the cache here)."""
    kernels.warm_stamp().unlink(missing_ok=True)


@pytest.mark.parametrize("parallel", [False, True])
def test_warm_compiles_every_signature_that_batches_use(parallel, unwarmed):
    """In a process of its own, where no kernel was loaded before."""
    code = f"from tests.kernels.test_warm import check; check(parallel={parallel})"
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def check(parallel: bool) -> None:
    kernels.warm(parallel=parallel)
    before = signatures()
    keys = [Ed25519PrivateKey.generate() for _ in range(64)]
    seeds = [k.private_bytes_raw() for k in keys]
    publics = [k.public_key().public_bytes_raw() for k in keys]
    messages = [os.urandom(100) for _ in keys]
    cache, signing = KeyCache(64), SigningKeyCache(64)
    for _ in range(2):  # the second time, every key has its table
        signed = kernels.ed25519_sign_batch(seeds, messages, key_cache=signing)
        assert kernels.ed25519_verify_batch(publics, messages, [bytes(s) for s in signed],
                                            key_cache=cache).all()
    kernels.sha256_batch(messages * 64)
    kernels.merkle_root(messages * 64)
    assert signatures() == before


def test_a_script_that_warms_in_parallel_runs_once(tmp_path, unwarmed):
    """A user's script with no ``if __name__ == "__main__"`` guard: the second process must not
    import it again (multiprocessing's spawn would, and run the script twice or fail)."""
    script = tmp_path / "study.py"
    script.write_text("import kernels\nkernels.warm(parallel=True)\nprint('ran')\n")
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ran"]


def test_a_finished_warm_up_is_stamped_and_the_next_loads_alone(unwarmed, monkeypatch):
    """Where a warm-up finished, the next (a run's, in a process of its own) loads the cache
    without a second interpreter."""
    done = subprocess.run([sys.executable, "-c", "import kernels; kernels.warm(parallel=True)"],
                          check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert kernels.warm_stamp().exists()
    monkeypatch.setattr(kernels, "_warmed", False)  # this process, as if new
    monkeypatch.setattr(kernels, "_warm_signing_beside_verification", _no_helper)
    kernels.warm(parallel=True)


def test_a_process_warms_once(monkeypatch):
    """A second warm-up (a run's, then its network's) starts no second interpreter, even
    where the machine looks unwarmed."""
    kernels.warm()
    kernels.warm_stamp().unlink(missing_ok=True)
    monkeypatch.setattr(kernels, "_warm_signing_beside_verification", _no_helper)
    kernels.warm(parallel=True)


def _no_helper() -> None:
    raise AssertionError("the warm-up started a second interpreter")
