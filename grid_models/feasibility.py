"""Which trades of one interval the feeder can carry, and the limit that binds each one.

Trades are active power only: the seller's bus injects ``kw`` more, the buyer's bus draws ``kw``
more, on top of the interval's base injections. Powers are handled in whole watts (requests are
rounded to the nearest watt, grants are whole watts), so the result is a plain integer decision.

Curtailment is greedy and deterministic. While the power flow of the granted set violates a limit
(the violation largest relative to its limit; ties go to transformers, then lines, then buses, in
table order), the sensitivity of that element to each bus a granted trade touches is measured by
the batch power flow (1 kW more export at each such bus, all in one batch); a trade's sensitivity
is its seller bus's minus its buyer bus's, rounded to 6 significant digits so that trades between
equivalent buses tie and the lowest trade id decides. The trade that loads the binding element
most per kW is cut to the largest whole-watt grant that keeps that element within its limit (a
batched search over candidate grants, each batch narrowing the bracket 32-fold), and the power
flow runs again for the next violation. A set that does not converge is infeasible: the largest
granted trade (ties: lowest id) is rejected and the loop goes on. If no trade loads the violated
element, the base interval itself violates the limit and every remaining trade is rejected: the
grid cannot certify any of them (``FeasibilityResult.base_violation`` names the limit).

Same inputs, same machine: the same result bit for bit (no randomness, no threads in the order
of floating-point sums). Across machines, BLAS rounding differs in the last bits, which can only
change a decision that sits within that rounding of a watt or of a 6-digit boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from grid_models.errors import GridModelError
from grid_models.feeders import Injections
from grid_models.network import GridModel
from grid_models.powerflow import (
    NetLike,
    SnapshotResult,
    element_injections,
    model_of,
    solve_injections,
)

Kind = Literal["voltage_high", "voltage_low", "line_loading", "trafo_loading", "not_converged"]
Status = Literal["accepted", "curtailed", "rejected"]

_PROBE_W = 1000.0  # sensitivity probe: this much more export at one bus
_SEARCH_POINTS = 33  # grants tried per batch when searching a trade's largest feasible grant
_RELIEF_DIGITS = 6  # significant digits kept, so near-equal sensitivities tie and ids decide


@dataclass(frozen=True)
class TradeRequest:
    """The seller exports ``kw`` at ``seller_bus``, the buyer imports it at ``buyer_bus``."""

    trade_id: int
    seller_bus: int
    buyer_bus: int
    kw: float


@dataclass(frozen=True)
class Limits:
    """Operating limits: voltage band (EN 50160 by default) and loading ceilings."""

    vm_min_pu: float = 0.90
    vm_max_pu: float = 1.10
    max_line_loading_percent: float = 100.0
    max_trafo_loading_percent: float = 100.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Constraint:
    """A violated limit: element ("line 12", "trafo 0", "bus 7", "grid"), kind, value, limit."""

    element: str
    kind: Kind
    value: float
    limit: float


@dataclass(frozen=True)
class TradeDecision:
    trade_id: int
    status: Status
    granted_kw: float
    binding: Constraint | None


@dataclass(frozen=True)
class FeasibilityResult:
    """One decision per trade, in request order; ``base_violation`` is set when even the base
    interval violates a limit (then no trade is granted)."""

    decisions: tuple[TradeDecision, ...]
    base_violation: Constraint | None = None

    def decision(self, trade_id: int) -> TradeDecision:
        return next(d for d in self.decisions if d.trade_id == trade_id)


def check_trades(
    net_or_feeder: NetLike,
    base: Injections,
    trades: Sequence[TradeRequest],
    limits: Limits = DEFAULT_LIMITS,
) -> FeasibilityResult:
    """Accept, curtail or reject each trade so that the interval's power flow is within limits."""
    model = model_of(net_or_feeder)
    s_base = _base_injections(model, base)
    seller, buyer = _trade_buses(model, trades)
    requested = np.array([_watts(t) for t in trades], dtype=np.int64)
    granted = requested.copy()
    binding: list[Constraint | None] = [None] * len(trades)
    ids = np.array([t.trade_id for t in trades], dtype=np.int64)
    if len(set(ids.tolist())) != len(ids):
        raise GridModelError("trade ids must be unique")

    def solve(grants: np.ndarray, extra: np.ndarray | None = None) -> SnapshotResult:
        """Power flow of grant vectors (K, n_trades), or one vector plus extra injections."""
        grants = np.atleast_2d(grants)
        s = np.repeat(s_base[None], grants.shape[0], axis=0)
        np.add.at(s, (slice(None), seller), _per_unit(model, grants))
        np.add.at(s, (slice(None), buyer), -_per_unit(model, grants))
        return solve_injections(model, s if extra is None else s + extra)

    violation = _worst_violation(model, solve(granted), limits)
    for _ in range(2 * len(trades) + 2):  # each round cuts one trade to its limit or to zero
        active = np.flatnonzero(granted > 0)
        if violation is None or not active.size:
            break
        if violation.constraint.kind == "not_converged":
            pick = active[np.lexsort((ids[active], -granted[active]))[0]]
            granted[pick] = 0
        else:
            relief = _relief_per_watt(
                model, solve, granted, violation, seller[active], buyer[active]
            )
            if not (relief > 0).any():  # no trade loads the element: the base violates it
                break
            pick = active[np.lexsort((ids[active], -relief))[0]]
            granted[pick] = _largest_grant_within(solve, granted, pick, violation)
        binding[pick] = violation.constraint
        violation = _worst_violation(model, solve(granted), limits)
    if violation is not None:  # the base itself is infeasible: the grid certifies no trade
        for j in np.flatnonzero(granted > 0):
            binding[j] = violation.constraint
        granted[:] = 0
    decisions = tuple(
        TradeDecision(
            trade_id=t.trade_id,
            status=_status(int(requested[j]), int(granted[j])),
            granted_kw=int(granted[j]) / 1000.0,
            binding=None if granted[j] == requested[j] else binding[j],
        )
        for j, t in enumerate(trades)
    )
    base_violation = None if violation is None else violation.constraint
    return FeasibilityResult(decisions, base_violation)


