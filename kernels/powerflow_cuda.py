"""CUDA backend of the batch Z-bus fixed point (numba-cuda): one GPU thread per snapshot.

Never required: it is imported only when ``backend="cuda"`` is asked for. Without a GPU it runs
under the simulator (``NUMBA_ENABLE_CUDASIM=1``), slowly, which is how it is tested.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from kernels.powerflow import FixedPointResult

_THREADS_PER_BLOCK = 128


@cuda.jit
def _fixed_point_kernel(z, v0, s, tol, max_iter, v, i, converged, iterations):  # pragma: no cover
    t = cuda.grid(1)
    if t >= s.shape[0]:
        return
    n = v0.shape[0]
    for k in range(n):
        v[t, k] = v0[k]
        i[t, k] = (s[t, k] / v0[k]).conjugate()
    for it in range(max_iter):
        largest = 0.0
        for a in range(n):
            acc = v0[a]
            for b in range(n):
                acc += z[a, b] * i[t, b]
            d = acc - v[t, a]
            step = math.sqrt(d.real * d.real + d.imag * d.imag)
            if step > largest or math.isnan(step):
                largest = step
            v[t, a] = acc
        for a in range(n):
            i[t, a] = (s[t, a] / v[t, a]).conjugate()
        iterations[t] = it + 1
        if largest < tol:
            converged[t] = True
            return
        if math.isnan(largest) or math.isinf(largest):
            return


def zbus_fixed_point_cuda(
    z: np.ndarray, v0: np.ndarray, s: np.ndarray, tol: float, max_iter: int
) -> FixedPointResult:
    """Same contract as ``kernels.powerflow.zbus_fixed_point`` on the GPU."""
    n_snap, n = s.shape
    d_v = cuda.device_array((n_snap, n), dtype=np.complex128)
    d_i = cuda.device_array((n_snap, n), dtype=np.complex128)
    d_conv = cuda.to_device(np.zeros(n_snap, dtype=np.bool_))
    d_iter = cuda.to_device(np.zeros(n_snap, dtype=np.int64))
    if n_snap:
        blocks = -(-n_snap // _THREADS_PER_BLOCK)
        _fixed_point_kernel[blocks, _THREADS_PER_BLOCK](
            cuda.to_device(z),
            cuda.to_device(v0),
            cuda.to_device(s),
            tol,
            max_iter,
            d_v,
            d_i,
            d_conv,
            d_iter,
        )
    iterations = d_iter.copy_to_host()
    return FixedPointResult(
        voltages=d_v.copy_to_host(),
        currents=d_i.copy_to_host(),
        converged=d_conv.copy_to_host(),
        iterations=int(iterations.max()) if n_snap else 0,
    )
