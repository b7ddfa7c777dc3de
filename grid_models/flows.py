"""Power through the transformers of solved snapshots, as pandapower's ``res_trafo`` reports it.

`solve_snapshots` returns bus voltages; a branch's end current follows from its two end
voltages and its admittances in the compiled model (``i_from = y_ff v_f + y_ft v_t``), and its
power at that end is ``v_f conj(i_from)``. A transformer's from end is its HV side.
"""

from __future__ import annotations

import numpy as np

from grid_models.powerflow import NetLike, SnapshotResult, model_of


def trafo_p_hv_mw(net: NetLike, result: SnapshotResult) -> np.ndarray:
    """Active power into each transformer at its HV side (snapshots, transformers) in MW:
    positive when power flows from the HV to the LV side (pandapower's ``p_hv_mw``); 0 for a
    transformer out of service, NaN for a snapshot that did not converge."""
    model = model_of(net)
    nodes = len(model.v0) + len(model.v_slack)  # [non-slack nodes, slack nodes]
    energised = model.bus_node >= 0
    v = np.zeros((len(result.vm_pu), nodes), dtype=np.complex128)
    v[:, model.bus_node[energised]] = (
        result.vm_pu[:, energised] * np.exp(1j * np.deg2rad(result.va_degree[:, energised])))
    rows = model.n_line + np.arange(model.n_trafo)
    hv, lv = model.branch_nodes[rows, 0], model.branch_nodes[rows, 1]
    y_ff, y_ft = model.branch_adm[rows, 0], model.branch_adm[rows, 1]
    s_hv = v[:, hv] * np.conj(y_ff * v[:, hv] + y_ft * v[:, lv])
    return s_hv.real * model.base_mva
