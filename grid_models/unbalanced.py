"""The feeder as it really is: three phases and a neutral, each home on its own phase.

`compile_unbalanced(net, phases)` compiles a net for the batch unbalanced power flow
(`kernels.powerflow_unbalanced`), each load connected to phase ``a``, ``b`` or ``c`` (all its
power on that phase) or to ``abc`` (a third on each); the net's static generators are
three-phase. The sequence admittance matrices are pandapower's own, the ones ``runpp_3ph``
builds (its conversion for sequences 1, 2 and 0: lines' r0/x0/c0, the transformers' vector
groups and zero-sequence impedances, switches), so the results are ``runpp_3ph``'s: wye loads of
constant power, per-unit on a per-phase base. The external grid is an ideal source in every
sequence (balanced voltages at the slack: runpp's slack, in each phase); ``runpp_3ph`` matches
it with a short-circuit power of `REFERENCE_S_SC_MVA`.

Reported per phase, as ``runpp_3ph`` reports them: bus voltages (phase to neutral, per unit of
nominal), line and transformer loadings (a phase's current against the rating), each line's
neutral current ``|I_a + I_b + I_c|`` against the same rating (a four-core cable's neutral has
its phases' cross-section), and each bus's voltage unbalance factor ``|V_2| / |V_1|`` in
percent (EN 50160: at most 2 %). A Dyn transformer's zero-sequence current closes in its delta
and its LV star point: as in ``runpp_3ph``, its phase loadings carry the positive and negative
sequences.

Zero-sequence data a net lacks (SimBench has none) get these defaults (`with_zero_sequence`):

- cables: ``r0 = 3.5 r1``, ``x0 = 1.15 x1`` (the four-core cables of the IEEE European Low
  Voltage Test Feeder, IEEE PES 2015: r0/r1 3.4-3.6, x0/x1 1.1-1.2, as pandapower ships it in
  ``ieee_european_lv_asymmetric``), ``c0 = c1``, ``g0 = g1``;
- transformers: vector group ``Dyn`` for an odd clock (``shift_degree`` / 30; SimBench's are
  150 degrees, Dyn5), ``YNyn`` for an even one (a given group keeps its letters: its clock is
  ``shift_degree``, as pandapower reads it); seen from the LV star, R0 = R1 and X0 = 0.95 X1
  (the ABB Switchgear Manual's ratios for Dyn distribution transformers): ``vkr0 = vkr`` and
  ``vk0`` to match, pandapower's T-model split ``si0_hv_partial = 0.9`` and a magnetising
  branch that does not shunt the delta's path (``mag0_percent = 100,000``, ``mag0_rx = 0``:
  with pandapower's own suggestion of 100 % the LV star would see 57 % of vk0).

Not modelled (refused with a one-line reason): voltage-controlled generators, three-winding
transformers, wards, storage, DC lines, motors and pandapower's own asymmetric elements; a
zero-sequence network with no path to earth.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import numpy as np
import pandapower as pp

from grid_models.errors import GridModelError
from grid_models.network import (
    _SQRT3,
    Placement,
    Tables,
    _check_supported,
    branch_admittances,
    branch_rows,
)
from grid_models.phases import PHASE_SHARES, PHASES
from kernels.errors import KernelError
from kernels.powerflow import DEFAULT_MAX_ITER, DEFAULT_TOL
from kernels.powerflow_unbalanced import (
    A_INV,
    A,
    SequenceFactors,
    factorize_sequences,
    sequence_outputs,
    zbus_fixed_point_3ph,
)

CABLE_R0_PER_R1 = 3.5
CABLE_X0_PER_X1 = 1.15
TRAFO_X0_PER_X1 = 0.95
TRAFO_MAG0_PERCENT = 1e5
TRAFO_MAG0_RX = 0.0
TRAFO_SI0_HV_PARTIAL = 0.9
REFERENCE_S_SC_MVA = 1e9
"""The external grid's short-circuit power that makes ``runpp_3ph``'s source ideal."""
_NOT_MODELLED = ("gen", "trafo3w", "ward", "xward", "storage", "dcline", "motor",
                 "asymmetric_load", "asymmetric_sgen")


@dataclass(frozen=True, eq=False)
class UnbalancedModel(Tables):
    """A net reduced to its non-slack nodes in the three sequences.

    Injection columns are phase-major: column ``p * n + k`` is phase p (a, b, c) of node k; a
    load at node k on phase "b" injects at column ``n + k``, one on "abc" a third at each of
    ``k``, ``n + k``, ``2 n + k`` (`columns`, `load_columns`). Per unit on a per-phase base of
    ``base_mva`` (phase-to-neutral voltages).
    """

    base_mva: float
    factors: SequenceFactors
    v0: np.ndarray  # (n,) positive-sequence voltages with no injections
    load_pos: np.ndarray  # (n_load,) node of each load's bus, -1 if none
    load_factor: np.ndarray
    load_phases: tuple[str, ...]
    sgen_pos: np.ndarray
    sgen_factor: np.ndarray
    bus_node: np.ndarray  # (n_bus,) position in [non-slack, slack], -1 if not energised
    bus_pos: dict[int, int]
    bus_index: np.ndarray
    v_slack: np.ndarray  # (n_slack,) positive sequence
    branch_nodes: np.ndarray  # (n_branch, 2)
    branch_adm: np.ndarray  # (3, n_branch, 4) per sequence
    branch_k: np.ndarray  # (2 * n_branch,) per-unit phase current -> loading percent
    line_index: np.ndarray
    trafo_index: np.ndarray
    trafo3w_index: np.ndarray  # always empty: refused

    width = 3  # injection columns per connection

    @property
    def n(self) -> int:
        return len(self.v0)

    @property
    def n_nodes(self) -> int:
        """Injection columns: three phases of each non-slack node."""
        return 3 * self.n

    @property
    def s_const(self) -> np.ndarray:
        return np.zeros(self.n_nodes, dtype=np.complex128)

    def columns(self, node: int, phase: str = "abc") -> tuple[np.ndarray, np.ndarray]:
        """The injection columns of a connection at ``node`` on ``phase``, and the share of its
        power at each."""
        return node + self.n * np.arange(3), np.array(PHASE_SHARES[phase])

    @property
    def load_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Each load's injection columns (n_load, 3) and shares of its power (-1: not placed)."""
        return _placed(self.load_pos, self.n, [PHASE_SHARES[p] for p in self.load_phases])

    @property
    def sgen_columns(self) -> tuple[np.ndarray, np.ndarray]:
        return _placed(self.sgen_pos, self.n, [PHASE_SHARES["abc"]] * len(self.sgen_pos))

    def apply_z(self, b: np.ndarray) -> np.ndarray:
        """The phase-frame impedance applied to rows of phase-column currents (T, 3n)."""
        rows = len(b)
        return self.factors.solve_phases(b.reshape(rows, 3, self.n)).reshape(rows, -1)


