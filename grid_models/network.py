"""Compile a pandapower net into the arrays the batch power flow needs.

The admittances are pandapower's own: the net is run once through `runpp` with every load and
static generator set to zero, and its internal bus admittance matrix (transformer taps and phase
shifts, shunts, line charging, switches all included), branch admittances and slack voltages are
kept. Options are runpp's defaults, so results match a plain ``pp.runpp(net)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandapower as pp
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV

from grid_models.errors import GridModelError

_SQRT3 = np.sqrt(3.0)


@dataclass(frozen=True, eq=False)
class GridModel:
    """A net reduced to its PQ buses (ppc order): ``V_pq = v0 + conj(S_pq / V_pq) @ z.T``.

    Branch end currents come from the two end voltages: ``i_from = y_ff v_f + y_ft v_t`` and
    ``i_to = y_tf v_f + y_tt v_t`` (``branch_adm``), nodes indexing [PQ buses, slack buses].
    """

    base_mva: float
    z: np.ndarray  # (n_pq, n_pq) complex: inverse of Ybus restricted to the PQ buses
    v0: np.ndarray  # (n_pq,) complex: PQ voltages with no injections
    s_const: np.ndarray  # (n_pq,) complex per-unit injections of elements other than load/sgen
    load_pos: np.ndarray  # (n_load,) PQ position of each load's bus, -1 if none (slack, isolated)
    load_factor: np.ndarray  # (n_load,) scaling * in_service
    sgen_pos: np.ndarray
    sgen_factor: np.ndarray
    bus_node: np.ndarray  # (n_bus,) position in [PQ buses, slack buses], -1 if not energised
    bus_pos: dict[int, int]  # pandapower bus index -> PQ position (energised PQ buses only)
    bus_index: np.ndarray  # (n_bus,) pandapower bus indices, net.bus order
    v_slack: np.ndarray  # (n_slack,) complex
    branch_nodes: np.ndarray  # (n_branch, 2) from/to node in [PQ buses, slack buses]
    branch_adm: np.ndarray  # (n_branch, 4) complex: y_ff, y_ft, y_tf, y_tt (zero: not in service)
    branch_k: np.ndarray  # (2 * n_branch,) per-unit current -> loading percent
    n_line: int
    n_trafo: int
    line_index: np.ndarray
    trafo_index: np.ndarray

    @property
    def n_pq(self) -> int:
        return len(self.v0)


def compile_net(net: pp.pandapowerNet) -> GridModel:
    """Compile ``net`` (left unchanged) for the batch power flow; unsupported nets raise."""
    _check_supported(net)
    work = copy.deepcopy(net)
    for table in ("load", "sgen"):
        work[table]["p_mw"] = 0.0
        work[table]["q_mvar"] = 0.0
    try:
        pp.runpp(work)
    except Exception as exc:  # noqa: BLE001 - pandapower fails in many ways on a bad net
        raise GridModelError(f"pandapower cannot run the no-load power flow: {exc}") from None
    ppci = work._ppc
    internal = ppci["internal"]
    if len(internal["pv"]):
        raise GridModelError("voltage-controlled generators (net.gen) are not supported")
    ybus = internal["Ybus"].tocsr()
    ref, pq = np.asarray(internal["ref"]), np.asarray(internal["pq"])
    v_all = np.asarray(internal["V"], dtype=np.complex128)
    v_slack = v_all[ref]
    y_pq = ybus[pq][:, pq].toarray()
    z = np.linalg.inv(y_pq)
    v0 = -z @ (ybus[pq][:, ref] @ v_slack)
    n_ppci = ybus.shape[0]
    pos = np.full(n_ppci, -1, dtype=np.int64)
    pos[pq] = np.arange(len(pq))
    node = np.full(n_ppci, -1, dtype=np.int64)
    node[pq] = np.arange(len(pq))
    node[ref] = len(pq) + np.arange(len(ref))

    lookup = np.asarray(work._pd2ppc_lookups["bus"])

    def ppci_of(buses: np.ndarray) -> np.ndarray:
        idx = lookup[np.asarray(buses, dtype=np.int64)]
        return np.where((idx >= 0) & (idx < n_ppci), idx, -1)

    def positions(table: str) -> tuple[np.ndarray, np.ndarray]:
        df = net[table]
        at = ppci_of(df["bus"].values)
        p = np.where(at >= 0, pos[np.maximum(at, 0)], -1)
        factor = df["scaling"].values.astype(float) * df["in_service"].values.astype(float)
        return p.astype(np.int64), factor

    load_pos, load_factor = positions("load")
    sgen_pos, sgen_factor = positions("sgen")
    bus_at = ppci_of(net.bus.index.values)
    bus_node = np.where(bus_at >= 0, node[np.maximum(bus_at, 0)], -1)
    bus_pos = {
        int(b): int(pos[a]) for b, a in zip(net.bus.index.values, bus_at) if a >= 0 and pos[a] >= 0
    }

    branch_nodes, branch_adm, branch_k = _branch_arrays(net, work, internal, node)
    return GridModel(
        base_mva=float(ppci["baseMVA"]),
        z=z,
        v0=v0,
        s_const=np.asarray(internal["Sbus"], dtype=np.complex128)[pq],
        load_pos=load_pos,
        load_factor=load_factor,
        sgen_pos=sgen_pos,
        sgen_factor=sgen_factor,
        bus_node=bus_node,
        bus_pos=bus_pos,
        bus_index=net.bus.index.values.copy(),
        v_slack=v_slack,
        branch_nodes=branch_nodes,
        branch_adm=branch_adm,
        branch_k=branch_k,
        n_line=len(net.line),
        n_trafo=len(net.trafo),
        line_index=net.line.index.values.copy(),
        trafo_index=net.trafo.index.values.copy(),
    )


def _check_supported(net: pp.pandapowerNet) -> None:
    if not len(net.ext_grid) or not net.ext_grid["in_service"].any():
        raise GridModelError("the net has no in-service external grid (slack)")
    loads = net.load[net.load["in_service"]]
    dependent = [c for c in loads.columns if c.startswith("const_")]
    if dependent and (loads[dependent].fillna(0).values != 0).any():
        raise GridModelError("voltage-dependent loads (const_z/const_i) are not supported")
    if len(net.gen) and net.gen["in_service"].any():
        raise GridModelError("voltage-controlled generators (net.gen) are not supported")


def _branch_arrays(net, work, internal, node):
    """End nodes and admittances of each line and transformer, and their loading factors.

    Like pandapower, a branch out of the power flow reports 0 % when both its buses are
    energised and NaN otherwise.

    pandapower's loading: lines ``max(i_from, i_to) / (max_i_ka * df * parallel)``; transformers
    ``max(i_hv * vn_hv, i_lv * vn_lv) * sqrt3 / sn_mva / parallel / df`` (trafo_loading="current"),
    with ``i`` in kA from the per-unit current and the bus base voltage.
    """
    ppci = work._ppc
    in_service = np.asarray(internal["branch_is"], dtype=bool)
    ppci_row = np.cumsum(in_service) - 1  # ppc branch -> ppci branch (Yf/Yt row)
    yf, yt = internal["Yf"].tocsr(), internal["Yt"].tocsr()
    ppci_branch = internal["branch"]
    base_kv = internal["bus"][:, BASE_KV].real
    lookups = work._pd2ppc_lookups["branch"]
    base_i = ppci["baseMVA"] / _SQRT3  # per-unit current * base_i / base_kv = kA

    n_line, n_trafo = len(net.line), len(net.trafo)
    n_branch = n_line + n_trafo
    rows = np.full(n_branch, -1, dtype=np.int64)
    k_from = np.zeros(n_branch)
    k_to = np.zeros(n_branch)
    dead = np.zeros(n_branch, dtype=bool)  # not carrying current and an end not energised: NaN
    n_ppci = len(internal["bus"])
    for offset, table in ((0, "line"), (n_line, "trafo")):
        if table not in lookups:
            continue
        f, t = lookups[table]
        ppc_rows = np.arange(f, t)
        ok = in_service[ppc_rows]
        rows[offset : offset + t - f] = np.where(ok, ppci_row[ppc_rows], -1)
        ends = ppci["branch"][ppc_rows][:, [F_BUS, T_BUS]].real.astype(np.int64)
        dead[offset : offset + t - f] = ~ok & (ends >= n_ppci).any(axis=1)
    for j in range(n_branch):
        r = rows[j]
        if r < 0:
            continue
        kv_f = base_kv[int(ppci_branch[r, F_BUS].real)]
        kv_t = base_kv[int(ppci_branch[r, T_BUS].real)]
        if j < n_line:
            line = net.line.iloc[j]
            rating = line["max_i_ka"] * line["df"] * line["parallel"]
            k_from[j] = base_i / kv_f / rating * 100.0
            k_to[j] = base_i / kv_t / rating * 100.0
        else:
            trafo = net.trafo.iloc[j - n_line]
            rating = trafo["sn_mva"] * trafo["parallel"] * trafo["df"] / _SQRT3
            k_from[j] = base_i / kv_f * trafo["vn_hv_kv"] / rating * 100.0
            k_to[j] = base_i / kv_t * trafo["vn_lv_kv"] / rating * 100.0

    branch_nodes = np.zeros((n_branch, 2), dtype=np.int64)
    branch_adm = np.zeros((n_branch, 4), dtype=np.complex128)
    for j in np.flatnonzero(rows >= 0):
        r = rows[j]
        f, t = int(ppci_branch[r, F_BUS].real), int(ppci_branch[r, T_BUS].real)
        branch_nodes[j] = node[f], node[t]
        branch_adm[j] = yf[r, f], yf[r, t], yt[r, f], yt[r, t]
    k_from[dead] = k_to[dead] = np.nan
    return branch_nodes, branch_adm, np.concatenate([k_from, k_to])
