"""IEEE 1547-2018 volt-var and volt-watt of the homes' inverters, solved with the power flow.

A home is a load of the net whose power is the home's net consumption with its PV at the power
available; its inverter (``Inverters``, one entry per load) may then inject less active power
and inject or absorb reactive power, as its autonomous functions and the grid operator's export
limit decide:

- **volt-var** (reactive power priority is not needed: Category B requires the 44 % reactive
  capability at full active power, so the inverter is assumed sized for it and Q never displaces
  P): ``Q = q(V) * rated`` with ``q`` piecewise linear through (V1, Q1) .. (V4, Q4), flat outside.
  Category B defaults: V = 0.92 / 0.98 / 1.02 / 1.08 pu, Q = +0.44 / 0 / 0 / -0.44 of rated
  (positive: injected, over-excited). The inverter provides it while at least 5 % of its rated
  power is available (1547: reactive capability from that output up), and not at night;
- **volt-watt**: active power at most ``p(V) * rated``, ``p`` = 1 up to V1, linear down to P2 at
  V2, P2 above. Defaults V1 = 1.06 pu, V2 = 1.10 pu, P2 = 0.2 (0 for a device that can absorb
  active power, such as a battery: set ``p2_fraction``);
- the **export limit** (see `grid_models.envelopes`): active power at most the home's own
  consumption plus the limit, so that what crosses the meter stays within it.

So ``P = clip(min(available, p(V) rated, consumption + limit), 0, available)``. Each function's
curve points are configurable. The standard's adjustable ranges (volt-watt V1 from 1.05 pu)
cannot enforce a planning band as tight as 1.03 pu: the export limits are what keep the feeder
inside such a band; volt-var and volt-watt act beside them, as the inverters do on their own.
The response is steady state: the functions' open-loop response times are not modelled, as an
interval is 15 minutes.

The voltages depend on the inverters' P and Q and those on the voltages: for every snapshot the
pair is solved as a fixed point, by Newton steps on the inverters' powers, kept within what each
inverter can do (0 to the power available, the curve's reactive range). The power flow (warm
started) gives the voltages; the curves give the targets and their slopes; the sensitivities of
the inverters' voltage magnitudes to their powers come from the factorised Z-bus. A step that
does not reduce the mismatch (its Euclidean norm), or whose power flow fails, is halved. Each
snapshot stops on its own when every inverter's P and Q are within ``_TOL_W`` watts of their
targets, so a snapshot's answer does not depend on its batch. The curves are monotone (more
voltage, less export and more absorption), which is what makes the fixed point unique. A
snapshot whose fixed point is not found within the steps allowed is reported as not converged;
seen only far beyond any planning band (30 homes of 10-20 kW on 1.5 km of 50 mm2 cable, 1.6 pu
without the functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy.sparse import linalg as sparse_linalg

from grid_models.errors import GridModelError
from grid_models.network import GridModel
from grid_models.powerflow import Result, solve_injections
from grid_models.unbalanced import UnbalancedModel

_TOL_W = 0.01  # a snapshot has converged when every P and Q is this close to its target
DENSE_Z_MAX = 2048
"""Inverter columns up to which Z between all of them is kept (64 MB) and each Newton step is
one dense solve; beyond (a town: thousands of inverters, gigabytes), a step solves only for the
inverters whose curves are on a slope, their Z columns made from the factor when needed."""
_Z_CHUNK = 256  # unit currents per batch of substitutions when making Z columns
BATCH_VALUES = 1 << 21
"""Snapshots x injection columns solved at once (32 MB of complex injections): a town's
curtailment asks for thousands of snapshots of 9,099 buses, gigabytes of results at once;
a snapshot's answer does not depend on its batch, so the parts change nothing."""
_MAX_STEPS = 60
_MAX_HALVINGS = 20
_GMRES_RTOL = 1e-6
"""Relative residual to which a Newton step's active unknowns are solved without the dense Z:
an inexact Newton step, as the snapshot stops on its own residual (`_TOL_W`), not on the
step's. At a town's noon 1e-6 takes 24 % less time than 1e-12 did, with the same decisions
(every snapshot, grant and kW curtailed of one interval's export limits)."""
_GMRES_RESTART = 200  # Krylov vectors kept (a town's noon needs about 16 for 1e-12)
_GMRES_CYCLES = 5  # restarts before the row is solved densely instead