def _placed(pos: np.ndarray, n: int, shares) -> tuple[np.ndarray, np.ndarray]:
    cols = np.where(pos[:, None] >= 0, pos[:, None] + n * np.arange(3), -1)
    return cols.astype(np.int64), np.array(shares, dtype=float).reshape(len(pos), 3)


@dataclass(frozen=True)
class UnbalancedResult:
    """Results per snapshot in the order of the net's tables, per phase (a, b, c); NaN where
    not converged. ``node_voltages`` are the phase voltages at the injection columns."""

    vm_pu: np.ndarray  # (T, 3, buses)
    v_re_pu: np.ndarray  # (T, 3, buses): the phase voltages' real parts
    v_im_pu: np.ndarray  # and imaginary parts
    vuf_percent: np.ndarray  # (T, buses)
    line_loading_percent: np.ndarray  # (T, 3, lines)
    neutral_loading_percent: np.ndarray  # (T, lines)
    trafo_loading_percent: np.ndarray  # (T, 3, transformers)
    trafo3w_loading_percent: np.ndarray  # (T, 0)
    converged: np.ndarray  # (T,) bool
    iterations: int
    sequence_voltages: np.ndarray  # (T, 3, n) complex, as solved (warm starts)

    @property
    def va_degree(self) -> np.ndarray:
        """The phase voltages' angles (T, 3, buses), computed when asked (they cost a third of
        the outputs)."""
        return np.degrees(np.arctan2(self.v_im_pu, self.v_re_pu))

    @property
    def node_voltages(self) -> np.ndarray:
        """The phase voltages at the injection columns (T, 3 n)."""
        rows = len(self.sequence_voltages)
        return np.einsum("pq,tqn->tpn", A, self.sequence_voltages).reshape(rows, -1)

    def rows(self, rows) -> UnbalancedResult:
        """The result of some snapshots only (an index, a slice or a mask)."""
        return UnbalancedResult(*(getattr(self, f.name)[rows] if f.name != "iterations"
                                  else self.iterations for f in fields(self)))

    def failed(self) -> UnbalancedResult:
        """The same snapshots reported as not converged (NaN)."""
        keep = ("converged", "iterations", "sequence_voltages")
        return UnbalancedResult(**{
            f.name: getattr(self, f.name) if f.name in keep
            else np.full_like(getattr(self, f.name), np.nan) for f in fields(self)
        } | {"converged": np.zeros_like(self.converged)})

    @staticmethod
    def concat(results: list[UnbalancedResult]) -> UnbalancedResult:
        return UnbalancedResult(**{
            f.name: max(r.iterations for r in results) if f.name == "iterations"
            else np.concatenate([getattr(r, f.name) for r in results]) for f in fields(results[0])
        })


