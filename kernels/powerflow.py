"""Batch power flow: one network, many snapshots, solved together by a Z-bus fixed point.

Plain arrays in, plain arrays out. With the slack voltages fixed, the voltages of the other
nodes satisfy ``V = v0 + Z conj(S / V)``, where ``Z`` is the inverse of the non-slack block
``Y`` of the bus admittance matrix and ``v0`` the voltages with no injections. ``Z`` is never
formed: ``Y`` is factorised once as ``L U`` after a minimum-degree ordering, which leaves no
fill at all on a radial feeder, and each iteration applies ``Z`` by one forward and one backward
substitution, so an iteration costs O(branches) per snapshot instead of O(nodes^2). It is the
implicit Z-bus (current-injection) method, which converges in a handful of iterations on radial
and weakly meshed distribution feeders.

Voltage-controlled (PV) nodes hold their voltage magnitude: after each voltage update their
reactive injections move by ``dQ = |V| W (v_set - |V|)``, where ``W`` is the inverse of the
reactance block ``Im Z`` between PV nodes, the first-order sensitivity of their voltage
magnitudes to their reactive power (compensation method of Shirmohammadi et al., 1988).

A snapshot stops on its own when its largest voltage update (and, with PV nodes, its largest
voltage-magnitude error) is below ``tol``; its result is frozen at that iteration, so it does
not depend on which other snapshots share its batch: every row is computed by the same
arithmetic, in the same order, whatever the batch, the block or the thread. A snapshot that has
not converged by ``max_iter``, or turns non-finite, is reported as not converged.

The CPU backend works on blocks of snapshots laid out node-major (each node's values for the
block's snapshots side by side, real and imaginary parts apart) so that every step of the
substitutions is a vector operation, and spreads the tasks of blocks over all cores (Numba,
without the GIL).
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as sparse_linalg
from numba import njit
from scipy import sparse

from kernels.errors import KernelError

BACKENDS = ("cpu", "cuda")
DEFAULT_TOL = 1e-9  # pu: the voltage error left is of this order, a thousandth of the 1e-6 goal
DEFAULT_MAX_ITER = 200
_TASK_ROWS = 1024  # snapshots per task given to a thread
_LANES = 64  # snapshots iterated side by side inside a task: the block's arrays stay in cache
_WORKERS = os.cpu_count() or 1


@dataclass(frozen=True, eq=False)
class ZbusFactor:
    """``Y = L U`` of a non-slack admittance block, in a fill-reducing order.

    ``order[k]`` is the node held at factor position k. ``L`` has a unit diagonal and ``U``
    is stored as its strictly upper part and the reciprocals of its diagonal; both are in CSR
    form over factor positions, real and imaginary parts apart.
    """

    order: np.ndarray
    l_ptr: np.ndarray
    l_idx: np.ndarray
    l_re: np.ndarray
    l_im: np.ndarray
    u_ptr: np.ndarray
    u_idx: np.ndarray
    u_re: np.ndarray
    u_im: np.ndarray
    d_re: np.ndarray
    d_im: np.ndarray

    @property
    def n(self) -> int:
        return len(self.order)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The factor as the kernels take it."""
        return (
            self.order, self.l_ptr, self.l_idx, self.l_re, self.l_im,
            self.u_ptr, self.u_idx, self.u_re, self.u_im, self.d_re, self.d_im,
        )  # fmt: skip

    def solve(self, b: np.ndarray) -> np.ndarray:
        """``Z b`` = ``Y^-1 b`` for each row of ``b`` (T, n)."""
        b = np.ascontiguousarray(np.atleast_2d(b), dtype=np.complex128)
        out = np.empty_like(b)
        _apply_z(b, *self.arrays(), out)
        return out


