"""Ed25519 batch signing on the CPU: [r]B for eight signatures per SIMD instruction stream.

Each task signs a run of up to TASK signatures: every nonce r is hashed and reduced one
signature at a time, the R = [r]B of eight signatures at once (kernels.ed25519_sign_core
.base_encodings, u64x8 lanes, one inversion per task), then each S. Tasks spread over the cores
with the GIL released (kernels.threads) once a call has PARALLEL_FROM signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from kernels.ed25519_core import SCALAR_LIMBS, WIDE_LIMBS
from kernels.ed25519_sign_core import base_encodings, nonce, respond
from kernels.ed25519_signing_keys import SigningKeyCache
from kernels.ed25519_tables import B_COMB
from kernels.packing import pack
from kernels.threads import run_tasks

TASK = 24  # signatures per task (three lane groups)
# From here a call spreads over the cores. Below it (an interval's 41 orders or readings) the
# calling thread signs alone: two threads gained 13 % on an idle machine and lost 25 % inside
# a run, where the other core is busy with the loop's other work.
PARALLEL_FROM = 64


@njit(cache=True, nogil=True)
def _sign_tasks(task_ids, n, secrets, publics, slots, data, starts, lengths, out):
    sha_u64 = np.empty(88, np.uint64)
    sha_u8 = np.empty(64, np.uint8)
    wide = np.empty(WIDE_LIMBS, np.int64)
    k = np.empty(SCALAR_LIMBS, np.int64)
    a = np.empty(SCALAR_LIMBS, np.int64)
    nonces = np.empty((TASK, SCALAR_LIMBS), np.int64)
    for task in task_ids:
        lo = task * TASK
        hi = min(n, lo + TASK)
        for i in range(lo, hi):
            nonce(
                secrets[slots[i]],
                data,
                starts[i],
                lengths[i],
                sha_u64,
                sha_u8,
                wide,
                nonces[i - lo],
            )
        base_encodings(nonces[: hi - lo], B_COMB, out[lo:hi])
        for i in range(lo, hi):
            s = slots[i]
            respond(
                secrets[s],
                publics[s],
                data,
                starts[i],
                lengths[i],
                nonces[i - lo],
                out[i],
                sha_u64,
                sha_u8,
                wide,
                k,
                a,
            )
    nonces[:] = 0  # the secret nonces do not outlive the call


def ed25519_sign_batch(
    seeds: Sequence[bytes], messages: Sequence[bytes], *, key_cache: SigningKeyCache
) -> np.ndarray:
    n = len(seeds)
    out = np.zeros((n, 64), dtype=np.uint8)
    if n == 0:
        return out
    data, starts, lengths = pack(messages)
    with key_cache.lock:
        slots = key_cache.lookup(seeds)
        tasks = (n + TASK - 1) // TASK
        run_tasks(
            lambda task_ids: _sign_tasks(
                task_ids,
                n,
                key_cache.secrets,
                key_cache.publics,
                slots,
                data,
                starts,
                lengths,
                out,
            ),
            tasks,
            parallel=n >= PARALLEL_FROM,
        )
    return out
