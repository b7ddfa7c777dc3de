"""CUDA backend of the batch unbalanced fixed point (numba-cuda): one GPU thread per snapshot.

The same iteration as the CPU backend (``kernels.powerflow_unbalanced``), step for step: the
phase voltages of the sequence voltages, the phase currents, their sequence components, the
three factors' forward and backward substitutions, the stopping rule. Imported only when
``backend="cuda"`` is asked for; tested in the simulator (``NUMBA_ENABLE_CUDASIM=1``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from kernels.powerflow import FixedPointResult
from kernels.powerflow_unbalanced import THIRD, H, SequenceFactors

_THREADS_PER_BLOCK = 128


@cuda.jit
def _fixed_point_3ph_kernel(
    s_re, s_im, v_start_re, v_start_im, warm, base_re, base_im, order, l_ptr, l_idx, l_re,
    l_im, u_ptr, u_idx, u_re, u_im, d_re, d_im, tol, max_iter, vr, vi, xr, xi, sr, si,
    converged, iterations,
):  # pragma: no cover - runs on the device or in the simulator  # fmt: skip
    t = cuda.grid(1)
    if t >= s_re.shape[0]:
        return
    n = base_re.shape[1]
    for q in range(3):
        for k in range(n):
            sr[t, q, k] = s_re[t, q, order[k]]
            si[t, q, k] = s_im[t, q, order[k]]
            vr[t, q, k] = v_start_re[t, q, order[k]] if warm else base_re[q, k]
            vi[t, q, k] = v_start_im[t, q, order[k]] if warm else base_im[q, k]
    for it in range(max_iter):
        for k in range(n):  # the CPU backend's arithmetic, operation for operation
            z_r, z_i = vr[t, 0, k], vi[t, 0, k]
            p_r, p_i = vr[t, 1, k], vi[t, 1, k]
            n_r, n_i = vr[t, 2, k], vi[t, 2, k]
            a_r = z_r + p_r + n_r
            a_i = z_i + p_i + n_i
            b_r = z_r + (-0.5 * p_r + H * p_i) + (-0.5 * n_r - H * n_i)
            b_i = z_i + (-H * p_r - 0.5 * p_i) + (H * n_r - 0.5 * n_i)
            c_r = z_r + (-0.5 * p_r - H * p_i) + (-0.5 * n_r + H * n_i)
            c_i = z_i + (H * p_r - 0.5 * p_i) + (-H * n_r - 0.5 * n_i)
            inv = 1.0 / (a_r * a_r + a_i * a_i)
            ia_r = (sr[t, 0, k] * a_r + si[t, 0, k] * a_i) * inv
            ia_i = (sr[t, 0, k] * a_i - si[t, 0, k] * a_r) * inv
            inv = 1.0 / (b_r * b_r + b_i * b_i)
            ib_r = (sr[t, 1, k] * b_r + si[t, 1, k] * b_i) * inv
            ib_i = (sr[t, 1, k] * b_i - si[t, 1, k] * b_r) * inv
            inv = 1.0 / (c_r * c_r + c_i * c_i)
            ic_r = (sr[t, 2, k] * c_r + si[t, 2, k] * c_i) * inv
            ic_i = (sr[t, 2, k] * c_i - si[t, 2, k] * c_r) * inv
            xr[t, 0, k] = (ia_r + ib_r + ic_r) * THIRD
            xi[t, 0, k] = (ia_i + ib_i + ic_i) * THIRD
            xr[t, 1, k] = (ia_r + (-0.5 * ib_r - H * ib_i) + (-0.5 * ic_r + H * ic_i)) * THIRD
            xi[t, 1, k] = (ia_i + (H * ib_r - 0.5 * ib_i) + (-H * ic_r - 0.5 * ic_i)) * THIRD
            xr[t, 2, k] = (ia_r + (-0.5 * ib_r + H * ib_i) + (-0.5 * ic_r - H * ic_i)) * THIRD
            xi[t, 2, k] = (ia_i + (-H * ib_r - 0.5 * ib_i) + (H * ic_r - 0.5 * ic_i)) * THIRD
            for q in range(3):
                for e in range(l_ptr[q, k], l_ptr[q, k + 1]):
                    j = l_idx[e]
                    xr[t, q, k] -= l_re[e] * xr[t, q, j] - l_im[e] * xi[t, q, j]
                    xi[t, q, k] -= l_re[e] * xi[t, q, j] + l_im[e] * xr[t, q, j]
        largest = 0.0
        for k in range(n - 1, -1, -1):
            for q in range(3):
                for e in range(u_ptr[q, k], u_ptr[q, k + 1]):
                    j = u_idx[e]
                    xr[t, q, k] -= u_re[e] * xr[t, q, j] - u_im[e] * xi[t, q, j]
                    xi[t, q, k] -= u_re[e] * xi[t, q, j] + u_im[e] * xr[t, q, j]
                a = xr[t, q, k]
                c = xi[t, q, k]
                xr[t, q, k] = a * d_re[q, k] - c * d_im[q, k]
                xi[t, q, k] = a * d_im[q, k] + c * d_re[q, k]
                new_r = xr[t, q, k] + base_re[q, k]
                new_i = xi[t, q, k] + base_im[q, k]
                delta_r = new_r - vr[t, q, k]
                delta_i = new_i - vi[t, q, k]
                d2 = delta_r * delta_r + delta_i * delta_i
                if d2 > largest or math.isnan(d2):
                    largest = d2
                vr[t, q, k] = new_r
                vi[t, q, k] = new_i
        iterations[t] = it + 1
        if largest < tol * tol:
            converged[t] = True
            return
        if not math.isfinite(largest):
            return


def zbus_fixed_point_3ph_cuda(
    factors: SequenceFactors,
    base: np.ndarray,
    s: np.ndarray,
    v_start: np.ndarray,
    tol: float,
    max_iter: int,
) -> FixedPointResult:
    """Same contract as ``kernels.powerflow_unbalanced.zbus_fixed_point_3ph`` on the GPU;
    ``base`` (3, n) is the no-load sequence voltages in factor order."""
    n_snap, _, n = s.shape
    warm = v_start.shape[0] == n_snap and n_snap > 0
    work = [cuda.device_array((n_snap, 3, n), dtype=np.float64) for _ in range(6)]
    d_conv = cuda.to_device(np.zeros(n_snap, dtype=np.bool_))
    d_iter = cuda.to_device(np.zeros(n_snap, dtype=np.int64))
    start = v_start if warm else np.zeros((1, 3, 1), dtype=np.complex128)
    if n_snap:
        blocks = -(-n_snap // _THREADS_PER_BLOCK)
        host = (
            s.real.copy(), s.imag.copy(), start.real.copy(), start.imag.copy(), warm,
            base.real.copy(), base.imag.copy(), *factors.arrays(), tol, max_iter,
        )  # fmt: skip
        device = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in host]
        _fixed_point_3ph_kernel[blocks, _THREADS_PER_BLOCK](*device, *work, d_conv, d_iter)
    vr, vi = work[0].copy_to_host(), work[1].copy_to_host()
    voltages = np.empty((n_snap, 3, n), dtype=np.complex128)
    voltages[:, :, factors.order] = vr + 1j * vi
    iterations = d_iter.copy_to_host()
    return FixedPointResult(
        voltages=voltages,
        converged=d_conv.copy_to_host(),
        iterations=int(iterations.max()) if n_snap else 0,
        pv_q=np.zeros((n_snap, 0)),
    )