def with_zero_sequence(net: pp.pandapowerNet) -> pp.pandapowerNet:
    """A copy of ``net`` with the zero-sequence data it lacks set to the module's defaults
    (values it has are kept)."""
    net = copy.deepcopy(net)
    line = net.line
    for column, value in (
        ("r0_ohm_per_km", CABLE_R0_PER_R1 * line["r_ohm_per_km"]),
        ("x0_ohm_per_km", CABLE_X0_PER_X1 * line["x_ohm_per_km"]),
        ("c0_nf_per_km", line["c_nf_per_km"]),
        ("g0_us_per_km", line.get("g_us_per_km", 0.0)),
    ):
        _fill(line, column, value)
    trafo = net.trafo
    clock = (trafo["shift_degree"].fillna(0.0) / 30).round().astype(int) % 12
    _fill(trafo, "vector_group", np.where(clock % 2 == 1, "Dyn", "YNyn"))
    trafo["vector_group"] = [g.rstrip("0123456789") if isinstance(g, str) else g
                             for g in trafo["vector_group"]]  # the clock is shift_degree
    vkr, vk = trafo["vkr_percent"], trafo["vk_percent"]
    for column, value in (
        ("vk0_percent", np.sqrt(vkr**2 + TRAFO_X0_PER_X1**2 * (vk**2 - vkr**2))),
        ("vkr0_percent", vkr),
        ("mag0_percent", TRAFO_MAG0_PERCENT),
        ("mag0_rx", TRAFO_MAG0_RX),
        ("si0_hv_partial", TRAFO_SI0_HV_PARTIAL),
    ):
        _fill(trafo, column, value)
    grid = net.ext_grid  # pandapower's sequence conversion needs them; the slack stays ideal
    for column, value in (("s_sc_max_mva", REFERENCE_S_SC_MVA), ("rx_max", 0.1),
                          ("x0x_max", 1.0), ("r0x0_max", 0.1)):
        _fill(grid, column, value)
    return net


def _fill(table, column: str, value) -> None:
    values = np.broadcast_to(np.asarray(value, dtype=object), (len(table),))
    if column not in table:
        table[column] = values
        table[column] = table[column].infer_objects()
        return
    missing = table[column].isna().to_numpy()
    if missing.any():
        table[column] = table[column].astype(object)
        table.loc[missing, column] = values[missing]
        table[column] = table[column].infer_objects()


