"""Batch unbalanced power flow: one three-phase network, many snapshots, in the sequence frame.

A transposed three-phase network decouples into its zero, positive and negative sequence
networks; only the loads couple them, each drawing its own power on its own phase. With the
slack voltages fixed (positive sequence only: an ideal source), the sequence voltages of the
other nodes satisfy ``V_q = v0_q + Z_q I_q`` for q = 0, 1, 2, where ``Z_q`` is the inverse of
the non-slack block of sequence q's admittance matrix, ``v0_1`` the positive-sequence voltages
with no injections (``v0_0 = v0_2 = 0``) and ``I = F^-1 conj(S / (F V))`` the sequence currents
of the phase injections ``S`` (``F``: sequence to phase, ``a = exp(2j pi / 3)``)::

    V_a = V_0 + V_1 + V_2      I_0 = (I_a + I_b + I_c) / 3
    V_b = V_0 + a^2 V_1 + a V_2    I_1 = (I_a + a I_b + a^2 I_c) / 3
    V_c = V_0 + a V_1 + a^2 V_2    I_2 = (I_a + a^2 I_b + a I_c) / 3

This is the balanced kernel's fixed point (`kernels.powerflow`) three times per iteration,
sharing one node order: the three factors are built in the minimum-degree order of the union of
the three patterns (`factorize_sequences`), so a node's three sequence currents are computed
once, from its three voltages, before its three substitution rows. A snapshot stops on its own
when its largest sequence-voltage update is below ``tol``, and its result does not depend on its
batch. CPU (Numba, blocks of snapshots node-major) and CUDA (`kernels.powerflow_unbalanced_cuda`)
do the same arithmetic, operation for operation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import sparse

from kernels.errors import KernelError
from kernels.powerflow import (
    _LANES,
    BACKENDS,
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    FixedPointResult,
    ZbusFactor,
    factorize,
    minimum_degree_order,
    over_tasks,
)

H = 0.8660254037844386  # sqrt(3) / 2: a = -1/2 + jH
THIRD = 1.0 / 3.0
A = np.array([[1, 1, 1], [1, -0.5 - 1j * H, -0.5 + 1j * H], [1, -0.5 + 1j * H, -0.5 - 1j * H]])
"""Sequence (0, 1, 2) to phase (a, b, c): ``V_abc = A V_012``."""
A_INV = np.linalg.inv(A)


@dataclass(frozen=True, eq=False)
class SequenceFactors(ZbusFactor):
    """The three sequences' factors in one node order, stacked for the kernels: row q of
    ``l_ptr``/``u_ptr`` (3, n + 1) and ``d_re``/``d_im`` (3, n) is sequence q's, and its
    pointers index the concatenated ``l_idx``/``l_re``/``l_im`` (``u_...``)."""

    factors: tuple[ZbusFactor, ZbusFactor, ZbusFactor] = ()

    def solve(self, b012: np.ndarray) -> np.ndarray:
        """``Z_q b_q`` for each sequence q of ``b012`` (T, 3, n)."""
        return np.stack([f.solve(b012[:, q]) for q, f in enumerate(self.factors)], axis=1)

    def solve_phases(self, b_abc: np.ndarray) -> np.ndarray:
        """The phase-frame impedance applied to phase-frame rows ``b_abc`` (T, 3, n):
        ``A Z_012 A^-1 b``, the three sequences' substitutions in one pass per row."""
        b_abc = np.ascontiguousarray(b_abc, dtype=np.complex128)
        out = np.empty_like(b_abc)
        _apply_z_3ph(b_abc, *self.arrays(), out)
        return out


def factorize_sequences(y0: sparse.spmatrix, y1: sparse.spmatrix, y2: sparse.spmatrix
                        ) -> SequenceFactors:
    """Factorise the three sequences' non-slack blocks (each (n, n)) in one shared order."""
    blocks = [sparse.csc_matrix(y, dtype=np.complex128) for y in (y0, y1, y2)]
    order = minimum_degree_order(abs(blocks[0]) + abs(blocks[1]) + abs(blocks[2]))
    factors = tuple(factorize(y, order) for y in blocks)
    n = len(order)

    def stacked(ptr: str, *data: str) -> tuple[np.ndarray, ...]:
        offsets = np.cumsum([0] + [len(getattr(f, data[0])) for f in factors[:-1]])
        pointers = np.stack([getattr(f, ptr) + o for f, o in zip(factors, offsets)])
        return (pointers, *(np.concatenate([getattr(f, d) for f in factors]) for d in data))

    lower = stacked("l_ptr", "l_idx", "l_re", "l_im")
    upper = stacked("u_ptr", "u_idx", "u_re", "u_im")
    d_re = np.stack([f.d_re for f in factors]) if n else np.zeros((3, 0))
    d_im = np.stack([f.d_im for f in factors]) if n else np.zeros((3, 0))
    return SequenceFactors(order, *lower, *upper, d_re, d_im, factors=factors)


