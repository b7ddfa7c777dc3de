"""Setpoints: at an interval's start, what each physical home's devices are told. The inverter
is held at the home's load plus the export its owner sold and the grid granted (curtailment is
enforced at the inverter), an emulated household load at its profile, and a grid simulator at
the bus voltage of the interval's power flow (when there is one)."""

from __future__ import annotations

from dataclasses import dataclass

from testbed.agents.home import Home


@dataclass(frozen=True)
class Setpoints:
    inverter_kw: float
    load_kw: float
    v_pu: float | None


def setpoints(home: Home, k: int, sold_kw: float, v_pu: float | None) -> Setpoints:
    load_kw = float(home.load_kw[k])
    return Setpoints(load_kw + sold_kw, load_kw, v_pu)