def factorize(y: sparse.spmatrix, order: np.ndarray | None = None) -> ZbusFactor:
    """Factorise the non-slack admittance block ``y`` (n, n) for the fixed point, in ``order``
    (default: the minimum-degree order of ``y``'s pattern).

    No pivoting: a bus admittance matrix is diagonally dominant (or nearly so, with off-nominal
    taps), and a pivot would break the symmetric ordering that keeps the factor sparse.
    """
    y = sparse.csc_matrix(y, dtype=np.complex128)
    n = y.shape[0]
    order = minimum_degree_order(y) if order is None else np.asarray(order, dtype=np.int64)
    if n == 0:
        empty_i, empty_f = np.zeros(1, np.int64), np.zeros(0)
        return ZbusFactor(order, empty_i, empty_i[:0], empty_f, empty_f, empty_i, empty_i[:0],
                          empty_f, empty_f, empty_f, empty_f)  # fmt: skip
    permuted = y[order][:, order].tocsc()
    lu = sparse_linalg.splu(
        permuted,
        permc_spec="NATURAL",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    natural = np.arange(n)
    if not (np.array_equal(lu.perm_r, natural) and np.array_equal(lu.perm_c, natural)):
        raise KernelError("the admittance matrix needs pivoting (a zero on its diagonal)")
    lower = sparse.tril(lu.L, -1, format="csr")
    upper = sparse.triu(lu.U, 1, format="csr")
    diagonal = 1.0 / lu.U.diagonal()
    for part in (lower, upper):
        part.sort_indices()
    return ZbusFactor(
        order=order.astype(np.int64),
        l_ptr=lower.indptr.astype(np.int64),
        l_idx=lower.indices.astype(np.int64),
        l_re=np.ascontiguousarray(lower.data.real),
        l_im=np.ascontiguousarray(lower.data.imag),
        u_ptr=upper.indptr.astype(np.int64),
        u_idx=upper.indices.astype(np.int64),
        u_re=np.ascontiguousarray(upper.data.real),
        u_im=np.ascontiguousarray(upper.data.imag),
        d_re=np.ascontiguousarray(diagonal.real),
        d_im=np.ascontiguousarray(diagonal.imag),
    )


def minimum_degree_order(pattern: sparse.spmatrix) -> np.ndarray:
    """Greedy minimum-degree elimination order of a symmetric sparsity pattern (ties: lowest
    node). On a tree it always eliminates a leaf, so the factor has no fill."""
    csr = sparse.csr_matrix(pattern)
    n = csr.shape[0]
    neighbours = [set(csr.indices[csr.indptr[i] : csr.indptr[i + 1]].tolist()) - {i}
                  for i in range(n)]  # fmt: skip
    for i in range(n):
        for j in neighbours[i]:
            neighbours[j].add(i)
    eliminated = np.zeros(n, dtype=bool)
    heap = [(len(neighbours[i]), i) for i in range(n)]
    heapq.heapify(heap)
    order = []
    while heap:
        degree, i = heapq.heappop(heap)
        if eliminated[i] or degree != len(neighbours[i]):
            continue  # a stale entry: the node's degree changed since it was pushed
        eliminated[i] = True
        order.append(i)
        clique = neighbours[i]
        for j in clique:
            neighbours[j].discard(i)
            neighbours[j] |= clique - {j}
            heapq.heappush(heap, (len(neighbours[j]), j))
    return np.array(order, dtype=np.int64)


@dataclass(frozen=True)
class PVNodes:
    """Voltage-controlled nodes: positions among the non-slack nodes, voltage set-points, and
    ``w``, the inverse of ``Im Z`` restricted to them (see the module docstring)."""

    positions: np.ndarray
    vm_pu: np.ndarray
    w: np.ndarray

    @classmethod
    def of(cls, factor: ZbusFactor, positions: np.ndarray, vm_pu: np.ndarray) -> PVNodes:
        positions = np.asarray(positions, dtype=np.int64)
        unit = np.zeros((len(positions), factor.n), dtype=np.complex128)
        unit[np.arange(len(positions)), positions] = 1.0
        reactance = factor.solve(unit)[:, positions].imag.T
        w = np.linalg.inv(reactance) if len(positions) else np.zeros((0, 0))
        return cls(positions, np.asarray(vm_pu, dtype=np.float64), np.ascontiguousarray(w))


NO_PV = PVNodes(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 0)))


@dataclass(frozen=True)
class FixedPointResult:
    """Voltages (T, n) of the non-slack nodes, whether each snapshot converged, the largest
    iteration count, and the reactive injections (T, n_pv) that hold the PV nodes."""

    voltages: np.ndarray
    converged: np.ndarray
    iterations: int
    pv_q: np.ndarray


def zbus_fixed_point(
    factor: ZbusFactor,
    v0: np.ndarray,
    s: np.ndarray,
    *,
    pv: PVNodes = NO_PV,
    v_start: np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    backend: str = "cpu",
) -> FixedPointResult:
    """Solve ``V = v0 + Z conj(s / V)`` for every row of ``s`` (T, n), in per-unit.

    Each snapshot starts from ``v_start`` (T, n) when given, else from ``v0``. At PV nodes the
    imaginary part of ``s`` is the reactive injection to start from; it is adjusted to hold
    ``pv.vm_pu`` and returned in ``pv_q``.
    """
    v0 = np.ascontiguousarray(v0, dtype=np.complex128)
    s = np.ascontiguousarray(s, dtype=np.complex128)
    start = s[:0] if v_start is None else np.ascontiguousarray(v_start, dtype=np.complex128)
    if v_start is not None and start.shape != s.shape:
        raise KernelError(f"v_start must have the shape of s {s.shape}, got {start.shape}")
    if backend == "cuda":
        from kernels.powerflow_cuda import zbus_fixed_point_cuda

        return zbus_fixed_point_cuda(factor, v0, s, pv, start, tol, max_iter)
    if backend != "cpu":
        raise KernelError(f"unknown power-flow backend {backend!r} (choose from {BACKENDS})")
    n_snap, n = s.shape
    if n != factor.n:
        raise KernelError(f"s has {n} columns, the network {factor.n} non-slack nodes")
    voltages = np.empty((n_snap, n), dtype=np.complex128)
    pv_q = np.empty((n_snap, len(pv.positions)))
    converged = np.zeros(n_snap, dtype=bool)
    rank = np.empty(n, dtype=np.int64)
    rank[factor.order] = np.arange(n)
    v0_order = v0[factor.order]
    pv_rank = rank[pv.positions]

    def task(rows: slice) -> int:
        return _solve_rows(
            s[rows], start[rows] if v_start is not None else start, v0_order.real.copy(),
            v0_order.imag.copy(), *factor.arrays(), pv_rank, pv.vm_pu, pv.w, tol, max_iter,
            _LANES, voltages[rows], pv_q[rows], converged[rows],
        )  # fmt: skip

    iterations = max(over_tasks(n_snap, task), default=0)
    return FixedPointResult(voltages, converged, iterations, pv_q)