@dataclass(frozen=True)
class _Violation:
    constraint: Constraint
    column: str  # "vm" | "line" | "trafo"
    position: int
    sign: float  # +1: the value must stay below the limit; -1: above

    def excess(self, result: SnapshotResult) -> np.ndarray:
        """How far past the limit, per snapshot (NaN where not converged)."""
        values = {
            "vm": result.vm_pu,
            "line": result.line_loading_percent,
            "trafo": result.trafo_loading_percent,
        }[self.column][:, self.position]
        return self.sign * (values - self.constraint.limit)


def _worst_violation(model: GridModel, result: SnapshotResult, limits: Limits) -> _Violation | None:
    """The violation largest relative to its limit in a one-snapshot result, if any."""
    if not result.converged[0]:
        nan = float("nan")
        return _Violation(Constraint("grid", "not_converged", nan, nan), "", -1, 0.0)
    vm = result.vm_pu[0]
    candidates = [
        (
            "trafo",
            "trafo_loading",
            result.trafo_loading_percent[0],
            limits.max_trafo_loading_percent,
            1.0,
        ),
        (
            "line",
            "line_loading",
            result.line_loading_percent[0],
            limits.max_line_loading_percent,
            1.0,
        ),
        ("vm", "voltage_high", vm, limits.vm_max_pu, 1.0),
        ("vm", "voltage_low", vm, limits.vm_min_pu, -1.0),
    ]
    best: _Violation | None = None
    best_ratio = 0.0
    for column, kind, values, limit, sign in candidates:
        if not values.size:
            continue
        excess = np.nan_to_num(sign * (values - limit), nan=-np.inf)
        j = int(np.argmax(excess))
        ratio = excess[j] / abs(limit)
        if excess[j] > 0 and ratio > best_ratio:
            best_ratio = ratio
            constraint = Constraint(_element_name(model, column, j), kind, float(values[j]), limit)
            best = _Violation(constraint, column, j, sign)
    return best


