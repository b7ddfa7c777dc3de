"""`solve_snapshots`: many load/PV snapshots of one net through the batch power-flow kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import pandapower as pp

from grid_models.errors import GridModelError
from grid_models.network import GridModel, compile_net
from grid_models.unbalanced import (
    UnbalancedModel,
    UnbalancedResult,
    solve_unbalanced,
    unbalanced_outputs,
)
from kernels.powerflow import (
    DEFAULT_MAX_ITER,
    DEFAULT_TOL,
    add_injections,
    snapshot_outputs,
    zbus_fixed_point,
)

NetLike = Union[pp.pandapowerNet, GridModel, UnbalancedModel, "Feeder"]  # noqa: F821
Model = GridModel | UnbalancedModel


@dataclass(frozen=True)
class SnapshotResult:
    """Results per snapshot, in the order of the net's tables; NaN where not converged."""

    vm_pu: np.ndarray  # (T, buses)
    va_degree: np.ndarray  # (T, buses)
    line_loading_percent: np.ndarray  # (T, lines)
    trafo_loading_percent: np.ndarray  # (T, transformers)
    trafo3w_loading_percent: np.ndarray  # (T, three-winding transformers): the largest winding
    converged: np.ndarray  # (T,) bool
    iterations: int
    node_voltages: np.ndarray  # (T, non-slack nodes) complex, as solved (warm starts)

    def rows(self, rows) -> SnapshotResult:
        """The result of some snapshots only (an index, a slice or a mask)."""
        return SnapshotResult(
            *(getattr(self, f)[rows] if f != "iterations" else self.iterations
              for f in self.__dataclass_fields__)
        )  # fmt: skip

    def failed(self) -> SnapshotResult:
        """The same snapshots reported as not converged (NaN), as the power flow does."""
        keep = ("converged", "iterations", "node_voltages")
        return SnapshotResult(**{
            f: getattr(self, f) if f in keep else np.full_like(getattr(self, f), np.nan)
            for f in self.__dataclass_fields__
        } | {"converged": np.zeros_like(self.converged)})

    @staticmethod
    def concat(results: list[SnapshotResult]) -> SnapshotResult:
        return SnapshotResult(**{
            f: max(r.iterations for r in results) if f == "iterations"
            else np.concatenate([getattr(r, f) for r in results])
            for f in SnapshotResult.__dataclass_fields__
        })


Result = SnapshotResult | UnbalancedResult


def model_of(net: NetLike) -> Model:
    """The compiled model of a net, a Feeder (compiled once and kept: balanced, or unbalanced
    when the feeder's homes are on phases) or a model."""
    if isinstance(net, (GridModel, UnbalancedModel)):
        return net
    if isinstance(net, pp.pandapowerNet):
        return compile_net(net)
    model = getattr(net, "model", None)
    if isinstance(model, (GridModel, UnbalancedModel)):
        return model
    raise GridModelError(f"expected a pandapower net or a feeder, got {type(net).__name__}")


def solve_snapshots(
    net: NetLike,
    load_p_mw: np.ndarray,
    load_q_mvar: np.ndarray,
    sgen_p_mw: np.ndarray,
    sgen_q_mvar: np.ndarray,
    *,
    backend: str = "cpu",
) -> Result:
    """Each row replaces the p/q of ``net.load`` and ``net.sgen`` (pandapower signs) for one
    snapshot; every snapshot is solved as ``pp.runpp`` would (``runpp_3ph``, for an unbalanced
    model), all at once."""
    model = model_of(net)
    n_snap = _rows(load_p_mw)
    n_load, n_sgen = len(model.load_pos), len(model.sgen_pos)
    s = element_injections(
        model,
        _matrix("load_p_mw", load_p_mw, n_snap, n_load),
        _matrix("load_q_mvar", load_q_mvar, n_snap, n_load),
        _matrix("sgen_p_mw", sgen_p_mw, n_snap, n_sgen),
        _matrix("sgen_q_mvar", sgen_q_mvar, n_snap, n_sgen),
    )
    return solve_injections(model, s, backend=backend)


