"""The grid gate: what the feeder lets through of the matched trades (proposer side only).

The gate runs before a clearing is proposed (floats allowed here); its decisions go on the
ledger as integers (`GateDecision` -> `Trade.granted_wh` and `Trade.constraint`), which the
contract only range-checks. `AcceptAll` is the gate without a grid model; `FeederGate` asks
`grid_models.check_trades` on a power-flow model of the feeder.

Constraint kind codes on the ledger (values and limits in millionths of their unit):

====  =====================  =====================
code  grid_models kind       unit of value / limit
====  =====================  =====================
0     (none)                 -
1     line_loading           percent
2     trafo_loading          percent
3     voltage_high           per unit
4     voltage_low            per unit
5     not_converged          - (no values: 0, 0)
6     off_feeder             - a bus the model cannot place (unknown, isolated, the slack)
7     trafo3w_loading        percent
8     neutral_loading        percent (a line's neutral current against the line's rating)
9     voltage_unbalance      percent (the voltage unbalance factor |V2| / |V1|)
255   anything else          as reported; the kind's name is kept in ``element``
====  =====================  =====================

On an unbalanced feeder the element names its phase (``bus 31 phase b``, ``line 12 phase a``)
or the neutral (``line 12 neutral``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from testbed.ledger.params import MAX_TEXT_BYTES
from testbed.ledger.transactions import Constraint
from testbed.market.params import NO_CONSTRAINT, kw_to_wh, wh_to_kw

CONSTRAINT_KINDS: dict[str, int] = {
    "line_loading": 1,
    "trafo_loading": 2,
    "voltage_high": 3,
    "voltage_low": 4,
    "not_converged": 5,
    "off_feeder": 6,
    "trafo3w_loading": 7,
    "neutral_loading": 8,
    "voltage_unbalance": 9,
}
OTHER_KIND = 255


@dataclass(frozen=True)
class GridTrade:
    """A matched trade as the grid sees it: who injects, who draws (bus and phase: a, b, c or
    abc), how much energy."""

    trade_id: int  # position in the clearing
    seller_bus: int
    buyer_bus: int
    energy_wh: int
    seller_phase: str = "abc"
    buyer_phase: str = "abc"


@dataclass(frozen=True)
class GateDecision:
    granted_wh: int
    constraint: Constraint = NO_CONSTRAINT


class GridGate(Protocol):
    def decide(
        self, trades: Sequence[GridTrade], base: Any, interval_seconds: int
    ) -> list[GateDecision]:
        """One decision per trade, in order: granted energy <= traded, and the binding
        constraint whenever less was granted. ``base`` is the interval's grid without its
        trades (`grid_models.Injections`), for a gate with a grid model."""


class AcceptAll:
    """Every trade granted in full: the gate of a market without a grid model."""

    def decide(
        self, trades: Sequence[GridTrade], base: Any, interval_seconds: int
    ) -> list[GateDecision]:
        return [GateDecision(t.energy_wh) for t in trades]


def ledger_constraint(element: str, kind: str, value: float, limit: float) -> Constraint:
    """A grid model's binding constraint as the ledger's integer `Constraint`."""
    code = CONSTRAINT_KINDS.get(kind, OTHER_KIND)
    name = element if code != OTHER_KIND else f"{kind}:{element}"
    name = name.encode()[:MAX_TEXT_BYTES].decode(errors="ignore")  # the ledger's text limit
    return Constraint(code, name, _micro(value), _micro(limit))


def _micro(value: float) -> int:
    """Millionths, rounded (a voltage to 1e-6 pu); a value the grid model could not compute
    (NaN) is 0."""
    return round(value * 1_000_000) if math.isfinite(value) else 0


class FeederGate:
    """Trades checked by a power flow of the feeder (``grid_models.check_trades``) on top of
    the interval's base injections; the homes' uncontracted export (their surplus sold outside
    the market) is curtailable and goes first, as the operator's export limits will take it
    (`testbed.interval.grid`), so a trade is cut only when that is not enough. A trade touching a
    bus the feeder model cannot place is rejected on its own (kind ``off_feeder``) rather than
    failing the whole interval."""

    def __init__(self, feeder: Any, limits: Any = None) -> None:
        self.feeder = feeder
        self.limits = limits
        self._model: Any = None

    def decide(
        self, trades: Sequence[GridTrade], base: Any, interval_seconds: int
    ) -> list[GateDecision]:
        from grid_models.feasibility import Limits, TradeRequest, check_trades  # power flow
        from grid_models.powerflow import model_of

        if self._model is None:
            self._model = model_of(self.feeder)
        placed = [t for t in trades if {t.seller_bus, t.buyer_bus} <= self._model.bus_pos.keys()]
        by_id = {}
        if placed:
            requests = [
                TradeRequest(t.trade_id, t.seller_bus, t.buyer_bus,
                             wh_to_kw(t.energy_wh, interval_seconds), t.seller_phase,
                             t.buyer_phase)
                for t in placed
            ]
            result = check_trades(self._model, base, requests, self.limits or Limits(),
                                  uncontracted_first=True)
            by_id = {d.trade_id: d for d in result.decisions}
        return [
            _decision(t, by_id[t.trade_id], interval_seconds) if t.trade_id in by_id
            else self._off_feeder(t)
            for t in trades
        ]

    def _off_feeder(self, trade: GridTrade) -> GateDecision:
        bus = trade.seller_bus if trade.seller_bus not in self._model.bus_pos else trade.buyer_bus
        return GateDecision(0, Constraint(CONSTRAINT_KINDS["off_feeder"], f"bus {bus}", 0, 0))


def _decision(trade: GridTrade, decision: Any, interval_seconds: int) -> GateDecision:
    granted = min(trade.energy_wh, kw_to_wh(decision.granted_kw, interval_seconds))
    if granted == trade.energy_wh:
        return GateDecision(granted)
    b = decision.binding
    constraint = (ledger_constraint(b.element, b.kind, b.value, b.limit) if b is not None
                  else Constraint(OTHER_KIND, f"{decision.status}:unspecified", 0, 0))
    return GateDecision(granted, constraint)