def _largest_grant_within(solve, granted: np.ndarray, pick: int, violation: _Violation) -> int:
    """The largest whole-watt grant of trade ``pick`` (others fixed) that keeps the violated
    element within its limit: batched search, each batch narrowing the bracket 32-fold."""
    low, high = 0, int(granted[pick])  # high is known to violate
    while high - low > 1:
        candidates = np.unique(np.linspace(low, high, _SEARCH_POINTS).round().astype(np.int64))
        grants = np.repeat(granted[None], len(candidates), axis=0)
        grants[:, pick] = candidates
        result = solve(grants)
        within = result.converged & (np.nan_to_num(violation.excess(result), nan=np.inf) <= 0)
        if not within.any():
            return 0
        k = int(np.flatnonzero(within)[-1])
        if k == len(candidates) - 1:  # not monotonic at the top: stay on the safe side
            k -= 1
        low, high = int(candidates[k]), int(candidates[k + 1])
    return low


def _element_name(model: GridModel, column: str, j: int) -> str:
    if column == "vm":
        return f"bus {int(model.bus_index[j])}"
    index = model.line_index if column == "line" else model.trafo_index
    return f"{column} {int(index[j])}"


def _relief_per_watt(model, solve, granted, violation: _Violation, seller, buyer) -> np.ndarray:
    """How much the violation shrinks per watt cut from each trade (seller -> buyer).

    One batch: the granted set, then the same with 1 kW more export at each bus a trade touches.
    A trade's relief is the difference of its two buses' sensitivities, so trades between the
    same buses get the very same value.
    """
    buses = np.unique(np.concatenate([seller, buyer]))
    extra = np.zeros((len(buses) + 1, model.n_nodes), dtype=np.complex128)
    extra[np.arange(1, len(buses) + 1), buses] = _per_unit(model, _PROBE_W)
    result = solve(granted, extra)
    excess = violation.excess(result)
    per_bus = np.where(result.converged[1:], (excess[1:] - excess[0]) / _PROBE_W, 0.0)
    at = {int(b): k for k, b in enumerate(buses)}
    relief = np.array([per_bus[at[int(s)]] - per_bus[at[int(b)]] for s, b in zip(seller, buyer)])
    return _significant(relief, _RELIEF_DIGITS)


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits (zeros stay zero)."""
    out = np.zeros_like(values)
    nonzero = values != 0
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(values[nonzero]))))
    out[nonzero] = np.round(values[nonzero] * scale) / scale
    return out


def _per_unit(model: GridModel, watts):
    """Watts (a number or an array) as per-unit power on the model's base."""
    return np.asarray(watts, dtype=float) * (1e-6 / model.base_mva)


def _base_injections(model: GridModel, base: Injections) -> np.ndarray:
    arrays = [
        np.atleast_1d(np.asarray(a, dtype=float))
        for a in (base.load_p_mw, base.load_q_mvar, base.sgen_p_mw, base.sgen_q_mvar)
    ]
    n_load, n_sgen = len(model.load_pos), len(model.sgen_pos)
    shapes = [(n_load,), (n_load,), (n_sgen,), (n_sgen,)]
    if [a.shape for a in arrays] != shapes or not all(np.isfinite(a).all() for a in arrays):
        raise GridModelError(
            f"base injections must be finite arrays of {n_load} loads and {n_sgen} sgens"
        )
    return element_injections(model, *(a[None] for a in arrays))[0]


def _trade_buses(model: GridModel, trades: Sequence[TradeRequest]) -> tuple[np.ndarray, np.ndarray]:
    """PQ positions of each trade's seller and buyer bus."""
    positions = []
    for trade in trades:
        for bus in (trade.seller_bus, trade.buyer_bus):
            pos = model.bus_pos.get(int(bus))
            if pos is None:
                raise GridModelError(
                    f"trade {trade.trade_id}: bus {bus} is not an energised household bus of the "
                    "feeder (unknown, isolated or the slack)"
                )
            positions.append(pos)
    pairs = np.array(positions, dtype=np.int64).reshape(len(trades), 2)
    return pairs[:, 0], pairs[:, 1]


def _watts(trade: TradeRequest) -> int:
    if not np.isfinite(trade.kw) or trade.kw < 0:
        raise GridModelError(f"trade {trade.trade_id}: kw must be finite and >= 0, got {trade.kw}")
    return round(trade.kw * 1000)


def _status(requested: int, granted: int) -> Status:
    if granted == requested:
        return "accepted"
    return "curtailed" if granted > 0 else "rejected"
