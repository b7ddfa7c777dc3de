"""Power through the transformers of solved snapshots, as pandapower's ``res_trafo`` reports it.

`solve_snapshots` returns bus voltages; a branch's end current follows from its two end
voltages and its admittances in the compiled model (``i_from = y_ff v_f + y_ft v_t``), and its
power at that end is ``v_f conj(i_from)``. A transformer's from end is its HV side. On an
unbalanced model the three sequences' powers add up, each per phase: ``3 sum_q v_q conj(i_q)``.
"""

from __future__ import annotations

import numpy as np

from grid_models.powerflow import NetLike, Result, model_of
from grid_models.unbalanced import UnbalancedModel


def trafo_p_hv_mw(net: NetLike, result: Result) -> np.ndarray:
    """Active power into each transformer at its HV side (snapshots, transformers) in MW:
    positive when power flows from the HV to the LV side (pandapower's ``p_hv_mw``, or the sum
    of ``runpp_3ph``'s ``p_a_hv_mw``, ``p_b_hv_mw``, ``p_c_hv_mw``); 0 for a transformer out of
    service, NaN for a snapshot that did not converge."""
    model = model_of(net)
    rows = model.n_line + np.arange(model.n_trafo)
    hv, lv = model.branch_nodes[rows, 0], model.branch_nodes[rows, 1]
    if isinstance(model, UnbalancedModel):
        n_snap = len(result.converged)
        v = np.zeros((n_snap, 3, model.n + len(model.v_slack)), dtype=np.complex128)
        v[:, :, :model.n] = result.sequence_voltages
        v[:, 1, model.n:] = model.v_slack
        v[~result.converged] = np.nan
        y_ff, y_ft = model.branch_adm[:, rows, 0], model.branch_adm[:, rows, 1]
        s_hv = v[:, :, hv] * np.conj(y_ff * v[:, :, hv] + y_ft * v[:, :, lv])
        return 3.0 * s_hv.real.sum(axis=1) * model.base_mva
    nodes = len(model.v0) + len(model.v_slack)  # [non-slack nodes, slack nodes]
    energised = model.bus_node >= 0
    v = np.zeros((len(result.vm_pu), nodes), dtype=np.complex128)
    v[:, model.bus_node[energised]] = (
        result.vm_pu[:, energised] * np.exp(1j * np.deg2rad(result.va_degree[:, energised])))
    y_ff, y_ft = model.branch_adm[rows, 0], model.branch_adm[rows, 1]
    s_hv = v[:, hv] * np.conj(y_ff * v[:, hv] + y_ft * v[:, lv])
    return s_hv.real * model.base_mva