def zbus_fixed_point_3ph(
    factors: SequenceFactors,
    v0: np.ndarray,
    s: np.ndarray,
    *,
    v_start: np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    backend: str = "cpu",
) -> FixedPointResult:
    """Solve the sequence-frame fixed point (module docstring) for every snapshot of ``s``
    (T, 3, n): per-unit phase injections (rows a, b, c), wye-connected, constant power.

    ``v0`` (n,) is the positive sequence with no injections; each snapshot starts from it, or
    from ``v_start`` (T, 3, n) sequence voltages. Returns the sequence voltages (T, 3, n).
    """
    v0 = np.ascontiguousarray(v0, dtype=np.complex128)
    s = np.ascontiguousarray(s, dtype=np.complex128)
    n_snap = s.shape[0]
    if s.ndim != 3 or s.shape[1] != 3 or s.shape[2] != factors.n:
        raise KernelError(f"s must be (snapshots, 3, {factors.n}), got {s.shape}")
    start = s[:0] if v_start is None else np.ascontiguousarray(v_start, dtype=np.complex128)
    if v_start is not None and start.shape != s.shape:
        raise KernelError(f"v_start must have the shape of s {s.shape}, got {start.shape}")
    base = np.zeros((3, factors.n), dtype=np.complex128)
    base[1] = v0[factors.order]
    if backend == "cuda":
        from kernels.powerflow_unbalanced_cuda import zbus_fixed_point_3ph_cuda

        return zbus_fixed_point_3ph_cuda(factors, base, s, start, tol, max_iter)
    if backend != "cpu":
        raise KernelError(f"unknown power-flow backend {backend!r} (choose from {BACKENDS})")
    voltages = np.empty_like(s)
    converged = np.zeros(n_snap, dtype=bool)
    base_re, base_im = np.ascontiguousarray(base.real), np.ascontiguousarray(base.imag)

    def task(rows: slice) -> int:
        return _solve_rows_3ph(
            s[rows], start[rows] if v_start is not None else start, base_re, base_im,
            *factors.arrays(), tol, max_iter, _LANES, voltages[rows], converged[rows],
        )  # fmt: skip

    iterations = max(over_tasks(n_snap, task), default=0)
    return FixedPointResult(voltages, converged, iterations, np.zeros((n_snap, 0)))


