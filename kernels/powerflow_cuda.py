"""CUDA backend of the batch Z-bus fixed point (numba-cuda): one GPU thread per snapshot.

The same iteration as the CPU backend (``kernels.powerflow``), step for step: currents, the
factor's forward and backward substitutions, the PV nodes' reactive correction, the stopping
rule. Never required: it is imported only when ``backend="cuda"`` is asked for. Without a GPU it
runs under the simulator (``NUMBA_ENABLE_CUDASIM=1``), slowly, which is how it is tested.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from kernels.powerflow import FixedPointResult, PVNodes, ZbusFactor

_THREADS_PER_BLOCK = 128


@cuda.jit
def _fixed_point_kernel(
    s_re, s_im, v_start_re, v_start_im, warm, v0_re, v0_im, order, l_ptr, l_idx, l_re, l_im,
    u_ptr, u_idx, u_re, u_im, d_re, d_im, pv_rank, pv_vm, pv_w, tol, max_iter,
    vr, vi, xr, xi, sr, si, error, converged, iterations,
):  # pragma: no cover - runs on the device or in the simulator  # fmt: skip
    t = cuda.grid(1)
    if t >= s_re.shape[0]:
        return
    n = v0_re.shape[0]
    n_pv = pv_rank.shape[0]
    for k in range(n):
        sr[t, k] = s_re[t, order[k]]
        si[t, k] = s_im[t, order[k]]
        vr[t, k] = v_start_re[t, order[k]] if warm else v0_re[k]
        vi[t, k] = v_start_im[t, order[k]] if warm else v0_im[k]
    for it in range(max_iter):
        for k in range(n):  # the CPU backend's arithmetic, operation for operation
            a = vr[t, k]
            c = vi[t, k]
            inv = 1.0 / (a * a + c * c)
            xr[t, k] = (sr[t, k] * a + si[t, k] * c) * inv
            xi[t, k] = (sr[t, k] * c - si[t, k] * a) * inv
            for e in range(l_ptr[k], l_ptr[k + 1]):
                j = l_idx[e]
                xr[t, k] -= l_re[e] * xr[t, j] - l_im[e] * xi[t, j]
                xi[t, k] -= l_re[e] * xi[t, j] + l_im[e] * xr[t, j]
        largest = 0.0
        for k in range(n - 1, -1, -1):
            for e in range(u_ptr[k], u_ptr[k + 1]):
                j = u_idx[e]
                xr[t, k] -= u_re[e] * xr[t, j] - u_im[e] * xi[t, j]
                xi[t, k] -= u_re[e] * xi[t, j] + u_im[e] * xr[t, j]
            a = xr[t, k]
            c = xi[t, k]
            xr[t, k] = a * d_re[k] - c * d_im[k]
            xi[t, k] = a * d_im[k] + c * d_re[k]
            new_r = xr[t, k] + v0_re[k]
            new_i = xi[t, k] + v0_im[k]
            d_r = new_r - vr[t, k]
            d_i = new_i - vi[t, k]
            d2 = d_r * d_r + d_i * d_i
            if d2 > largest or math.isnan(d2):
                largest = d2
            vr[t, k] = new_r
            vi[t, k] = new_i
        for p in range(n_pv):
            k = pv_rank[p]
            error[t, p] = pv_vm[p] - math.sqrt(vr[t, k] ** 2 + vi[t, k] ** 2)
            e2 = error[t, p] * error[t, p]
            if e2 > largest or math.isnan(e2):
                largest = e2
        iterations[t] = it + 1
        if largest < tol * tol:
            converged[t] = True
            return
        if not math.isfinite(largest):
            return
        for p in range(n_pv):
            k = pv_rank[p]
            dq = 0.0
            for m in range(n_pv):
                dq += pv_w[p, m] * error[t, m]
            si[t, k] += dq * math.sqrt(vr[t, k] ** 2 + vi[t, k] ** 2)


def zbus_fixed_point_cuda(
    factor: ZbusFactor,
    v0: np.ndarray,
    s: np.ndarray,
    pv: PVNodes,
    v_start: np.ndarray,
    tol: float,
    max_iter: int,
) -> FixedPointResult:
    """Same contract as ``kernels.powerflow.zbus_fixed_point`` on the GPU."""
    n_snap, n = s.shape
    warm = v_start.shape[0] == n_snap and n_snap > 0
    rank = np.empty(n, dtype=np.int64)
    rank[factor.order] = np.arange(n)
    work = [cuda.device_array((n_snap, n), dtype=np.float64) for _ in range(6)]
    d_err = cuda.device_array((n_snap, len(pv.positions)), dtype=np.float64)
    d_conv = cuda.to_device(np.zeros(n_snap, dtype=np.bool_))
    d_iter = cuda.to_device(np.zeros(n_snap, dtype=np.int64))
    start = v_start if warm else np.zeros((1, 1), dtype=np.complex128)
    v0_order = v0[factor.order]
    if n_snap:
        blocks = -(-n_snap // _THREADS_PER_BLOCK)
        host = (
            s.real.copy(), s.imag.copy(), start.real.copy(), start.imag.copy(), warm,
            v0_order.real.copy(), v0_order.imag.copy(), *factor.arrays(),
            rank[pv.positions], pv.vm_pu, pv.w, tol, max_iter,
        )  # fmt: skip
        device = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in host]
        _fixed_point_kernel[blocks, _THREADS_PER_BLOCK](*device, *work, d_err, d_conv, d_iter)
    vr, vi, _, _, _, si = (w.copy_to_host() for w in work)
    voltages = np.empty((n_snap, n), dtype=np.complex128)
    voltages[:, factor.order] = vr + 1j * vi
    iterations = d_iter.copy_to_host()
    return FixedPointResult(
        voltages=voltages,
        converged=d_conv.copy_to_host(),
        iterations=int(iterations.max()) if n_snap else 0,
        pv_q=si[:, rank[pv.positions]].copy(),
    )
