"""Grid check: the interval on the feeder. Each home's load carries its net consumption (the
profiles; a physical home's last measurement at its meter); the gate decides what the feeder
lets through of the matched trades; then the interval's power flow as it will run, with the
curtailed sellers' inverters holding back what the grid refused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from grid_models import Feeder, Injections, solve_snapshots
from testbed.events import GridSolved
from testbed.interval.bench import Measurement
from testbed.interval.clearing import Matched
from testbed.market.grid_gate import GateDecision, GridGate
from testbed.market.params import wh_to_kw
from testbed.neighbourhood import Neighbourhood


@dataclass(frozen=True)
class GridState:
    """The interval's power flow: bus voltages in the feeder's bus order, and the event."""

    vm_pu: np.ndarray
    solved: GridSolved


class Grid:
    def __init__(self, feeder: Feeder, hood: Neighbourhood, gate: GridGate,
                 interval_s: int) -> None:
        self.feeder, self.hood, self.gate, self.interval_s = feeder, hood, gate, interval_s
        self._bus_rows = {bus: i for i, bus in enumerate(feeder.net.bus.index)}

    def bus_row(self, bus: int) -> int:
        return self._bus_rows[bus]

    def check(self, k: int, matched: Matched, measured: Mapping[int, Measurement]
              ) -> list[GateDecision]:
        """The gate's decision on each matched trade of interval ``k``."""
        p, q = self._net_kw(k, measured)
        for t, seller, buyer in zip(matched.proposal.trades, matched.sellers, matched.buyers):
            kw = wh_to_kw(t.energy_wh, self.interval_s)  # the interval without its trades
            p[seller] += kw
            p[buyer] -= kw
        return self.gate.decide(matched.proposal.grid_trades, self.injections(p, q),
                                self.interval_s)

    def solve(self, k: int, interval: int, measured: Mapping[int, Measurement],
              export_caps_wh: Mapping[int, int]) -> GridState | None:
        """Interval ``k``'s power flow with each capped home exporting at most its cap (Wh
        over the interval); None when it does not converge."""
        p, q = self._net_kw(k, measured)
        for home, wh in export_caps_wh.items():
            p[home] = max(p[home], -wh_to_kw(wh, self.interval_s))
        i = self.injections(p, q)
        result = solve_snapshots(self.feeder, i.load_p_mw[None], i.load_q_mvar[None],
                                 i.sgen_p_mw[None], i.sgen_q_mvar[None])
        if not result.converged[0]:
            return None
        vm, lines = result.vm_pu[0], result.line_loading_percent[0]
        return GridState(vm, GridSolved(k, interval, tuple(vm.tolist()), float(vm.min()),
                                        float(vm.max()),
                                        float(lines.max()) if lines.size else 0.0))

    def injections(self, home_net_kw: np.ndarray, home_q_kvar: np.ndarray) -> Injections:
        """Feeder injections where each home's load carries its net consumption (PV
        included); the feeder's own generators are left out (their output is in the homes')."""
        n_sgen = len(self.feeder.net.sgen)
        return Injections(load_p_mw=home_net_kw / 1000.0, load_q_mvar=home_q_kvar / 1000.0,
                          sgen_p_mw=np.zeros(n_sgen), sgen_q_mvar=np.zeros(n_sgen))

    def _net_kw(self, k: int, measured: Mapping[int, Measurement]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Each home's net consumption in interval k (kW, kvar) as the grid will see it."""
        p, q = self.hood.net_kw(k), self.hood.load_q_kvar[k].copy()
        for index, m in measured.items():
            p[index], q[index] = m.p_kw, m.q_kvar
        return p, q