def _solve_rows_3ph_py(
    s, v_start, base_re, base_im, order, l_ptr, l_idx, l_re, l_im, u_ptr, u_idx, u_re, u_im,
    d_re, d_im, tol, max_iter, lanes, v_out, converged,
):  # pragma: no cover - compiled at the end  # fmt: skip
    """The fixed point for rows of ``s``, ``lanes`` snapshots at a time (node-major blocks)."""
    n_snap = s.shape[0]
    n = s.shape[2]
    warm = v_start.shape[0] == n_snap
    vr = np.empty((3, n, lanes))
    vi = np.empty((3, n, lanes))
    xr = np.empty((3, n, lanes))
    xi = np.empty((3, n, lanes))
    sr = np.empty((3, n, lanes))
    si = np.empty((3, n, lanes))
    step = np.empty(lanes)
    finite = np.empty(lanes)  # 0 while every update is finite
    done = np.empty(lanes, dtype=np.bool_)
    tol2 = tol * tol
    iterations = 0
    for first in range(0, n_snap, lanes):
        width = min(lanes, n_snap - first)
        for b in range(width):
            done[b] = False
            for q in range(3):
                for k in range(n):
                    value = s[first + b, q, order[k]]
                    sr[q, k, b] = value.real
                    si[q, k, b] = value.imag
                    if warm:
                        start = v_start[first + b, q, order[k]]
                        vr[q, k, b] = start.real
                        vi[q, k, b] = start.imag
                    else:
                        vr[q, k, b] = base_re[q, k]
                        vi[q, k, b] = base_im[q, k]
        it = 0
        remaining = width
        while remaining and it < max_iter:
            it += 1
            for k in range(n):  # sequence currents of the phase powers, then forward rows
                for b in range(width):
                    z_r, z_i = vr[0, k, b], vi[0, k, b]
                    p_r, p_i = vr[1, k, b], vi[1, k, b]
                    n_r, n_i = vr[2, k, b], vi[2, k, b]
                    a_r = z_r + p_r + n_r
                    a_i = z_i + p_i + n_i
                    b_r = z_r + (-0.5 * p_r + H * p_i) + (-0.5 * n_r - H * n_i)
                    b_i = z_i + (-H * p_r - 0.5 * p_i) + (H * n_r - 0.5 * n_i)
                    c_r = z_r + (-0.5 * p_r - H * p_i) + (-0.5 * n_r + H * n_i)
                    c_i = z_i + (H * p_r - 0.5 * p_i) + (-H * n_r - 0.5 * n_i)
                    inv = 1.0 / (a_r * a_r + a_i * a_i)
                    ia_r = (sr[0, k, b] * a_r + si[0, k, b] * a_i) * inv
                    ia_i = (sr[0, k, b] * a_i - si[0, k, b] * a_r) * inv
                    inv = 1.0 / (b_r * b_r + b_i * b_i)
                    ib_r = (sr[1, k, b] * b_r + si[1, k, b] * b_i) * inv
                    ib_i = (sr[1, k, b] * b_i - si[1, k, b] * b_r) * inv
                    inv = 1.0 / (c_r * c_r + c_i * c_i)
                    ic_r = (sr[2, k, b] * c_r + si[2, k, b] * c_i) * inv
                    ic_i = (sr[2, k, b] * c_i - si[2, k, b] * c_r) * inv
                    xr[0, k, b] = (ia_r + ib_r + ic_r) * THIRD
                    xi[0, k, b] = (ia_i + ib_i + ic_i) * THIRD
                    xr[1, k, b] = (ia_r + (-0.5 * ib_r - H * ib_i) + (-0.5 * ic_r + H * ic_i)) * THIRD
                    xi[1, k, b] = (ia_i + (H * ib_r - 0.5 * ib_i) + (-H * ic_r - 0.5 * ic_i)) * THIRD
                    xr[2, k, b] = (ia_r + (-0.5 * ib_r + H * ib_i) + (-0.5 * ic_r - H * ic_i)) * THIRD
                    xi[2, k, b] = (ia_i + (-H * ib_r - 0.5 * ib_i) + (H * ic_r - 0.5 * ic_i)) * THIRD
                for q in range(3):
                    for e in range(l_ptr[q, k], l_ptr[q, k + 1]):
                        j = l_idx[e]
                        lr = l_re[e]
                        li = l_im[e]
                        for b in range(width):
                            xr[q, k, b] -= lr * xr[q, j, b] - li * xi[q, j, b]
                            xi[q, k, b] -= lr * xi[q, j, b] + li * xr[q, j, b]
            for b in range(width):
                step[b] = 0.0
                finite[b] = 0.0
            for k in range(n - 1, -1, -1):  # backward rows, then the new voltages
                for q in range(3):
                    for e in range(u_ptr[q, k], u_ptr[q, k + 1]):
                        j = u_idx[e]
                        ur = u_re[e]
                        ui = u_im[e]
                        for b in range(width):
                            xr[q, k, b] -= ur * xr[q, j, b] - ui * xi[q, j, b]
                            xi[q, k, b] -= ur * xi[q, j, b] + ui * xr[q, j, b]
                    dr = d_re[q, k]
                    di = d_im[q, k]
                    base_r = base_re[q, k]
                    base_i = base_im[q, k]
                    for b in range(width):
                        a = xr[q, k, b]
                        c = xi[q, k, b]
                        a, c = a * dr - c * di, a * di + c * dr
                        xr[q, k, b] = a
                        xi[q, k, b] = c
                        new_r = a + base_r
                        new_i = c + base_i
                        delta_r = new_r - vr[q, k, b]
                        delta_i = new_i - vi[q, k, b]
                        d2 = delta_r * delta_r + delta_i * delta_i
                        step[b] = max(step[b], d2)
                        finite[b] += d2 * 0.0  # turns NaN for good on a NaN or an infinity
                        vr[q, k, b] = new_r
                        vi[q, k, b] = new_i
            for b in range(width):
                if done[b]:
                    continue
                ok = step[b] < tol2 and finite[b] == 0.0
                if ok or finite[b] != 0.0 or it == max_iter:
                    done[b] = True
                    remaining -= 1
                    converged[first + b] = ok
                    for q in range(3):
                        for k in range(n):
                            v_out[first + b, q, order[k]] = complex(vr[q, k, b], vi[q, k, b])
        iterations = max(iterations, it)
    return iterations


