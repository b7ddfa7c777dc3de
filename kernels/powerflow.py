"""Batch power flow: one network, many snapshots, solved together by a Z-bus fixed point.

Plain arrays in, plain arrays out. With the slack voltages fixed, the PQ-bus voltages satisfy
``V = v0 + conj(S / V) @ z.T`` where ``z`` is the inverse of the PQ block of the bus admittance
matrix and ``v0`` the no-load voltages. Iterating that map is one matrix-matrix product per
iteration for all snapshots at once (BLAS on the CPU, one thread per snapshot on a GPU). It is the
implicit Z-bus (current-injection) method, which converges in a handful of iterations on radial
and weakly meshed distribution feeders. Each snapshot stops on its own when its largest voltage
update is below ``tol``; one that has not by ``max_iter``, or turns non-finite, is reported as not
converged.

The CPU backend cuts the snapshots into blocks that stay in cache and runs the blocks on all
cores, each block single-threaded (BLAS limited to one thread meanwhile), so that no thread ever
waits on another: on a busy machine, nested thread pools lose far more than they gain.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit
from threadpoolctl import ThreadpoolController

from kernels.errors import KernelError

BACKENDS = ("cpu", "cuda")
DEFAULT_TOL = 1e-9  # pu: the voltage error left is of this order, a thousandth of the 1e-6 goal
DEFAULT_MAX_ITER = 200
_BLOCK_ROWS = 1024  # snapshots per block: a block's working arrays fit in cache
_WORKERS = os.cpu_count() or 1
_BLAS = ThreadpoolController()


@dataclass(frozen=True)
class FixedPointResult:
    """Converged voltages (T, n) and the currents from them: ``v0 + currents @ z.T`` is one
    more step of the iteration, so it is as close to the solution as ``voltages`` or closer."""

    voltages: np.ndarray
    currents: np.ndarray
    converged: np.ndarray
    iterations: int


def zbus_fixed_point(
    z: np.ndarray,
    v0: np.ndarray,
    s: np.ndarray,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    backend: str = "cpu",
) -> FixedPointResult:
    """Solve ``V = v0 + conj(s / V) @ z.T`` for every row of ``s`` (T, n), in per-unit."""
    z = np.ascontiguousarray(z, dtype=np.complex128)
    v0 = np.ascontiguousarray(v0, dtype=np.complex128)
    s = np.ascontiguousarray(s, dtype=np.complex128)
    if backend == "cuda":
        from kernels.powerflow_cuda import zbus_fixed_point_cuda

        return zbus_fixed_point_cuda(z, v0, s, tol, max_iter)
    if backend != "cpu":
        raise KernelError(f"unknown power-flow backend {backend!r} (choose from {BACKENDS})")
    n_snap, n = s.shape
    voltages = np.empty((n_snap, n), dtype=np.complex128)
    currents = np.empty((n_snap, n), dtype=np.complex128)
    converged = np.zeros(n_snap, dtype=bool)
    zt = np.ascontiguousarray(z.T)

    def block(rows: slice) -> int:
        return _solve_block(
            zt, v0, s[rows], tol, max_iter, voltages[rows], currents[rows], converged[rows]
        )

    iterations = max(_over_blocks(n_snap, block), default=0)
    return FixedPointResult(voltages, currents, converged, iterations)


def _over_blocks(n_rows: int, work: Callable[[slice], int]) -> list[int]:
    """Run ``work`` on each block of rows, blocks spread over all cores, BLAS single-threaded."""
    blocks = [slice(a, min(n_rows, a + _BLOCK_ROWS)) for a in range(0, n_rows, _BLOCK_ROWS)]
    with _BLAS.limit(limits=1, user_api="blas"):
        if len(blocks) <= 1 or _WORKERS == 1:
            return [work(b) for b in blocks]
        with ThreadPoolExecutor(min(_WORKERS, len(blocks))) as pool:
            return list(pool.map(work, blocks))


def _solve_block(zt, v0, s, tol, max_iter, voltages, currents, converged) -> int:
    """Iterate one block of snapshots, dropping each from the work as soon as it finishes."""
    n_snap, n = s.shape
    v = np.empty((n_snap, n), dtype=np.complex128)
    i = np.empty_like(v)
    _start(v0, s, v, i)
    if n == 0:
        voltages[:], currents[:], converged[:] = v, i, True
        return 0
    active = np.arange(n_snap)
    s_act = s
    product = np.empty_like(v)
    step = np.empty(n_snap)
    iterations = 0
    while active.size and iterations < max_iter:
        iterations += 1
        np.matmul(i, zt, out=product)
        _update(product, v0, s_act, v, i, step)
        done = step < tol * tol
        finished = done | ~np.isfinite(step)
        if finished.any():
            voltages[active[finished]] = v[finished]
            currents[active[finished]] = i[finished]
            converged[active[done]] = True
            keep = ~finished
            active, v, i, s_act = active[keep], v[keep], i[keep], s_act[keep]
            product, step = product[keep], step[keep]
    voltages[active] = v
    currents[active] = i
    return iterations


def _start_rows(v0, s, v, i):  # pragma: no cover - compiled at the end
    """Start every snapshot at the no-load voltages."""
    n_snap, n = s.shape
    for t in range(n_snap):
        for k in range(n):
            v[t, k] = v0[k]
            i[t, k] = (s[t, k] / v0[k]).conjugate()


def _update_rows(product, v0, s, v, i, step):  # pragma: no cover - compiled at the end
    """One fixed-point step in place: v <- product + v0, i <- conj(s / v); step = max |dv|^2."""
    n_snap, n = product.shape
    for t in range(n_snap):
        largest = 0.0
        for k in range(n):
            new = product[t, k] + v0[k]
            d = new - v[t, k]
            d2 = d.real * d.real + d.imag * d.imag
            if d2 > largest or math.isnan(d2):  # a NaN sticks, so the snapshot is reported failed
                largest = d2
            v[t, k] = new
            i[t, k] = s[t, k].conjugate() * new / (new.real * new.real + new.imag * new.imag)
        step[t] = largest


def add_injections(
    out: np.ndarray, p: np.ndarray, q: np.ndarray, pos: np.ndarray, coef: np.ndarray
):
    """``out[:, pos[e]] += coef[e] * (p[:, e] + 1j q[:, e])`` for every element with pos >= 0."""
    _inject(out, p, q, pos, coef)


def _inject_rows(out, p, q, pos, coef):  # pragma: no cover - compiled at the end
    n_snap, n_elem = p.shape
    for t in range(n_snap):
        for e in range(n_elem):
            if pos[e] >= 0:
                out[t, pos[e]] += coef[e] * complex(p[t, e], q[t, e])


def snapshot_outputs(
    currents: np.ndarray,
    z: np.ndarray,
    v0: np.ndarray,
    v_slack: np.ndarray,
    bus_node: np.ndarray,
    branch_nodes: np.ndarray,
    branch_adm: np.ndarray,
    branch_k: np.ndarray,
    converged: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bus vm/va (T, buses) and branch loading (T, branches) from the converged currents.

    PQ voltages are ``v0 + currents @ z.T`` (z: n_pq x n_injected); nodes are [PQ buses, slack
    buses] and ``bus_node`` maps each reported bus to one (-1: not energised, NaN). A branch's
    end currents are ``y_ff v_f + y_ft v_t`` and ``y_tf v_f + y_tt v_t`` (``branch_adm`` rows,
    ends ``branch_nodes``); its loading is ``max(|i_from| k_from, |i_to| k_to)`` with
    ``branch_k`` = [k_from..., k_to...]. Rows not converged come out NaN.
    """
    n_snap = currents.shape[0]
    vm = np.empty((n_snap, len(bus_node)))
    va = np.empty_like(vm)
    loading = np.empty((n_snap, len(branch_nodes)))
    zt = np.ascontiguousarray(z.T, dtype=np.complex128)
    v0 = np.ascontiguousarray(v0, dtype=np.complex128)

    def block(rows: slice) -> int:
        v_pq = currents[rows] @ zt
        v_pq += v0
        v_bus = np.empty(vm[rows].shape, dtype=np.complex128)
        _outputs(
            v_pq, v_slack, bus_node, branch_nodes, branch_adm, branch_k,
            converged[rows], v_bus, vm[rows], loading[rows],
        )  # fmt: skip
        angle = va[rows]  # numpy's vectorised arctan2 is several times numba's scalar one
        np.arctan2(v_bus.imag, v_bus.real, out=angle)
        angle *= 180.0 / np.pi
        return 0

    _over_blocks(n_snap, block)
    return vm, va, loading