def reference_net(net: pp.pandapowerNet, phases, load_p_mw, load_q_mvar, sgen_p_mw=None,
                  sgen_q_mvar=None) -> pp.pandapowerNet:
    """``net`` as ``runpp_3ph`` must see it to solve what the unbalanced model solves for one
    snapshot: the zero-sequence defaults, an ideal source, each load an asymmetric load on its
    phase(s), the static generators three-phase. The reference for tests and the bench."""
    ref = with_zero_sequence(net)
    ref.ext_grid["s_sc_max_mva"] = REFERENCE_S_SC_MVA
    for i, (bus, phase) in enumerate(zip(ref.load["bus"], phases)):
        share = PHASE_SHARES[phase]
        pp.create_asymmetric_load(
            ref, bus, scaling=float(ref.load["scaling"].iloc[i]),
            in_service=bool(ref.load["in_service"].iloc[i]),
            **{f"p_{x}_mw": float(load_p_mw[i]) * w for x, w in zip("abc", share)},
            **{f"q_{x}_mvar": float(load_q_mvar[i]) * w for x, w in zip("abc", share)},
        )
    ref.load["in_service"] = False
    if sgen_p_mw is not None:
        ref.sgen["p_mw"] = sgen_p_mw
        ref.sgen["q_mvar"] = sgen_q_mvar
    ref.sgen["type"] = "wye"  # runpp_3ph leaves out a generator of any other type (SimBench's: PV)
    return ref


def compile_unbalanced(net: pp.pandapowerNet, phases) -> UnbalancedModel:
    """Compile ``net`` (left unchanged) for the unbalanced power flow, load i on ``phases[i]``;
    unsupported nets raise."""
    phases = tuple(str(p) for p in phases)
    if len(phases) != len(net.load):
        raise GridModelError(f"phases: {len(phases)} given, the net has {len(net.load)} loads")
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise GridModelError(f"phases: unknown {', '.join(unknown)} (one of {', '.join(PHASES)})")
    _check_supported(net)
    present = [t for t in _NOT_MODELLED if t in net and len(net[t]) and (
        "in_service" not in net[t] or net[t]["in_service"].any())]
    if present:
        raise GridModelError(f"the unbalanced power flow does not model {', '.join(present)}")
    work = with_zero_sequence(net)
    for table in ("load", "sgen"):
        work[table]["p_mw"] = 0.0
        work[table]["q_mvar"] = 0.0
    try:
        ppci, ybus = _sequence_matrices(work)
    except Exception as exc:  # noqa: BLE001 - pandapower fails in many ways on a bad net
        raise GridModelError(f"pandapower cannot build the sequence networks: {exc}") from None
    from pandapower.pypower.bustypes import bustypes
    from pandapower.pypower.idx_bus import VA, VM

    ppci0, ppci1, _ = ppci
    ref, pv, pq = bustypes(ppci1["bus"], ppci1["gen"])
    if len(pv):
        raise GridModelError("the unbalanced power flow does not model voltage-controlled buses")
    nodes = np.sort(np.asarray(pq)).astype(np.int64)
    try:
        factors = factorize_sequences(*(y.tocsr()[nodes][:, nodes] for y, _, _ in ybus))
    except (KernelError, RuntimeError) as exc:
        raise GridModelError(f"a sequence network is singular (no path to earth in the zero "
                             f"sequence?): {exc}") from None
    bus = ppci1["bus"]
    v_slack = (bus[ref, VM] * np.exp(1j * np.deg2rad(bus[ref, VA]))).astype(np.complex128)
    y1 = ybus[1][0].tocsr()
    v0 = -factors.factors[1].solve(y1[nodes][:, ref] @ v_slack)[0]
    placed = Placement.of(net, work, len(bus), nodes, ref)
    rows = branch_rows(net, work._pd2ppc_lookups["branch"], work._ppc1["branch"],
                       ppci1["internal"]["branch_is"], ppci1["branch"], bus, placed.node,
                       _SQRT3 * ppci1["baseMVA"])
    if len(ppci0["branch"]) != len(ppci1["branch"]):
        raise GridModelError("the zero-sequence network's branches differ from the positive's")
    return UnbalancedModel(
        base_mva=float(ppci1["baseMVA"]),
        factors=factors,
        v0=v0,
        load_phases=phases,
        **placed.elements(),
        bus_index=net.bus.index.values.copy(),
        v_slack=v_slack,
        branch_nodes=rows.nodes,
        branch_adm=np.stack([branch_admittances(rows, yf, yt) for _, yf, yt in ybus]),
        branch_k=np.concatenate([rows.k[0], rows.k[1]]),
        line_index=net.line.index.values.copy(),
        trafo_index=net.trafo.index.values.copy(),
        trafo3w_index=net.trafo3w.index.values[:0].copy(),
    )