def _apply_z_3ph_py(
    b, order, l_ptr, l_idx, l_re, l_im, u_ptr, u_idx, u_re, u_im, d_re, d_im, out
):  # pragma: no cover - compiled at the end  # fmt: skip
    """``out = A Z_012 A^-1 b`` row by row: each node's sequence currents from its phase
    currents before its forward rows, its phase voltages after its backward rows."""
    n_rows, _, n = b.shape
    x = np.empty((3, n), dtype=np.complex128)
    for t in range(n_rows):
        for k in range(n):
            node = order[k]
            b_a, b_b, b_c = b[t, 0, node], b[t, 1, node], b[t, 2, node]
            injected = b_a != 0 or b_b != 0 or b_c != 0  # most nodes of a product inject none
            for q in range(3):
                acc = 0j
                if injected:
                    acc = A_INV[q, 0] * b_a + A_INV[q, 1] * b_b + A_INV[q, 2] * b_c
                for e in range(l_ptr[q, k], l_ptr[q, k + 1]):
                    acc -= complex(l_re[e], l_im[e]) * x[q, l_idx[e]]
                x[q, k] = acc
        for k in range(n - 1, -1, -1):
            for q in range(3):
                acc = x[q, k]
                for e in range(u_ptr[q, k], u_ptr[q, k + 1]):
                    acc -= complex(u_re[e], u_im[e]) * x[q, u_idx[e]]
                x[q, k] = acc * complex(d_re[q, k], d_im[q, k])
            node = order[k]
            for p in range(3):
                out[t, p, node] = A[p, 0] * x[0, k] + A[p, 1] * x[1, k] + A[p, 2] * x[2, k]


