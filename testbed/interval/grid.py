"""Grid check: the interval on the feeder.

Each home's load carries its net consumption (the profiles; a physical home's last measurement
at its meter). The gate decides what the feeder lets through of the matched trades. Then the
grid operator's control of the interval as it will run (`control`): each home exports its PV
surplus, a physical home exactly what it sold (its inverter is held there), and the operator's
export limits (dynamic operating envelopes, `grid_models.envelopes`) curtail uncontracted export
first, contracted export only when that is not enough, while the modelled homes' inverters run
IEEE 1547-2018 volt-var and volt-watt (a physical inverter runs its own). The result is the
interval's power flow, what each cause curtailed, and the violations no device on the feeder
could have prevented, each with its cause. On an unbalanced feeder (its homes on their phases)
each trade injects and draws on its homes' phases, and the limits are checked per phase.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from grid_models import Feeder, Injections
from grid_models.envelopes import export_limits
from grid_models.inverters import Inverters
from grid_models.violations import Limits
from testbed.agents.grid_gate import GateDecision, GridGate
from testbed.events import GridSolved, GridViolation, Measured
from testbed.interval.clearing import Matched
from testbed.market.params import kw_to_wh, wh_to_kw
from testbed.neighbourhood import Neighbourhood


@dataclass(frozen=True)
class GridState:
    """The interval under the operator's control: bus voltages (the feeder's bus order; None
    when the power flow does not converge), each home's export limit at its meter (kW, inf: no
    limit), each home's PV energy curtailed (Wh, export limit and volt-watt), and the event."""

    vm_pu: np.ndarray | None
    limit_kw: np.ndarray
    curtailed_wh: tuple[int, ...]
    solved: GridSolved


class Grid:
    def __init__(self, feeder: Feeder, hood: Neighbourhood, gate: GridGate, limits: Limits,
                 interval_s: int) -> None:
        self.feeder, self.hood, self.gate, self.interval_s = feeder, hood, gate, interval_s
        self.limits = limits
        self._bus_rows = {bus: i for i, bus in enumerate(feeder.net.bus.index)}
        self._rated_kw = np.array(hood.pv_kwp)

    def bus_row(self, bus: int) -> int:
        return self._bus_rows[bus]

    def check(self, k: int, matched: Matched, measured: Mapping[int, Measured]
              ) -> list[GateDecision]:
        """The gate's decision on each matched trade of interval ``k``."""
        p, q = self._net_kw(k, measured)
        for t, seller, buyer in zip(matched.proposal.trades, matched.sellers, matched.buyers):
            kw = wh_to_kw(t.energy_wh, self.interval_s)  # the interval without its trades
            p[seller] += kw
            p[buyer] -= kw
        trades = matched.proposal.grid_trades
        if self.feeder.phases is not None:  # home i is load i
            phases = self.feeder.phases
            trades = tuple(replace(t, seller_phase=phases[s], buyer_phase=phases[b])
                           for t, s, b in zip(trades, matched.sellers, matched.buyers))
        return self.gate.decide(trades, self.injections(p, q), self.interval_s)

    def control(self, k: int, interval: int, measured: Mapping[int, Measured],
                sold_wh: Mapping[int, int], physical: Iterable[int]) -> GridState:
        """Interval ``k`` as it will run: ``sold_wh`` each home's granted sales, ``physical``
        the homes on the bench (their inverters held at their load plus what they sold)."""
        p, q = self._net_kw(k, measured)
        contracted = np.zeros(len(p))
        for home, wh in sold_wh.items():
            contracted[home] = wh_to_kw(wh, self.interval_s)
        bench = np.zeros(len(p), bool)
        for home in physical:
            bench[home], p[home] = True, -contracted[home]
        available = np.array([h.pv_kw[k] for h in self.hood.homes])
        inverters = Inverters(self._rated_kw, available, functions=~bench)
        control = export_limits(self.feeder, self.injections(p, q), inverters, contracted,
                                self.limits)
        result = control.result
        converged = bool(result.converged[0])
        lost = control.export_limited_kw + control.volt_watt_kw
        violations = tuple(
            GridViolation(v.kind, v.element, v.value, v.limit, v.cause)
            for v in control.violations.violations)
        solved = _solved(k, interval, result, converged,
                         export_limited_kw=float(control.export_limited_kw.sum()),
                         volt_watt_kw=float(control.volt_watt_kw.sum()), violations=violations)
        vm = np.array(solved.vm_pu) if converged else None
        return GridState(vm, control.limit_kw,
                         tuple(0 if bench[i] else kw_to_wh(kw, self.interval_s)
                               for i, kw in enumerate(lost)), solved)

    def injections(self, home_net_kw: np.ndarray, home_q_kvar: np.ndarray) -> Injections:
        """Feeder injections where each home's load carries its net consumption (PV
        included); the feeder's own generators are left out (their output is in the homes')."""
        n_sgen = len(self.feeder.net.sgen)
        return Injections(load_p_mw=home_net_kw / 1000.0, load_q_mvar=home_q_kvar / 1000.0,
                          sgen_p_mw=np.zeros(n_sgen), sgen_q_mvar=np.zeros(n_sgen))

    def _net_kw(self, k: int, measured: Mapping[int, Measured]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Each home's net consumption in interval k (kW, kvar) as the grid will see it."""
        p, q = self.hood.net_kw(k), self.hood.load_q_kvar[k].copy()
        for index, m in measured.items():
            p[index], q[index] = m.p_kw, m.q_kvar
        return p, q


def _solved(k: int, interval: int, result, converged: bool, **control) -> GridSolved:
    """The event of an interval's power flow (see `GridSolved`); per phase when unbalanced:
    a bus at its phase furthest from 1 pu (the worst phase colours the diagram), a line at
    its most loaded phase."""
    vm, lines = result.vm_pu[0], result.line_loading_percent[0]
    phased: dict = {}
    if vm.ndim == 2:  # (3, buses)
        worst = np.argmax(np.abs(vm - 1.0), axis=0)
        phased = {
            "vm_phase_pu": tuple(tuple(row.tolist()) for row in vm) if converged else (),
            "vm_phase_min_pu": tuple(vm.min(axis=1).tolist()) if converged else (),
            "vm_phase_max_pu": tuple(vm.max(axis=1).tolist()) if converged else (),
            "vuf_max_percent": _largest(result.vuf_percent[0], converged),
            "neutral_loading_max_percent": _largest(result.neutral_loading_percent[0],
                                                    converged),
        }
        vm_min, vm_max = vm.min(), vm.max()
        vm, lines = vm[worst, np.arange(vm.shape[1])], lines.max(axis=0, initial=0.0)
    else:
        vm_min, vm_max = vm.min(), vm.max()
    return GridSolved(
        k, interval,
        vm_pu=tuple(vm.tolist()) if converged else (),
        vm_min_pu=float(vm_min) if converged else float("nan"),
        vm_max_pu=float(vm_max) if converged else float("nan"),
        max_line_loading_percent=_largest(lines, converged),
        line_loading_percent=tuple(lines.tolist()) if converged else (),
        **control, **phased,
    )


def _largest(values: np.ndarray, converged: bool) -> float:
    """The largest value; 0 when there is none, NaN when the power flow did not converge."""
    return (float(values.max()) if values.size else 0.0) if converged else float("nan")
