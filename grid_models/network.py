"""Compile a pandapower net into the arrays the batch power flow needs.

The admittances are pandapower's own: the net is run once through `runpp` with every load and
static generator set to zero, and its internal bus admittance matrix (transformer taps and phase
shifts, three-winding transformers, shunts, line charging, switches all included), branch
admittances, slack voltages and voltage-controlled buses are kept. Options are runpp's defaults
(reactive limits of generators not enforced), so results match a plain ``pp.runpp(net)``. The
run uses pandapower's plain-Python code: its Numba code would be compiled first, seconds of
start-up in every process, for a one-off power flow at no load.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandapower as pp
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV
from scipy import sparse

from grid_models.errors import GridModelError
from kernels.powerflow import PVNodes, ZbusFactor, factorize

_SQRT3 = np.sqrt(3.0)


class Tables:
    """How many lines, transformers and three-winding transformers a compiled model reports
    (its ``line_index``, ``trafo_index``, ``trafo3w_index``)."""

    line_index: np.ndarray
    trafo_index: np.ndarray
    trafo3w_index: np.ndarray

    @property
    def n_line(self) -> int:
        return len(self.line_index)

    @property
    def n_trafo(self) -> int:
        return len(self.trafo_index)

    @property
    def n_trafo3w(self) -> int:
        return len(self.trafo3w_index)


@dataclass(frozen=True, eq=False)
class GridModel(Tables):
    """A net reduced to its non-slack nodes (ppc order): ``V = v0 + Z conj(S / V)``.

    ``Z``, the inverse of the non-slack block of ``Ybus``, is applied through ``factor``.
    Nodes index [non-slack nodes, slack nodes]; branch end currents come from the two end
    voltages: ``i_from = y_ff v_f + y_ft v_t`` and ``i_to = y_tf v_f + y_tt v_t``
    (``branch_adm``). Branches are the lines, then the transformers, then three per
    three-winding transformer (HV, MV, LV windings, through pandapower's star-point node).
    """

    base_mva: float
    factor: ZbusFactor
    v0: np.ndarray  # (n_nodes,) complex: voltages with no injections
    s_const: np.ndarray  # (n_nodes,) complex per-unit injections of elements other than load/sgen
    pv: PVNodes  # voltage-controlled nodes (net.gen, and pandapower's own, e.g. of an xward)
    load_pos: np.ndarray  # (n_load,) node of each load's bus, -1 if none (slack, isolated)
    load_factor: np.ndarray  # (n_load,) scaling * in_service
    sgen_pos: np.ndarray
    sgen_factor: np.ndarray
    bus_node: np.ndarray  # (n_bus,) position in [non-slack, slack], -1 if not energised
    bus_pos: dict[int, int]  # pandapower bus index -> node (energised non-slack buses only)
    bus_index: np.ndarray  # (n_bus,) pandapower bus indices, net.bus order
    v_slack: np.ndarray  # (n_slack,) complex
    branch_nodes: np.ndarray  # (n_branch, 2) from/to node in [non-slack, slack]
    branch_adm: np.ndarray  # (n_branch, 4) complex: y_ff, y_ft, y_tf, y_tt (zero: not in service)
    branch_k: np.ndarray  # (2 * n_branch,) per-unit current -> loading percent
    line_index: np.ndarray
    trafo_index: np.ndarray
    trafo3w_index: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.v0)

    def columns(self, node: int, phase: str = "abc") -> tuple[np.ndarray, np.ndarray]:
        """The injection column of a node, and its share (1): a balanced model has no phases
        (see `grid_models.unbalanced` for the model that has)."""
        return np.array([node], dtype=np.int64), np.ones(1)

    @property
    def load_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Each load's injection columns (n_load, 1) and shares of its power (-1: not placed)."""
        return self.load_pos[:, None], np.ones((len(self.load_pos), 1))

    @property
    def sgen_columns(self) -> tuple[np.ndarray, np.ndarray]:
        return self.sgen_pos[:, None], np.ones((len(self.sgen_pos), 1))

    def apply_z(self, b: np.ndarray) -> np.ndarray:
        """``Z b`` for rows of node currents (T, n)."""
        return self.factor.solve(b)


def compile_net(net: pp.pandapowerNet) -> GridModel:
    """Compile ``net`` (left unchanged) for the batch power flow; unsupported nets raise."""
    _check_supported(net)
    work = copy.deepcopy(net)
    for table in ("load", "sgen"):
        work[table]["p_mw"] = 0.0
        work[table]["q_mvar"] = 0.0
    try:  # without pandapower's Numba code: compiling it costs seconds, the one run milliseconds
        pp.runpp(work, numba=False)
    except Exception as exc:  # noqa: BLE001 - pandapower fails in many ways on a bad net
        raise GridModelError(f"pandapower cannot run the no-load power flow: {exc}") from None
    ppci = work._ppc
    internal = ppci["internal"]
    ybus = internal["Ybus"].tocsr()
    ref = np.asarray(internal["ref"])
    pv_buses = np.asarray(internal["pv"])
    nodes = np.sort(np.concatenate([pv_buses, np.asarray(internal["pq"])])).astype(np.int64)
    v_all = np.asarray(internal["V"], dtype=np.complex128)
    v_slack = v_all[ref]
    try:
        factor = factorize(ybus[nodes][:, nodes])
    except ValueError as exc:
        raise GridModelError(f"cannot factorise the admittance matrix: {exc}") from None
    v0 = -factor.solve(ybus[nodes][:, ref] @ v_slack)[0]
    placed = Placement.of(net, work, ybus.shape[0], nodes, ref)
    pv = PVNodes.of(factor, placed.pos[pv_buses], np.abs(v_all[pv_buses]))
    node = placed.node

    branch_nodes, branch_adm, branch_k = _branch_arrays(net, work, internal, node)
    return GridModel(
        base_mva=float(ppci["baseMVA"]),
        factor=factor,
        v0=v0,
        s_const=np.asarray(internal["Sbus"], dtype=np.complex128)[nodes],
        pv=pv,
        **placed.elements(),
        bus_index=net.bus.index.values.copy(),
        v_slack=v_slack,
        branch_nodes=branch_nodes,
        branch_adm=branch_adm,
        branch_k=branch_k,
        line_index=net.line.index.values.copy(),
        trafo_index=net.trafo.index.values.copy(),
        trafo3w_index=net.trafo3w.index.values.copy(),
    )


@dataclass(frozen=True)
class Placement:
    """Where a net's buses and elements sit among the compiled nodes: ``pos`` maps a ppci bus
    to its non-slack node (-1: none), ``node`` to its node in [non-slack, slack]; the loads'
    and static generators' nodes and factors (scaling * in_service), each bus's node."""

    pos: np.ndarray
    node: np.ndarray
    load_pos: np.ndarray
    load_factor: np.ndarray
    sgen_pos: np.ndarray
    sgen_factor: np.ndarray
    bus_node: np.ndarray
    bus_pos: dict[int, int]

    @classmethod
    def of(cls, net: pp.pandapowerNet, work: pp.pandapowerNet, n_ppci: int, nodes: np.ndarray,
           ref: np.ndarray) -> Placement:
        """From the ppci buses kept as ``nodes`` and the slack buses ``ref``, through the bus
        lookup of ``work`` (the net pandapower converted)."""
        pos = np.full(n_ppci, -1, dtype=np.int64)
        pos[nodes] = np.arange(len(nodes))
        node = pos.copy()
        node[ref] = len(nodes) + np.arange(len(ref))
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

        bus_at = ppci_of(net.bus.index.values)
        return cls(
            pos, node, *positions("load"), *positions("sgen"),
            bus_node=np.where(bus_at >= 0, node[np.maximum(bus_at, 0)], -1),
            bus_pos={int(b): int(pos[a]) for b, a in zip(net.bus.index.values, bus_at)
                     if a >= 0 and pos[a] >= 0},
        )

    def elements(self) -> dict:
        """The fields a compiled model keeps."""
        return {name: getattr(self, name) for name in (
            "load_pos", "load_factor", "sgen_pos", "sgen_factor", "bus_node", "bus_pos")}


def _check_supported(net: pp.pandapowerNet) -> None:
    if not len(net.ext_grid) or not net.ext_grid["in_service"].any():
        raise GridModelError("the net has no in-service external grid (slack)")
    loads = net.load[net.load["in_service"]]
    dependent = [c for c in loads.columns if c.startswith("const_")]
    if dependent and (loads[dependent].fillna(0).values != 0).any():
        raise GridModelError("voltage-dependent loads (const_z/const_i) are not supported")
    gens = net.gen[net.gen["in_service"]]
    if "slack" in gens and gens["slack"].fillna(False).astype(bool).any():
        raise GridModelError("a generator as slack (net.gen slack=True) is not supported")


def _branch_arrays(net, work, internal, node):
    """End nodes and admittances of each branch, and their loading factors.

    Like pandapower, a branch out of the power flow reports 0 % when both its buses are
    energised and NaN otherwise.

    pandapower's loading: lines ``max(i_from, i_to) / (max_i_ka * df * parallel)``; transformers
    ``max(i_hv * vn_hv, i_lv * vn_lv) * sqrt3 / sn_mva / parallel / df`` (trafo_loading="current");
    a three-winding transformer's windings ``i * vn * sqrt3 / sn`` of their own side, the HV
    current at the HV end of the HV branch, the MV and LV currents at the far ends of theirs;
    ``i`` in kA from the per-unit current and the bus base voltage.
    """
    base_i = work._ppc["baseMVA"] / _SQRT3  # per-unit current * base_i / base_kv = kA
    rows = branch_rows(net, work._pd2ppc_lookups["branch"], work._ppc["branch"],
                       internal["branch_is"], internal["branch"], internal["bus"], node, base_i)
    adm = branch_admittances(rows, internal["Yf"], internal["Yt"])
    return rows.nodes, adm, np.concatenate([rows.k[0], rows.k[1]])


@dataclass(frozen=True)
class BranchRows:
    """Where each reported branch is in pandapower's internal (ppci) tables: its ppci row (-1:
    not in the power flow), its end nodes, and per end the factor from a per-unit current to
    its loading in percent; NaN where an end is not energised."""

    ppci_row: np.ndarray  # (n_branch,)
    ppci_ends: np.ndarray  # (n_branch, 2) ppci buses
    nodes: np.ndarray  # (n_branch, 2)
    k: np.ndarray  # (2, n_branch)


def branch_rows(net, lookups, ppc_branch, branch_is, ppci_branch, ppci_bus, node,
                base_i: float) -> BranchRows:
    """The lines, then the transformers, then three per three-winding transformer (see
    `_branch_arrays` for the loadings), from pandapower's branch lookups, its ppc and ppci
    branch tables and the ppci bus table; ``base_i``: a per-unit current times it, over the
    bus's base voltage, is kA."""
    in_service = np.asarray(branch_is, dtype=bool)
    ppci_row = np.cumsum(in_service) - 1  # ppc branch -> ppci branch (Yf/Yt row)
    base_kv = ppci_bus[:, BASE_KV].real

    # per branch: (ppc row, kv of the from end, its rating, kv of the to end, its rating) where
    # a rating is kA * kV: loading = i_kA * kv_rated / rating * 100, inf: that end not counted
    ends: list[tuple[int, float, float, float, float]] = []
    for table in ("line", "trafo", "trafo3w"):
        df = net[table]
        if table not in lookups:
            ends += [(-1, 0.0, 0.0, 0.0, 0.0)] * (len(df) * (3 if table == "trafo3w" else 1))
            continue
        first = lookups[table][0]
        if table == "line":
            rating = (df["max_i_ka"] * df["df"] * df["parallel"]).to_numpy(float)
            ends += [(first + j, 1.0, rating[j], 1.0, rating[j]) for j in range(len(df))]
        elif table == "trafo":
            rating = (df["sn_mva"] * df["parallel"] * df["df"]).to_numpy(float) / _SQRT3
            hv, lv = df["vn_hv_kv"].to_numpy(float), df["vn_lv_kv"].to_numpy(float)
            ends += [(first + j, hv[j], rating[j], lv[j], rating[j]) for j in range(len(df))]
        else:
            n = len(df)
            for w, side in enumerate(("hv", "mv", "lv")):
                kv = df[f"vn_{side}_kv"].to_numpy(float)
                rating = df[f"sn_{side}_mva"].to_numpy(float) / _SQRT3
                for j in range(n):
                    row = first + w * n + j
                    ends.append((row, kv[j], rating[j], 0.0, np.inf) if side == "hv"
                                else (row, 0.0, np.inf, kv[j], rating[j]))  # fmt: skip
    n_branch = len(ends)
    n_ppci = len(ppci_bus)
    rows = np.full(n_branch, -1, dtype=np.int64)
    ppci_ends = np.zeros((n_branch, 2), dtype=np.int64)
    nodes = np.zeros((n_branch, 2), dtype=np.int64)
    k = np.zeros((2, n_branch))
    for j, (row, kv_f, rate_f, kv_t, rate_t) in enumerate(ends):
        if row < 0:
            continue
        f_bus, t_bus = ppc_branch[row, [F_BUS, T_BUS]].real.astype(np.int64)
        if not in_service[row]:
            if f_bus >= n_ppci or t_bus >= n_ppci:  # an end not energised: NaN, as pandapower
                k[:, j] = np.nan
            continue
        r = ppci_row[row]
        f, t = int(ppci_branch[r, F_BUS].real), int(ppci_branch[r, T_BUS].real)
        k[0, j] = base_i / base_kv[f] * kv_f / rate_f * 100.0
        k[1, j] = base_i / base_kv[t] * kv_t / rate_t * 100.0
        rows[j], ppci_ends[j], nodes[j] = r, (f, t), (node[f], node[t])
    return BranchRows(rows, ppci_ends, nodes, k)


def branch_admittances(rows: BranchRows, yf, yt) -> np.ndarray:
    """Each branch's ``y_ff, y_ft, y_tf, y_tt`` (n_branch, 4) from pandapower's branch
    admittance matrices; zero for a branch out of the power flow."""
    adm = np.zeros((len(rows.ppci_row), 4), dtype=np.complex128)
    placed = np.flatnonzero(rows.ppci_row >= 0)
    r, f, t = rows.ppci_row[placed], rows.ppci_ends[placed, 0], rows.ppci_ends[placed, 1]
    for k, (matrix, end) in enumerate(((yf, f), (yf, t), (yt, f), (yt, t))):
        canonical = sparse.csr_matrix(matrix, copy=True)  # pandapower's own left as it is
        canonical.sum_duplicates()
        adm[placed, k] = np.asarray(canonical[r, end]).ravel()  # one lookup for all branches
    return adm