def over_tasks(n_rows: int, work: Callable[[slice], int]) -> list[int]:
    """Run ``work`` on each task of rows, tasks spread over all cores."""
    tasks = [slice(a, min(n_rows, a + _TASK_ROWS)) for a in range(0, n_rows, _TASK_ROWS)]
    if len(tasks) <= 1 or _WORKERS == 1:
        return [work(t) for t in tasks]
    with ThreadPoolExecutor(min(_WORKERS, len(tasks))) as pool:
        return list(pool.map(work, tasks))


def _solve_rows_py(
    s, v_start, v0_re, v0_im, order, l_ptr, l_idx, l_re, l_im, u_ptr, u_idx, u_re, u_im,
    d_re, d_im, pv_rank, pv_vm, pv_w, tol, max_iter, lanes, v_out, q_out, converged,
):  # pragma: no cover - compiled at the end  # fmt: skip
    """The fixed point for rows of ``s``, ``lanes`` snapshots at a time (node-major blocks)."""
    n_snap, n = s.shape
    n_pv = len(pv_rank)
    warm = v_start.shape[0] == n_snap
    vr = np.empty((n, lanes))
    vi = np.empty((n, lanes))
    xr = np.empty((n, lanes))
    xi = np.empty((n, lanes))
    sr = np.empty((n, lanes))
    si = np.empty((n, lanes))
    step = np.empty(lanes)
    finite = np.empty(lanes)  # 0 while every update is finite
    done = np.empty(lanes, dtype=np.bool_)
    error = np.empty((n_pv, lanes))
    tol2 = tol * tol
    iterations = 0
    for first in range(0, n_snap, lanes):
        width = min(lanes, n_snap - first)
        for b in range(width):
            done[b] = False
            for k in range(n):
                value = s[first + b, order[k]]
                sr[k, b] = value.real
                si[k, b] = value.imag
                if warm:
                    start = v_start[first + b, order[k]]
                    vr[k, b] = start.real
                    vi[k, b] = start.imag
                else:
                    vr[k, b] = v0_re[k]
                    vi[k, b] = v0_im[k]
        it = 0
        remaining = width
        while remaining and it < max_iter:
            it += 1
            for k in range(n):  # currents conj(s / v), then the forward substitution
                for b in range(width):
                    a = vr[k, b]
                    c = vi[k, b]
                    inv = 1.0 / (a * a + c * c)
                    xr[k, b] = (sr[k, b] * a + si[k, b] * c) * inv
                    xi[k, b] = (sr[k, b] * c - si[k, b] * a) * inv
                for e in range(l_ptr[k], l_ptr[k + 1]):
                    j = l_idx[e]
                    lr = l_re[e]
                    li = l_im[e]
                    for b in range(width):
                        xr[k, b] -= lr * xr[j, b] - li * xi[j, b]
                        xi[k, b] -= lr * xi[j, b] + li * xr[j, b]
            for b in range(width):
                step[b] = 0.0
                finite[b] = 0.0
            for k in range(n - 1, -1, -1):  # backward substitution, then the new voltages
                for e in range(u_ptr[k], u_ptr[k + 1]):
                    j = u_idx[e]
                    ur = u_re[e]
                    ui = u_im[e]
                    for b in range(width):
                        xr[k, b] -= ur * xr[j, b] - ui * xi[j, b]
                        xi[k, b] -= ur * xi[j, b] + ui * xr[j, b]
                dr = d_re[k]
                di = d_im[k]
                base_r = v0_re[k]
                base_i = v0_im[k]
                for b in range(width):
                    a = xr[k, b]
                    c = xi[k, b]
                    a, c = a * dr - c * di, a * di + c * dr
                    xr[k, b] = a
                    xi[k, b] = c
                    new_r = a + base_r
                    new_i = c + base_i
                    d_r = new_r - vr[k, b]
                    d_i = new_i - vi[k, b]
                    d2 = d_r * d_r + d_i * d_i
                    step[b] = max(step[b], d2)
                    finite[b] += d2 * 0.0  # turns NaN for good on a NaN or an infinity
                    vr[k, b] = new_r
                    vi[k, b] = new_i
            for b in range(width):
                for p in range(n_pv):
                    k = pv_rank[p]
                    error[p, b] = pv_vm[p] - math.sqrt(vr[k, b] ** 2 + vi[k, b] ** 2)
                    e2 = error[p, b] * error[p, b]
                    step[b] = max(step[b], e2)
                    finite[b] += e2 * 0.0
            for b in range(width):
                if done[b]:
                    continue
                ok = step[b] < tol2 and finite[b] == 0.0
                if ok or finite[b] != 0.0 or it == max_iter:
                    done[b] = True
                    remaining -= 1
                    converged[first + b] = ok
                    for k in range(n):
                        v_out[first + b, order[k]] = complex(vr[k, b], vi[k, b])
                    for p in range(n_pv):
                        q_out[first + b, p] = si[pv_rank[p], b]
                for p in range(n_pv):  # PV nodes: the reactive correction for the next step
                    k = pv_rank[p]
                    dq = 0.0
                    for m in range(n_pv):
                        dq += pv_w[p, m] * error[m, b]
                    si[k, b] += dq * math.sqrt(vr[k, b] ** 2 + vi[k, b] ** 2)
        iterations = max(iterations, it)
    return iterations