@dataclass(frozen=True)
class VoltVar:
    """Volt-var curve: reactive power (share of rated, + injects) at four voltages (pu)."""

    v_pu: tuple[float, float, float, float] = (0.92, 0.98, 1.02, 1.08)
    q_fraction: tuple[float, float, float, float] = (0.44, 0.0, 0.0, -0.44)


@dataclass(frozen=True)
class VoltWatt:
    """Volt-watt curve: the active power ceiling (share of rated) falls from 1 at ``v_pu[0]``
    to ``p2_fraction`` at ``v_pu[1]``."""

    v_pu: tuple[float, float] = (1.06, 1.10)
    p2_fraction: float = 0.2


@dataclass(frozen=True)
class InverterSettings:
    """Which autonomous functions the inverters run (None: off), and from which share of rated
    power available they provide reactive power."""

    volt_var: VoltVar | None = field(default_factory=VoltVar)
    volt_watt: VoltWatt | None = field(default_factory=VoltWatt)
    min_active_fraction: float = 0.05

    def __post_init__(self) -> None:
        errors = []
        if self.volt_var is not None:
            v, q = self.volt_var.v_pu, self.volt_var.q_fraction
            if len(v) != 4 or len(q) != 4 or not all(a < b for a, b in pairwise(v)):
                errors.append("volt_var: four strictly increasing voltages and four Q values")
            elif not all(abs(x) <= 1 for x in q) or not all(a >= b for a, b in pairwise(q)):
                errors.append("volt_var: Q within +-1 of rated and not increasing with voltage")
        if self.volt_watt is not None:
            v, p2 = self.volt_watt.v_pu, self.volt_watt.p2_fraction
            if len(v) != 2 or not v[0] < v[1]:
                errors.append("volt_watt: two strictly increasing voltages")
            if not 0 <= p2 <= 1:
                errors.append("volt_watt: p2_fraction within 0..1")
        if not 0 <= self.min_active_fraction <= 1:
            errors.append("min_active_fraction within 0..1")
        if errors:
            raise GridModelError("inverter settings: " + "; ".join(errors))


CATEGORY_B = InverterSettings()  # IEEE 1547-2018 Category B defaults


@dataclass(frozen=True)
class Inverters:
    """The homes' inverters, one entry per load of the net (0 kW rated: no inverter).

    ``available_kw``: active power the inverter could deliver in the interval (the PV), already
    counted in the load's net power. ``functions``: whether the power flow runs volt-var and
    volt-watt for that inverter (False for a physical inverter on a bench, whose measured P and
    Q already hold them); default: every inverter.
    """

    rated_kw: np.ndarray
    available_kw: np.ndarray
    functions: np.ndarray | None = None
    settings: InverterSettings = CATEGORY_B

    def checked(self, n_load: int) -> Inverters:
        """These inverters as arrays of ``n_load`` entries, or a one-line error."""
        rated = np.asarray(self.rated_kw, dtype=float)
        available = np.asarray(self.available_kw, dtype=float)
        functions = rated > 0 if self.functions is None else np.asarray(self.functions, dtype=bool)
        for name, array in (
            ("rated_kw", rated),
            ("available_kw", available),
            ("functions", functions),
        ):
            if array.shape != (n_load,):
                raise GridModelError(f"inverters: {name} needs {n_load} entries, one per load")
        for name, array in (("rated_kw", rated), ("available_kw", available)):
            if not np.isfinite(array).all() or (array < 0).any():
                raise GridModelError(f"inverters: {name} must be finite and >= 0")
        return Inverters(rated, available, functions & (rated > 0), self.settings)


