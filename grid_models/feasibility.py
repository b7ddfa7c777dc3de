"""Which trades of one interval the feeder can carry, and the limit that binds each one.

Trades are active power only: the seller's bus injects ``kw`` more, the buyer's bus draws ``kw``
more, on top of the interval's base injections (the interval without its trades). Powers are
handled in whole watts (requests are rounded to the nearest watt, grants are whole watts), so the
result is a plain integer decision.

The rule. A trade is accepted when it neither makes a violated element worse nor creates a new
violation; a trade that loads a violated element (its relief, below, is positive) is curtailed
to the largest grant that keeps the element within its limit, and to zero when the element is
violated without it too. Trades that relieve an element, or do not touch it, are never cut for
it: when the base interval itself violates a limit, the trades that reduce the violation are
kept, and so are the ones elsewhere on the feeder. Such a base violation is reported in
``FeasibilityResult.violations`` with its cause.

With ``uncontracted_first``, the homes' uncontracted export (the export left in the base: loads
whose power is negative) is curtailable too, and is cut before any trade, as the grid operator's
export limits will (`grid_models.envelopes`): a trade is then only curtailed when curtailing
every uncontracted export that loads the element is not enough.

How, precisely: the greedy rule of `grid_models.curtailment`, with the trades as units (class 1;
the uncontracted exports, one per exporting load, class 0). A trade's relief is measured by
1 kW less of it, so trades between the same two buses tie exactly and the lowest trade id goes
first. A set that does not converge is infeasible: the largest granted trade (ties: lowest id)
is rejected and the rule goes on.

Same inputs, same machine: the same result bit for bit (no randomness; each snapshot's power flow
is independent of the others in its batch). Across machines, floating-point differences in the
last bits could only change a decision that sits within that rounding of a watt or of a 6-digit
boundary.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from grid_models.curtailment import (
    Rows,
    Units,
    curtail,
    injection_arrays,
    reference_injections,
)
from grid_models.errors import GridModelError
from grid_models.feeders import Injections
from grid_models.inverters import InverterPlan
from grid_models.network import GridModel
from grid_models.phases import PHASES
from grid_models.powerflow import NetLike, element_injections, model_of
from grid_models.violations import (
    DEFAULT_LIMITS,
    Constraint,
    Kind,
    Limits,
    ViolationReport,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Constraint",
    "FeasibilityResult",
    "Kind",
    "Limits",
    "TradeDecision",
    "TradeRequest",
    "check_trades",
]

Status = Literal["accepted", "curtailed", "rejected"]


@dataclass(frozen=True)
class TradeRequest:
    """The seller exports ``kw`` at ``seller_bus``, the buyer imports it at ``buyer_bus``,
    each on its phase (``grid_models.unbalanced.PHASES``; a balanced model has none)."""

    trade_id: int
    seller_bus: int
    buyer_bus: int
    kw: float
    seller_phase: str = "abc"
    buyer_phase: str = "abc"


@dataclass(frozen=True)
class TradeDecision:
    trade_id: int
    status: Status
    granted_kw: float
    binding: Constraint | None


@dataclass(frozen=True)
class FeasibilityResult:
    """One decision per trade, in request order, and the violations left with the granted
    trades: none that any trade (or, with ``uncontracted_first``, uncontracted export) could
    relieve, each with its cause."""

    decisions: tuple[TradeDecision, ...]
    violations: ViolationReport = field(default_factory=ViolationReport)

    def decision(self, trade_id: int) -> TradeDecision:
        return next(d for d in self.decisions if d.trade_id == trade_id)


def check_trades(
    net_or_feeder: NetLike,
    base: Injections,
    trades: Sequence[TradeRequest],
    limits: Limits = DEFAULT_LIMITS,
    *,
    uncontracted_first: bool = False,
) -> FeasibilityResult:
    """Accept, curtail or reject each trade so that the interval's power flow is within limits
    (see the module docstring for the rule)."""
    model = model_of(net_or_feeder)
    case = _TradeCase(model, base, trades, uncontracted_first)
    plan = InverterPlan.none(model)
    outcome = curtail(plan, [case], limits)[0]
    n = len(trades)
    requested, granted = case.units.requested[-n:], outcome.granted[-n:]
    binding = outcome.binding[-n:]
    decisions = tuple(
        TradeDecision(
            trade_id=t.trade_id,
            status=_status(int(requested[j]), int(granted[j])),
            granted_kw=int(granted[j]) / 1000.0,
            binding=None if granted[j] == requested[j] else binding[j],
        )
        for j, t in enumerate(trades)
    )
    return FeasibilityResult(decisions, outcome.report)


class _TradeCase:
    """Trades (and uncontracted exports) as additive injections on the base."""

    def __init__(self, model: GridModel, base: Injections, trades, uncontracted_first: bool):
        self.model = model
        arrays = injection_arrays(model, base)
        ids = np.array([t.trade_id for t in trades], dtype=np.int64)
        if len(set(ids.tolist())) != len(ids):
            raise GridModelError("trade ids must be unique")
        seller, buyer = _trade_columns(model, trades)
        load_cols, load_shares = model.load_columns
        exporting = (
            np.flatnonzero((arrays[0] * model.load_factor < 0) & (model.load_pos >= 0))
            if uncontracted_first
            else np.zeros(0, np.int64)
        )
        export_w = np.round(-arrays[0][exporting] * model.load_factor[exporting] * 1e6)
        load_p = arrays[0].copy()
        load_p[exporting] = 0.0  # the base without the exports the units stand for
        self.s_base = element_injections(model, load_p[None], *(a[None] for a in arrays[1:]))[0]
        # unit u adds its grant (per unit of power) at its columns into[u], in shares, and
        # draws it at out_of[u] (-1: nowhere)
        exports = (load_cols[exporting], load_shares[exporting])
        self.into = [np.concatenate([exports[i], seller[i]]) for i in (0, 1)]
        self.out_of = [np.concatenate([np.full_like(exports[0], -1), buyer[0]]),
                       np.concatenate([exports[1], buyer[1]])]
        self.per_watt = 1e-6 / model.base_mva
        self.units = Units(
            requested=np.concatenate([export_w, [_watts(t) for t in trades]]).astype(np.int64),
            priority=np.concatenate([np.zeros(len(exporting)), np.ones(len(trades))]).astype(int),
            ids=np.concatenate([exporting, ids]).astype(np.int64),
            signature=tuple(("export", *_key(exports, u)) for u in range(len(exporting)))
            + tuple(("trade", *_key(seller, u), *_key(buyer, u)) for u in range(len(trades))),
        )
        self.references_s = reference_injections(model, arrays)

    def rows(self, grants: np.ndarray) -> Rows:
        """The base plus each unit's grant at its columns (`_layers`: the sums of
        ``np.add.at`` over the units' columns, bit for bit, in a few vector additions)."""
        s = np.repeat(self.s_base[None], len(grants), axis=0)
        power = grants * self.per_watt
        for columns, units, shares in self._layers:
            s[:, columns] += power[:, units] * shares
        return Rows(s, np.zeros((len(s), 0)), np.zeros((len(s), 0)))

    @functools.cached_property
    def _layers(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each unit's additions to the injections, (column, unit, signed share), in the
        order ``np.add.at`` would make them (by width, the injections then the draws, by
        unit), split into layers in which no column repeats: the k-th layer holds each
        column's k-th addition, so each column sums its additions in the same order."""
        columns, units, shares = [], [], []
        n = len(self.units)
        for w in range(self.into[0].shape[1]):
            columns.append(self.into[0][:, w])
            units.append(np.arange(n))
            shares.append(self.into[1][:, w])
            drawn = np.flatnonzero(self.out_of[0][:, w] >= 0)
            columns.append(self.out_of[0][drawn, w])
            units.append(drawn)
            shares.append(-self.out_of[1][drawn, w])  # -(p c) == p (-c), bit for bit
        column, unit, share = (np.concatenate(a) for a in (columns, units, shares))
        seen: dict[int, int] = {}
        layer = np.empty(len(column), dtype=np.int64)
        for k, c in enumerate(column.tolist()):
            layer[k] = seen.get(c, 0)
            seen[c] = layer[k] + 1
        return [(column[layer == k], unit[layer == k], share[layer == k])
                for k in range(int(layer.max(initial=-1)) + 1)]

    def references(self) -> Rows:
        return Rows(self.references_s, np.zeros((2, 0)), np.zeros((2, 0)))

    def cut_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """A unit's watt given up: a watt less injected at its columns and drawn at its
        buyer's."""
        out_of = np.where(self.out_of[0] >= 0, self.out_of[0], -1)
        cols = np.concatenate([self.into[0], out_of], axis=1)
        change = np.concatenate([-self.into[1], np.where(out_of >= 0, self.out_of[1], 0.0)],
                                axis=1) * self.per_watt
        return cols, change.astype(np.complex128)

    def probes(self, granted, solved, units, watts) -> np.ndarray:
        grants = np.repeat(granted[None], len(units), axis=0)
        grants[np.arange(len(units)), units] -= watts  # a trade delivers its grant
        return grants


def _trade_columns(model, trades: Sequence[TradeRequest]):
    """The injection columns and shares of each trade's seller and of its buyer, each a pair
    of (trades, width) arrays."""
    ends: list[list[tuple[np.ndarray, np.ndarray]]] = [[], []]
    for trade in trades:
        for side, bus, phase in ((0, trade.seller_bus, trade.seller_phase),
                                 (1, trade.buyer_bus, trade.buyer_phase)):
            pos = model.bus_pos.get(int(bus))
            if pos is None:
                raise GridModelError(
                    f"trade {trade.trade_id}: bus {bus} is not an energised household bus of the "
                    "feeder (unknown, isolated or the slack)"
                )
            if phase not in PHASES:
                raise GridModelError(f"trade {trade.trade_id}: unknown phase {phase!r} (one of "
                                     f"{', '.join(PHASES)})")
            ends[side].append(model.columns(pos, phase))
    width = model.columns(0)[0].shape[0]
    return tuple(
        (np.array([c for c, _ in side], dtype=np.int64).reshape(len(trades), width),
         np.array([w for _, w in side], dtype=float).reshape(len(trades), width))
        for side in ends
    )


def _key(columns: tuple[np.ndarray, np.ndarray], u: int) -> tuple:
    """Where a unit's power goes: equal keys, equal effect on the grid."""
    return (*columns[0][u].tolist(), *columns[1][u].tolist())


def _watts(trade: TradeRequest) -> int:
    if not np.isfinite(trade.kw) or trade.kw < 0:
        raise GridModelError(f"trade {trade.trade_id}: kw must be finite and >= 0, got {trade.kw}")
    return round(trade.kw * 1000)


def _status(requested: int, granted: int) -> Status:
    if granted == requested:
        return "accepted"
    return "curtailed" if granted > 0 else "rejected"