def _outputs_rows(
    v_pq, v_slack, bus_node, branch_nodes, branch_adm, branch_k, converged, v_bus, vm, loading
):  # pragma: no cover - compiled at the end
    n_snap, n_pq = v_pq.shape
    n_branch = loading.shape[1]
    for t in range(n_snap):
        if not converged[t]:
            v_bus[t, :] = np.nan
            vm[t, :] = np.nan
            loading[t, :] = np.nan
            continue
        for b in range(len(bus_node)):
            node = bus_node[b]
            if node < 0:
                v_bus[t, b] = np.nan
                vm[t, b] = np.nan
                continue
            v = v_pq[t, node] if node < n_pq else v_slack[node - n_pq]
            v_bus[t, b] = v
            vm[t, b] = _magnitude(v)
        for j in range(n_branch):
            f, k = branch_nodes[j, 0], branch_nodes[j, 1]
            v_f = v_pq[t, f] if f < n_pq else v_slack[f - n_pq]
            v_t = v_pq[t, k] if k < n_pq else v_slack[k - n_pq]
            i_from = _magnitude(branch_adm[j, 0] * v_f + branch_adm[j, 1] * v_t)
            i_to = _magnitude(branch_adm[j, 2] * v_f + branch_adm[j, 3] * v_t)
            loading[t, j] = max(i_from * branch_k[j], i_to * branch_k[n_branch + j])


def _magnitude_of(x):  # pragma: no cover - compiled at the end
    """|x| as sqrt(re^2 + im^2): several times faster than hypot, exact enough at per-unit scale."""
    return math.sqrt(x.real * x.real + x.imag * x.imag)


_COMPILE = {"cache": True, "nogil": True}
_magnitude = njit(**_COMPILE)(_magnitude_of)
_start = njit(**_COMPILE)(_start_rows)
_update = njit(**_COMPILE)(_update_rows)
_inject = njit(**_COMPILE)(_inject_rows)
_outputs = njit(**_COMPILE)(_outputs_rows)