def _sequence_matrices(net: pp.pandapowerNet):
    """pandapower's internal tables and (Ybus, Yf, Yt) of sequences 0, 1, 2, built as
    ``runpp_3ph`` builds them (its options, its order of conversion)."""
    from pandapower.auxiliary import _add_pf_options, _add_ppc_options
    from pandapower.build_bus import _add_ext_grid_sc_impedance
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.pypower.makeYbus import makeYbus

    net._options = {}
    _add_ppc_options(net, calculate_voltage_angles=True, trafo_model="t",
                     check_connectivity=True, mode="pf_3ph", switch_rx_ratio=2.0,
                     init_vm_pu="flat", init_va_degree="flat", enforce_p_lims=False,
                     enforce_q_lims=False, recycle=None, voltage_depend_loads=False,
                     neglect_open_switch_branches=False)
    _add_pf_options(net, tolerance_mva=1e-8, trafo_loading="current", numba=False, ac=True,
                    algorithm="nr", max_iteration=30, only_v_results=False, use_umfpack=True,
                    permc_spec=None, lightsim2grid=False, v_debug=False)
    _, ppci1 = _pd2ppc(net, 1)
    _, ppci2 = _pd2ppc(net, 2)
    _add_ext_grid_sc_impedance(net, ppci2)
    _, ppci0 = _pd2ppc(net, 0)
    tables = (ppci0, ppci1, ppci2)
    return tables, [makeYbus(p["baseMVA"], p["bus"], p["branch"]) for p in tables]


def solve_unbalanced(
    model: UnbalancedModel,
    s: np.ndarray,
    *,
    v_start: np.ndarray | None = None,
    backend: str = "cpu",
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> UnbalancedResult:
    """Solve per-unit phase injections (T, 3n), from ``v_start`` (phase voltages) if given."""
    rows, n = len(s), model.n
    start = None
    if v_start is not None:
        start = np.einsum("qp,tpn->tqn", A_INV, np.asarray(v_start).reshape(rows, 3, n))
    fixed = zbus_fixed_point_3ph(model.factors, model.v0, np.asarray(s).reshape(rows, 3, n),
                                 v_start=start, tol=tol, max_iter=max_iter, backend=backend)
    return unbalanced_outputs(model, fixed.voltages, fixed.converged, fixed.iterations)


def unbalanced_outputs(model: UnbalancedModel, voltages: np.ndarray, converged: np.ndarray,
                       iterations: int = 0) -> UnbalancedResult:
    """The result of sequence voltages (T, 3, n): what a solve reports, and what the
    curtailment's sensitivities evaluate at voltages near a solved snapshot's."""
    rows = len(voltages)
    vm, v_re, v_im, vuf, loading, neutral = sequence_outputs(
        voltages, model.v_slack, model.bus_node, model.branch_nodes, model.branch_adm,
        model.branch_k, converged)
    lines = model.n_line
    return UnbalancedResult(
        vm_pu=vm,
        v_re_pu=v_re,
        v_im_pu=v_im,
        vuf_percent=vuf,
        line_loading_percent=loading[:, :, :lines],
        neutral_loading_percent=neutral[:, :lines],
        trafo_loading_percent=loading[:, :, lines:lines + model.n_trafo],
        trafo3w_loading_percent=np.zeros((rows, 0)),
        converged=converged,
        iterations=iterations,
        sequence_voltages=voltages,
    )
