"""Linear sensitivities of one element's checked quantity to the injections, at a solved
snapshot: what the curtailment rule screens its candidates with on a large grid.

For the element's value ``q`` (a bus's voltage or unbalance, a branch's loading), the
gradient ``G`` over the voltages of the element's own nodes is taken by central differences
through the power flow's own output functions (`powerflow.outputs_at`); one transposed
substitution per sequence then carries it to every injection column (the adjoint
``lambda = Z^T conj(G)``), so that a change ``dS`` of the injections (constant power, current
``dI = conj(dS / V)``) moves the value by ``Re(sum lambda dI)``, to first order. The inverters'
response to the voltage change is not followed: this is a screen, not the power flow.

``Z`` is not symmetric on every grid (a transformer's phase shift in the sequences), hence the
transposed solve: the factor's ``L U`` is refactorised once per factor (no pivoting, in the
factor's order, so with the same fill) and kept while the factor lives.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from grid_models.powerflow import Model, Result, outputs_at
from grid_models.unbalanced import UnbalancedModel
from grid_models.violations import Kind, values_of
from kernels.powerflow import ZbusFactor
from kernels.powerflow_unbalanced import A_INV

STEP_PU = 1e-6  # the voltage perturbation of the central differences
_KEPT = 8  # transposed factors kept (one or two models live at a time)
_TRANSPOSED: dict[int, tuple[ZbusFactor, object]] = {}


def value_gradient(model: Model, result: Result, kind: Kind, position: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``d value / d conj-free voltage`` of the element at ``position`` of ``kind``'s values,
    at snapshot 0 of ``result``: the element's non-slack nodes and ``G`` (complex, (3, nodes)
    per sequence on an unbalanced model, (1, nodes) on a balanced one), such that
    ``d value = Re(sum conj(G) dV)``."""
    nodes = element_nodes(model, kind, position)
    unbalanced = isinstance(model, UnbalancedModel)
    base = (result.sequence_voltages[0] if unbalanced else result.node_voltages[0][None])
    seqs = base.shape[0]
    directions = [(q, a, d) for q in range(seqs) for a in nodes for d in (1.0, 1j)]
    if not directions:
        return nodes, np.zeros((seqs, 0), dtype=np.complex128)
    rows = np.repeat(base[None], 2 * len(directions), axis=0)
    for r, (q, a, d) in enumerate(directions):
        rows[2 * r, q, a] += STEP_PU * d
        rows[2 * r + 1, q, a] -= STEP_PU * d
    at = outputs_at(model, rows if unbalanced else rows[:, 0])
    values = np.nan_to_num(values_of(at, kind)[:, position])
    slopes = (values[0::2] - values[1::2]) / (2 * STEP_PU)
    gradient = np.zeros((seqs, len(nodes)), dtype=np.complex128)
    for (q, a, d), slope in zip(directions, slopes):
        gradient[q, int(np.flatnonzero(nodes == a)[0])] += slope * d
    return nodes, gradient


def column_weights(model: Model, result: Result, kind: Kind, position: int) -> np.ndarray:
    """``lambda`` over the injection columns (n_nodes,): ``d value = Re(sum lambda dI)`` for
    injection currents ``dI`` at the snapshot of ``result`` (row 0)."""
    nodes, gradient = value_gradient(model, result, kind, position)
    if isinstance(model, UnbalancedModel):
        n = model.n
        lam = np.zeros((3, n), dtype=np.complex128)
        for q, factor in enumerate(model.factors.factors):
            rhs = np.zeros(n, dtype=np.complex128)
            rhs[nodes] = np.conj(gradient[q])
            lam[q] = z_transposed(factor, rhs)
        return (A_INV.T @ lam).ravel()  # the sequences' currents from the phases' (phase-major)
    rhs = np.zeros(model.n_nodes, dtype=np.complex128)
    rhs[nodes] = np.conj(gradient[0])
    return z_transposed(model.factor, rhs)


def value_change_per_unit(model: Model, result: Result, kind: Kind, position: int,
                          cols: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """First-order change of the element's value (U,) when each unit u changes the
    injections at its columns ``cols[u]`` (-1: none) by ``ds[u]`` (per unit, complex)."""
    if not len(cols):
        return np.zeros(0)
    weights = column_weights(model, result, kind, position)
    voltages = result.node_voltages[0]
    placed = cols >= 0
    safe = np.where(placed, cols, 0)
    current = np.where(placed, np.conj(ds / voltages[safe]), 0.0)
    return np.real((weights[safe] * current).sum(axis=1))


def element_nodes(model: Model, kind: Kind, position: int) -> np.ndarray:
    """The non-slack nodes whose voltages the element's checked value is computed from."""
    per_phase = isinstance(model, UnbalancedModel) and kind not in ("voltage_unbalance",
                                                                     "neutral_loading")
    n_line, n_trafo = model.n_line, model.n_trafo
    if kind in ("voltage_high", "voltage_low", "voltage_unbalance"):
        n_bus = len(model.bus_node)
        found = [model.bus_node[position % n_bus if per_phase else position]]
    else:
        if kind in ("line_loading", "neutral_loading"):
            branches = [position % n_line if per_phase else position]
        elif kind == "trafo_loading":
            branches = [n_line + (position % n_trafo if per_phase else position)]
        else:  # trafo3w_loading: its three windings (balanced models only)
            first = n_line + n_trafo
            branches = [first + w * model.n_trafo3w + position for w in range(3)]
        found = model.branch_nodes[branches].ravel().tolist()
    n = model.n if isinstance(model, UnbalancedModel) else model.n_nodes
    return np.unique([a for a in found if 0 <= a < n]).astype(np.int64)


def z_transposed(factor: ZbusFactor, b: np.ndarray) -> np.ndarray:
    """``Z^T b`` for one vector ``b`` (n,): ``Y^T x = b`` in the factor's order."""
    if factor.n == 0:
        return np.zeros(0, dtype=np.complex128)
    lu = _transposed_lu(factor)
    out = np.empty(factor.n, dtype=np.complex128)
    out[factor.order] = lu.solve(np.ascontiguousarray(b[factor.order]), trans="T")
    return out


def _transposed_lu(factor: ZbusFactor):
    kept = _TRANSPOSED.get(id(factor))
    if kept is not None and kept[0] is factor:
        return kept[1]
    n = factor.n
    lower = sparse.csr_matrix((factor.l_re + 1j * factor.l_im, factor.l_idx, factor.l_ptr),
                              shape=(n, n)) + sparse.identity(n, dtype=np.complex128)
    upper = sparse.csr_matrix((factor.u_re + 1j * factor.u_im, factor.u_idx, factor.u_ptr),
                              shape=(n, n)) + sparse.diags(1.0 / (factor.d_re + 1j * factor.d_im))
    lu = sparse_linalg.splu((lower @ upper).tocsc(), permc_spec="NATURAL",
                            diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    if len(_TRANSPOSED) >= _KEPT:
        _TRANSPOSED.clear()
    _TRANSPOSED[id(factor)] = (factor, lu)
    return lu