def _apply_z_py(
    b_in, order, l_ptr, l_idx, l_re, l_im, u_ptr, u_idx, u_re, u_im, d_re, d_im, out
):  # pragma: no cover - compiled at the end  # fmt: skip
    """``out = Z b`` row by row, by the factor's substitutions."""
    n_rows, n = b_in.shape
    x = np.empty(n, dtype=np.complex128)
    for t in range(n_rows):
        for k in range(n):
            acc = b_in[t, order[k]]
            for e in range(l_ptr[k], l_ptr[k + 1]):
                acc -= complex(l_re[e], l_im[e]) * x[l_idx[e]]
            x[k] = acc
        for k in range(n - 1, -1, -1):
            acc = x[k]
            for e in range(u_ptr[k], u_ptr[k + 1]):
                acc -= complex(u_re[e], u_im[e]) * x[u_idx[e]]
            x[k] = acc * complex(d_re[k], d_im[k])
        for k in range(n):
            out[t, order[k]] = x[k]


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
    voltages: np.ndarray,
    v_slack: np.ndarray,
    bus_node: np.ndarray,
    branch_nodes: np.ndarray,
    branch_adm: np.ndarray,
    branch_k: np.ndarray,
    converged: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bus vm/va (T, buses) and branch loading (T, branches) from the solved voltages.

    Nodes are [non-slack nodes (the columns of ``voltages``), slack nodes] and ``bus_node``
    maps each reported bus to one (-1: not energised, NaN). A branch's end currents are
    ``y_ff v_f + y_ft v_t`` and ``y_tf v_f + y_tt v_t`` (``branch_adm`` rows, ends
    ``branch_nodes``); its loading is ``max(|i_from| k_from, |i_to| k_to)`` with ``branch_k``
    = [k_from..., k_to...]. Rows not converged come out NaN.
    """
    n_snap = voltages.shape[0]
    vm = np.empty((n_snap, len(bus_node)))
    va = np.empty_like(vm)
    loading = np.empty((n_snap, len(branch_nodes)))

    def task(rows: slice) -> int:
        v_bus = np.empty(vm[rows].shape, dtype=np.complex128)
        _outputs(
            voltages[rows], v_slack, bus_node, branch_nodes, branch_adm, branch_k,
            converged[rows], v_bus, vm[rows], loading[rows],
        )  # fmt: skip
        angle = va[rows]  # numpy's vectorised arctan2 is several times numba's scalar one
        np.arctan2(v_bus.imag, v_bus.real, out=angle)
        angle *= 180.0 / np.pi
        return 0

    over_tasks(n_snap, task)
    return vm, va, loading


def _outputs_rows(
    v_pq, v_slack, bus_node, branch_nodes, branch_adm, branch_k, converged, v_bus, vm, loading
):  # pragma: no cover - compiled at the end  # fmt: skip
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
_solve_rows = njit(**_COMPILE)(_solve_rows_py)
_apply_z = njit(**_COMPILE)(_apply_z_py)
_inject = njit(**_COMPILE)(_inject_rows)
_outputs = njit(**_COMPILE)(_outputs_rows)