@dataclass(frozen=True, eq=False)
class InverterPlan:
    """Inverters placed on a model: those with a rating at an energised non-slack bus, each at
    its load's injection columns (one; three on an unbalanced model: its phases, each with
    its share of the power). An inverter acts on its voltage: its column's, or the mean of its
    phases' weighted by their shares (a single-phase inverter: its own phase's)."""

    model: GridModel | UnbalancedModel
    loads: np.ndarray  # (m,) load position of each placed inverter
    cols: np.ndarray  # (m, w) its injection columns
    shares: np.ndarray  # (m, w) the share of its power at each
    factor: np.ndarray  # (m,) the load's scaling * in_service
    rated: np.ndarray  # (m,) per-unit
    functions: np.ndarray  # (m,) bool
    settings: InverterSettings
    z: np.ndarray | None  # (m w, m w) complex: Z between the inverters' columns (None: above
    # DENSE_Z_MAX columns, made for the inverters that need it)

    @classmethod
    def of(cls, model: GridModel | UnbalancedModel, inverters: Inverters,
           dense_z_max: int = DENSE_Z_MAX) -> InverterPlan:
        inverters = inverters.checked(len(model.load_pos))
        loads = np.flatnonzero((inverters.rated_kw > 0) & (model.load_pos >= 0))
        cols, shares = (a[loads] for a in model.load_columns)
        flat = cols.ravel()
        return cls(
            model=model,
            loads=loads,
            cols=cols,
            shares=shares,
            factor=model.load_factor[loads],
            rated=inverters.rated_kw[loads] * 1e-3 / model.base_mva,
            functions=inverters.functions[loads],
            settings=inverters.settings,
            z=z_between(model, flat) if len(flat) <= dense_z_max else None,
        )

    def voltages(self, node_voltages: np.ndarray) -> np.ndarray:
        """Each inverter's column voltages (K, m, w) from a result's node voltages."""
        return node_voltages[:, self.cols]

    def magnitudes(self, voltages: np.ndarray) -> np.ndarray:
        """The voltage each inverter acts on (K, m): its columns' magnitudes by their shares."""
        return (np.abs(voltages) * self.shares).sum(axis=2)

    @classmethod
    def none(cls, model: GridModel) -> InverterPlan:
        """No inverter responds: the plain power flow."""
        n_load = len(model.load_pos)
        return cls.of(model, Inverters(np.zeros(n_load), np.zeros(n_load)))

    @property
    def m(self) -> int:
        return len(self.loads)


def z_between(model: GridModel | UnbalancedModel, columns: np.ndarray) -> np.ndarray:
    """``Z[columns, columns]``: one substitution per column (a unit current there), in batches
    of `_Z_CHUNK` so that only (batch, nodes) is ever held."""
    z = np.zeros((len(columns), len(columns)), dtype=np.complex128)
    for first in range(0, len(columns), _Z_CHUNK):
        part = columns[first:first + _Z_CHUNK]
        unit = np.zeros((len(part), model.n_nodes), dtype=np.complex128)
        unit[np.arange(len(part)), part] = 1.0
        z[:, first:first + len(part)] = model.apply_z(unit)[:, columns].T
    return z


@dataclass(frozen=True)
class InverterSolution:
    """The power flow with the inverters' response, and that response (per unit, (K, m))."""

    result: Result
    p: np.ndarray  # active power delivered
    q: np.ndarray  # reactive power injected
    p_ceiling: np.ndarray  # min(available, volt-watt ceiling): what the export limit cut from

    def rows(self, rows) -> InverterSolution:
        return InverterSolution(
            self.result.rows(rows), self.p[rows], self.q[rows], self.p_ceiling[rows]
        )

    @staticmethod
    def concat(parts: list[InverterSolution]) -> InverterSolution:
        return InverterSolution(type(parts[0].result).concat([p.result for p in parts]),
                                *(np.concatenate([getattr(p, f) for p in parts])
                                  for f in ("p", "q", "p_ceiling")))

    def start(self, rows: int) -> Start:
        """This one-snapshot solution as the start of ``rows`` snapshots."""
        return Start(*(np.repeat(a, rows, axis=0)
                       for a in (self.p, self.q, self.result.node_voltages)))