def element_injections(
    model: Model,
    load_p_mw: np.ndarray,
    load_q_mvar: np.ndarray,
    sgen_p_mw: np.ndarray,
    sgen_q_mvar: np.ndarray,
) -> np.ndarray:
    """Per-unit injections at the model's columns (T, n_nodes) from element powers in MW/Mvar
    (T, elements), each element's power shared over its columns (its phases)."""
    s = np.empty((load_p_mw.shape[0], model.n_nodes), dtype=np.complex128)
    s[:] = model.s_const
    for (cols, shares), factor, p, q in (
        (model.load_columns, -model.load_factor, load_p_mw, load_q_mvar),
        (model.sgen_columns, model.sgen_factor, sgen_p_mw, sgen_q_mvar),
    ):
        placed = np.where(shares != 0, cols, -1)  # a single phase's other columns: nothing
        for w in range(cols.shape[1]):
            add_injections(s, p, q, placed[:, w], factor * shares[:, w] / model.base_mva)
    return s


def solve_injections(
    model: Model,
    s: np.ndarray,
    *,
    v_start: np.ndarray | None = None,
    backend: str = "cpu",
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> Result:
    """Solve per-unit injections (T, n_nodes), from ``v_start`` (node voltages) if given."""
    if isinstance(model, UnbalancedModel):
        return solve_unbalanced(model, s, v_start=v_start, backend=backend, tol=tol,
                                max_iter=max_iter)
    fixed = zbus_fixed_point(
        model.factor,
        model.v0,
        s,
        pv=model.pv,
        v_start=v_start,
        tol=tol,
        max_iter=max_iter,
        backend=backend,
    )
    return balanced_outputs(model, fixed.voltages, fixed.converged, fixed.iterations)


def outputs_at(model: Model, voltages: np.ndarray) -> Result:
    """A model's result at given voltages (as a result holds them: node voltages of a
    balanced model, sequence voltages of an unbalanced one), every row taken as converged."""
    converged = np.ones(len(voltages), dtype=bool)
    if isinstance(model, UnbalancedModel):
        return unbalanced_outputs(model, voltages, converged)
    return balanced_outputs(model, voltages, converged)


def balanced_outputs(model: GridModel, voltages: np.ndarray, converged: np.ndarray,
                     iterations: int = 0) -> SnapshotResult:
    """The result of node voltages (T, n): what a solve reports, and what the curtailment's
    sensitivities evaluate at voltages near a solved snapshot's."""
    vm, va, loading = snapshot_outputs(
        voltages,
        model.v_slack,
        model.bus_node,
        model.branch_nodes,
        model.branch_adm,
        model.branch_k,
        converged,
    )
    lines, trafos = model.n_line, model.n_line + model.n_trafo
    windings = loading[:, trafos:].reshape(len(vm), 3, model.n_trafo3w)
    return SnapshotResult(
        vm_pu=vm,
        va_degree=va,
        line_loading_percent=loading[:, :lines],
        trafo_loading_percent=loading[:, lines:trafos],
        trafo3w_loading_percent=windings.max(axis=1),
        converged=converged,
        iterations=iterations,
        node_voltages=voltages,
    )


def _rows(array: np.ndarray) -> int:
    shape = np.shape(array)
    if len(shape) != 2:
        raise GridModelError(f"load_p_mw must be 2-D (snapshots, loads), got shape {shape}")
    return shape[0]


def _matrix(name: str, array: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.asarray(array, dtype=np.float64)
    if out.shape != (rows, cols):
        raise GridModelError(f"{name} must have shape ({rows}, {cols}), got {out.shape}")
    if not np.isfinite(out).all():
        raise GridModelError(f"{name} contains NaN or infinite values")
    return out