def sequence_outputs(
    voltages: np.ndarray,
    v_slack: np.ndarray,
    bus_node: np.ndarray,
    branch_nodes: np.ndarray,
    branch_adm: np.ndarray,
    branch_k: np.ndarray,
    converged: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Per-phase bus voltages and branch loadings from solved sequence voltages (T, 3, n).

    Nodes are [non-slack nodes, slack nodes]; a slack node holds ``v_slack`` in the positive
    sequence and nothing in the others. ``branch_adm`` (3, branches, 4) holds each sequence's
    ``y_ff, y_ft, y_tf, y_tt``; a phase's loading is ``max(|i_from| k_from, |i_to| k_to)`` as in
    `kernels.powerflow.snapshot_outputs`, the neutral's the same of ``3 i_0``. Returns the
    phase voltages' magnitudes, real and imaginary parts (T, 3, buses; the angles cost more
    than the rest, so they are left to whoever asks), the voltage unbalance factor
    ``|V_2| / |V_1|`` in percent (T, buses), the phase loadings (T, 3, branches) and the
    neutral's (T, branches); NaN where not converged or not energised.
    """
    n_snap = voltages.shape[0]
    n_bus, n_branch = len(bus_node), len(branch_nodes)
    vm = np.empty((n_snap, 3, n_bus))
    v_re, v_im = np.empty_like(vm), np.empty_like(vm)
    vuf = np.empty((n_snap, n_bus))
    loading = np.empty((n_snap, 3, n_branch))
    neutral = np.empty((n_snap, n_branch))
    adm_re = np.ascontiguousarray(branch_adm.real)
    adm_im = np.ascontiguousarray(branch_adm.imag)

    def task(rows: slice) -> int:
        _outputs_3ph(voltages[rows], v_slack, bus_node, branch_nodes, adm_re, adm_im, branch_k,
                     converged[rows], v_re[rows], v_im[rows], vm[rows], vuf[rows],
                     loading[rows], neutral[rows])
        return 0

    over_tasks(n_snap, task)
    return vm, v_re, v_im, vuf, loading, neutral


def _outputs_3ph_py(
    v012, v_slack, bus_node, branch_nodes, adm_re, adm_im, branch_k, converged, v_re, v_im, vm,
    vuf, loading, neutral,
):  # pragma: no cover - compiled at the end  # fmt: skip
    n_snap, _, n_pq = v012.shape
    n_bus = len(bus_node)
    n_branch = len(branch_nodes)
    seq_r = np.empty(3)  # a quantity's sequence components
    seq_i = np.empty(3)
    end_r = np.empty((2, 3))  # a branch's from / to end currents, per sequence
    end_i = np.empty((2, 3))
    for t in range(n_snap):
        if not converged[t]:
            v_re[t] = np.nan
            v_im[t] = np.nan
            vm[t] = np.nan
            vuf[t] = np.nan
            loading[t] = np.nan
            neutral[t] = np.nan
            continue
        for bus in range(n_bus):
            node = bus_node[bus]
            if node < 0:
                for p in range(3):
                    v_re[t, p, bus] = np.nan
                    v_im[t, p, bus] = np.nan
                    vm[t, p, bus] = np.nan
                vuf[t, bus] = np.nan
                continue
            _sequences_at(v012, v_slack, t, node, n_pq, seq_r, seq_i)
            for p in range(3):
                re, im = _phase(seq_r, seq_i, p)
                v_re[t, p, bus] = re
                v_im[t, p, bus] = im
                vm[t, p, bus] = math.sqrt(re * re + im * im)
            vuf[t, bus] = (math.sqrt(seq_r[2] * seq_r[2] + seq_i[2] * seq_i[2])
                           / math.sqrt(seq_r[1] * seq_r[1] + seq_i[1] * seq_i[1]) * 100.0)
        for j in range(n_branch):
            for end in range(2):
                for q in range(3):
                    end_r[end, q] = 0.0
                    end_i[end, q] = 0.0
            for side in range(2):
                _sequences_at(v012, v_slack, t, branch_nodes[j, side], n_pq, seq_r, seq_i)
                for q in range(3):
                    for end in range(2):
                        yr = adm_re[q, j, 2 * end + side]
                        yi = adm_im[q, j, 2 * end + side]
                        end_r[end, q] += yr * seq_r[q] - yi * seq_i[q]
                        end_i[end, q] += yr * seq_i[q] + yi * seq_r[q]
            k_f, k_t = branch_k[j], branch_k[n_branch + j]
            for p in range(3):
                f_r, f_i = _phase(end_r[0], end_i[0], p)
                t_r, t_i = _phase(end_r[1], end_i[1], p)
                loading[t, p, j] = max(math.sqrt(f_r * f_r + f_i * f_i) * k_f,
                                       math.sqrt(t_r * t_r + t_i * t_i) * k_t)
            neutral[t, j] = max(
                3.0 * math.sqrt(end_r[0, 0] * end_r[0, 0] + end_i[0, 0] * end_i[0, 0]) * k_f,
                3.0 * math.sqrt(end_r[1, 0] * end_r[1, 0] + end_i[1, 0] * end_i[1, 0]) * k_t)


def _sequences_at_py(v012, v_slack, t, node, n_pq, seq_r, seq_i):  # pragma: no cover
    """The sequence voltages of a node (a slack node: its voltage in the positive one)."""
    for q in range(3):
        if node < n_pq:
            seq_r[q] = v012[t, q, node].real
            seq_i[q] = v012[t, q, node].imag
        elif q == 1:
            seq_r[q] = v_slack[node - n_pq].real
            seq_i[q] = v_slack[node - n_pq].imag
        else:
            seq_r[q] = 0.0
            seq_i[q] = 0.0


def _phase_py(seq_r, seq_i, p):  # pragma: no cover - compiled at the end
    """Phase p (0: a, 1: b, 2: c) of a quantity given by its sequence components."""
    if p == 0:
        return seq_r[0] + seq_r[1] + seq_r[2], seq_i[0] + seq_i[1] + seq_i[2]
    if p == 1:  # a^2 x_1 + a x_2
        return (seq_r[0] + (-0.5 * seq_r[1] + H * seq_i[1]) + (-0.5 * seq_r[2] - H * seq_i[2]),
                seq_i[0] + (-H * seq_r[1] - 0.5 * seq_i[1]) + (H * seq_r[2] - 0.5 * seq_i[2]))
    return (seq_r[0] + (-0.5 * seq_r[1] - H * seq_i[1]) + (-0.5 * seq_r[2] + H * seq_i[2]),
            seq_i[0] + (H * seq_r[1] - 0.5 * seq_i[1]) + (-H * seq_r[2] - 0.5 * seq_i[2]))


_COMPILE = {"cache": True, "nogil": True, "error_model": "numpy"}  # no branch per division
_phase = njit(**_COMPILE)(_phase_py)
_sequences_at = njit(**_COMPILE)(_sequences_at_py)
_solve_rows_3ph = njit(**_COMPILE)(_solve_rows_3ph_py)
_outputs_3ph = njit(**_COMPILE)(_outputs_3ph_py)
_apply_z_3ph = njit(**_COMPILE)(_apply_z_3ph_py)