@dataclass(frozen=True)
class Start:
    """Where snapshots' Newton steps begin, per unit: each inverter's P and Q (K, m), kept
    within the snapshot's own bounds, and the node voltages (K, n_nodes) its first power flow
    starts from. A solved snapshot near theirs saves them steps; the fixed point they reach
    is the same, within the tolerances (`_TOL_W`, the power flow's)."""

    p: np.ndarray
    q: np.ndarray
    node_voltages: np.ndarray

    def rows(self, rows) -> Start:
        return Start(self.p[rows], self.q[rows], self.node_voltages[rows])

    @staticmethod
    def concat(parts: list[Start]) -> Start:
        return Start(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("p", "q", "node_voltages")))


def solve_with_inverters(
    plan: InverterPlan, s: np.ndarray, available: np.ndarray, cap: np.ndarray,
    start: Start | None = None,
) -> InverterSolution:
    """Node injections ``s`` (K, n_nodes) with every inverter at its available power and no
    reactive power, solved with the inverters' response; ``available`` and ``cap`` (K, m) are
    per-unit, ``cap`` the export limit's ceiling on P (inf: none); the steps begin at
    ``start`` (None: the inverters at their ceiling with no reactive power, from the no-load
    voltages); in parts of at most `BATCH_VALUES` injections."""
    part = max(1, BATCH_VALUES // max(1, s.shape[1]))
    if s.shape[0] > part:
        return InverterSolution.concat([
            _solve_with_inverters(plan, s[a:a + part], available[a:a + part], cap[a:a + part],
                                  None if start is None else start.rows(slice(a, a + part)))
            for a in range(0, s.shape[0], part)])
    return _solve_with_inverters(plan, s, available, cap, start)


def _solve_with_inverters(plan: InverterPlan, s: np.ndarray, available: np.ndarray,
                          cap: np.ndarray, start: Start | None) -> InverterSolution:
    n_rows, m = s.shape[0], plan.m
    vv = plan.settings.volt_var
    q_max = plan.rated * (max(abs(x) for x in vv.q_fraction) if vv is not None else 0.0)
    p = np.clip(np.minimum(available, cap), 0.0, available)
    q = np.zeros((n_rows, m))
    v_start = None
    if start is not None:
        p = np.clip(start.p, 0.0, p)
        q = np.clip(start.q, -q_max, q_max)
        v_start = start.node_voltages
    if m == 0 or n_rows == 0:
        result = solve_injections(plan.model, s, v_start=v_start)
        return InverterSolution(result, p, q, available.copy())
    tol = _TOL_W * 1e-6 / plan.model.base_mva
    out_p, out_q, out_ceiling = p.copy(), q.copy(), available.copy()
    results: list[Result | None] = [None] * n_rows
    rows = np.arange(n_rows)  # rows still iterating
    step = np.zeros((n_rows, 2 * m))
    last_norm = np.full(n_rows, np.inf)
    halvings = np.zeros(n_rows, dtype=np.int64)
    for _ in range(_MAX_STEPS + _MAX_HALVINGS):
        result = solve_injections(
            plan.model, _with(plan, s[rows], available[rows], p[rows], q[rows]), v_start=v_start
        )
        voltage = plan.voltages(result.node_voltages)
        vm = plan.magnitudes(voltage)
        target_p, slope_p, ceiling = _p_targets(plan, vm, available[rows], cap[rows])
        target_q, slope_q = _q_targets(plan, vm, available[rows])
        residual = np.concatenate([p[rows] - target_p, q[rows] - target_q], axis=1)
        size = np.abs(residual).max(axis=1)
        norm = np.where(result.converged, np.sqrt((residual**2).sum(axis=1)), np.inf)
        finished = size < tol
        worse = ~finished & ~(norm < last_norm[rows])  # the last step did not help
        give_up = worse & ((halvings[rows] >= _MAX_HALVINGS) | np.isinf(last_norm[rows]))
        finished |= give_up
        worse &= ~give_up
        for k in np.flatnonzero(finished):
            row = rows[k]
            results[row] = result.rows([k])
            out_p[row], out_q[row], out_ceiling[row] = p[row], q[row], ceiling[k]
            if not size[k] < tol:  # the fixed point was not found: the snapshot has failed
                results[row] = results[row].failed()
        back = rows[worse]  # halve the last step
        step[back] /= 2
        halvings[back] += 1
        p[back] -= step[back, :m]
        q[back] -= step[back, m:]
        ahead = ~finished & ~worse
        forward = rows[ahead]
        if forward.size:
            delta = _newton_step(
                plan, voltage[ahead], slope_p[ahead], slope_q[ahead], residual[ahead]
            )
            last_norm[forward] = norm[ahead]
            halvings[forward] = 0
            before = np.concatenate([p[forward], q[forward]], axis=1)
            p[forward] = np.clip(p[forward] + delta[:, :m], 0.0, available[forward])
            q[forward] = np.clip(q[forward] + delta[:, m:], -q_max, q_max)
            step[forward] = np.concatenate([p[forward], q[forward]], axis=1) - before
        keep = ~finished
        rows, v_start = rows[keep], result.node_voltages[keep]
        if not rows.size:
            break
    for row in rows:  # out of steps: not converged
        results[row] = solve_injections(plan.model, s[[row]]).failed()
    return InverterSolution(type(results[0]).concat(results), out_p, out_q, out_ceiling)


def _with(plan: InverterPlan, s, available, p, q) -> np.ndarray:
    """Injections with the inverters' deviation from (available, 0) added at their columns."""
    out = s.copy()
    delta = plan.factor * ((p - available) + 1j * q)
    for c in range(plan.cols.shape[1]):  # inverters may share a column: add.at adds in turn
        np.add.at(out, (slice(None), plan.cols[:, c]), delta * plan.shares[:, c])
    return out


def _p_targets(plan: InverterPlan, vm, available, cap):
    """Active power each inverter settles at for these voltages, the slope dP/dV of that
    target, and the ceiling before the export limit (min of available and volt-watt)."""
    ceiling = available.copy()
    slope = np.zeros_like(vm)
    vw = plan.settings.volt_watt
    if vw is not None:
        v1, v2 = vw.v_pu
        share = np.interp(vm, [v1, v2], [1.0, vw.p2_fraction])
        on_slope = (vm > v1) & (vm < v2)
        limit = np.where(plan.functions, share * plan.rated, np.inf)
        binds = limit < ceiling
        ceiling = np.where(binds, limit, ceiling)
        slope = np.where(
            binds & on_slope & plan.functions, (vw.p2_fraction - 1.0) / (v2 - v1) * plan.rated, 0.0
        )
    target = np.minimum(ceiling, cap)
    slope = np.where(cap < ceiling, 0.0, slope)
    return np.clip(target, 0.0, available), np.where(target > 0, slope, 0.0), ceiling


def _q_targets(plan: InverterPlan, vm, available):
    """Reactive power each inverter settles at for these voltages, and the slope dQ/dV."""
    vv = plan.settings.volt_var
    if vv is None:
        zero = np.zeros_like(vm)
        return zero, zero
    v, share = np.asarray(vv.v_pu), np.asarray(vv.q_fraction)
    on = plan.functions & (available >= plan.settings.min_active_fraction * plan.rated)
    target = np.where(on, np.interp(vm, v, share) * plan.rated, 0.0)
    segment = np.clip(np.searchsorted(v, vm) - 1, 0, 2)
    inside = (vm > v[0]) & (vm < v[-1])
    slopes = np.diff(share) / np.diff(v)
    slope = np.where(on & inside, slopes[segment] * plan.rated, 0.0)
    return target, slope


def _newton_step(plan: InverterPlan, voltage, slope_p, slope_q, residual) -> np.ndarray:
    """Solve ``(I - diag(slopes) S) step = -residual`` per row, S the voltage-magnitude
    sensitivities to the inverters' P and Q: ``d|V_i| = Re(conj(V_i) Z_ij dI_j) / |V_i|`` with
    ``dI_j = (dP_j - 1j dQ_j) / conj(V_j)`` between columns, then each inverter's by the shares
    of its columns (its power injected, its voltage measured). Without the dense Z (a town),
    by `_newton_step_on_slopes`: the same equations, solved for fewer unknowns."""
    if plan.z is None:
        return _newton_step_on_slopes(plan, voltage, slope_p, slope_q, residual)
    n_rows, m, _ = voltage.shape
    sens = _sensitivities(plan, voltage, plan.z)  # (K, m, 2m): d|V_i|/d(P_j, Q_j)
    slopes = np.concatenate([slope_p, slope_q], axis=1)  # (K, 2m)
    jacobian = np.repeat(np.eye(2 * m)[None], n_rows, axis=0)
    jacobian -= slopes[:, :, None] * np.concatenate([sens, sens], axis=1)
    return np.linalg.solve(jacobian, -residual[:, :, None])[:, :, 0]


def _sensitivities(plan: InverterPlan, voltage, z, inverters=slice(None)) -> np.ndarray:
    """d|V_i|/d(P_j, Q_j) (K, k, 2k) between the ``inverters`` (all: every one), whose
    columns' Z is ``z``, at their column voltages ``voltage`` (K, k, w)."""
    n_rows, m, w = voltage.shape
    v = voltage.reshape(n_rows, m * w)
    ratio = (np.conj(v)[:, :, None] * z[None]) / (
        np.abs(v)[:, :, None] * np.conj(v)[:, None, :]
    )
    ratio *= np.repeat(plan.factor[inverters], w)[None, None, :]
    if w > 1:
        shares = plan.shares[inverters]
        ratio = np.einsum("kc,tkcld,ld->tkl", shares, ratio.reshape(n_rows, m, w, m, w), shares)
    return np.concatenate([ratio.real, ratio.imag], axis=2)


def _newton_step_on_slopes(plan: InverterPlan, voltage, slope_p, slope_q, residual
                           ) -> np.ndarray:
    """The Newton step of `_newton_step` without the dense Z. An unknown whose slope is 0 (a
    flat part of its curve, or no function) has a row of ``I`` in the Jacobian: its step is
    ``-residual``. Their effect on the voltages is one substitution per row; the others (the
    *active* unknowns: thousands at a town's noon) are then solved for per row by GMRES, each
    product with the Jacobian one substitution (`_Linearised`), to `_GMRES_RTOL`; a row
    GMRES does not solve so is solved densely, with Z made between its inverters' columns."""
    slopes = np.concatenate([slope_p, slope_q], axis=1)  # (K, 2m)
    step = -residual.copy()
    active = slopes != 0
    rows = np.flatnonzero(active.any(axis=1))
    if not rows.size:
        return step
    dv = _Linearised.at(plan, voltage[rows])(np.where(active[rows], 0.0, step[rows]))
    for r, t in enumerate(rows):
        on = np.flatnonzero(active[t])
        rhs = -residual[t, on] + slopes[t, on] * np.concatenate([dv[r], dv[r]])[on]
        solved = _gmres_on_slopes(plan, voltage[t], slopes[t], on, rhs)
        step[t, on] = solved if solved is not None else _dense_on_slopes(
            plan, voltage[t], slopes[t], on, rhs)
    return step


def _gmres_on_slopes(plan: InverterPlan, voltage, slopes, on, rhs) -> np.ndarray | None:
    """``(I - diag(slopes) S) x = rhs`` over the active unknowns ``on`` of one row, matrix
    free (S from one substitution per product), or None if GMRES does not get there."""
    full = np.zeros((1, 2 * plan.m))
    linearised = _Linearised.at(plan, voltage[None])

    def product(x: np.ndarray) -> np.ndarray:
        full[0, on] = x
        dv = linearised(full)[0]
        return x - slopes[on] * np.concatenate([dv, dv])[on]

    operator = sparse_linalg.LinearOperator((len(on), len(on)), matvec=product, dtype=float)
    x, info = sparse_linalg.gmres(operator, rhs, rtol=_GMRES_RTOL, atol=0.0,
                                  restart=min(len(on), _GMRES_RESTART), maxiter=_GMRES_CYCLES)
    return x if info == 0 and np.isfinite(x).all() else None


def _dense_on_slopes(plan: InverterPlan, voltage, slopes, on, rhs) -> np.ndarray:
    """The same system as `_gmres_on_slopes`, solved densely."""
    m, w = plan.m, voltage.shape[1]
    mine = np.unique(on % m)
    local = (mine[:, None] * w + np.arange(w)).ravel()  # of mine, in plan.cols order
    z = z_between(plan.model, plan.cols.ravel()[local])
    sens = _sensitivities(plan, voltage[mine][None], z, mine)[0]
    unknowns = np.concatenate([mine, m + mine])
    keep = np.isin(unknowns, on)
    jacobian = (np.eye(len(on))
                - slopes[unknowns[keep]][:, None] * np.concatenate([sens, sens])[keep][:, keep])
    return np.linalg.solve(jacobian, rhs)


@dataclass(frozen=True, eq=False)
class _Linearised:
    """The inverters' voltage magnitudes linearised at their column voltages (K, m, w):
    ``d|V_i| = Re(conj(V_i) Z_ij dI_j) / |V_i|`` with ``dI_j = (dP_j - 1j dQ_j) / conj(V_j)``
    between columns, each inverter's by the shares of its columns; one substitution per row.
    The voltages' parts are computed once, for the many products of a GMRES solve."""

    plan: InverterPlan
    current: np.ndarray  # (K, m, w): a column's current per unit of its inverter's dP - j dQ
    magnitude: np.ndarray  # (K, m, w): the inverter's d|V| per unit of its column's dV
    flat: np.ndarray  # (K m w,): each column's position in the rows' node currents

    @classmethod
    def at(cls, plan: InverterPlan, voltage: np.ndarray) -> _Linearised:
        n_rows = voltage.shape[0]
        flat = (np.arange(n_rows)[:, None, None] * plan.model.n_nodes + plan.cols[None]).ravel()
        return cls(plan, plan.factor[:, None] * plan.shares / np.conj(voltage),
                   plan.shares * np.conj(voltage) / np.abs(voltage), flat)

    def __call__(self, step: np.ndarray) -> np.ndarray:
        """d|V| (K, m) of each inverter when the inverters' P and Q move by ``step`` (K, 2m)."""
        n_rows, m = step.shape[0], self.plan.m
        currents = (step[:, :m] - 1j * step[:, m:])[:, :, None] * self.current
        size = n_rows * self.plan.model.n_nodes  # inverters may share a column: summed
        nodes = (np.bincount(self.flat, currents.real.ravel(), size)
                 + 1j * np.bincount(self.flat, currents.imag.ravel(), size))
        change = self.plan.model.apply_z(nodes.reshape(n_rows, -1)).ravel()[self.flat]
        return (self.magnitude * change.reshape(currents.shape)).real.sum(axis=2)
