"""The operator's grid fees: a scenario's fee design turned into the market's genesis fee and
the signed `SetGridFees` tariff, from the feeder model (computed once, before the run).

Designs (the scenario's ``market.grid_fee``, a sweep's ``grid_fee`` axis):

* ``none``: no fee;
* ``flat:N``: N per kWh on every trade (in the genesis parameters);
* ``voltage_level:LV,MV``: LV per kWh between homes whose path stays at low voltage (below
  1 kV), MV per kWh when it crosses the medium-voltage level (a trade through the substation);
* ``distance:N``: by the electrical distance between seller and buyer: N per kWh for the pair
  of homes with the largest path impedance on the feeder, the others in proportion (rounded),
  so the design means the same on any feeder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from testbed.ledger.transactions import SetGridFees

MODES = ("none", "flat", "voltage_level", "distance")
LV_KV = 1.0
"""Nominal voltages below this are low voltage."""
_ARITY = {"none": 0, "flat": 1, "voltage_level": 2, "distance": 1}


@dataclass(frozen=True)
class GridFee:
    """A fee design: its mode and its rates (per kWh, see the module)."""

    mode: str = "none"
    rates_per_kwh: tuple[int, ...] = ()

    @property
    def highest_per_kwh(self) -> int:
        return max(self.rates_per_kwh, default=0)

    @property
    def genesis_per_kwh(self) -> int:
        """The flat fee in the market's parameters (0 unless the design is flat)."""
        return self.rates_per_kwh[0] if self.mode == "flat" else 0

    def __str__(self) -> str:
        rates = ",".join(str(r) for r in self.rates_per_kwh)
        return self.mode if not rates else f"{self.mode}:{rates}"


def parse_grid_fee(text: str) -> GridFee:
    """A design from its text (``flat:20``); `ValueError` saying what is wrong."""
    mode, _, rates = text.strip().partition(":")
    if mode not in MODES:
        raise ValueError(f"grid fee {text!r}: the mode is one of {', '.join(MODES)}")
    try:
        values = tuple(int(r) for r in rates.split(",")) if rates else ()
    except ValueError:
        raise ValueError(f"grid fee {text!r}: rates are whole currency units per kWh") from None
    if len(values) != _ARITY[mode] or any(v < 0 for v in values):
        example = {"none": "none", "flat": "flat:20", "voltage_level": "voltage_level:10,30",
                   "distance": "distance:25"}[mode]
        raise ValueError(f"grid fee {text!r}: expected {_ARITY[mode]} non-negative rate(s), "
                         f"as in {example!r}")
    return GridFee(mode, values)


def tariff(fee: GridFee, net: object, buses: Sequence[int], from_interval: int
           ) -> SetGridFees | None:
    """The operator's `SetGridFees` for the homes at ``buses`` of ``net`` from interval
    ``from_interval`` on, or None for a design the genesis fee covers (none, flat)."""
    if fee.mode in ("none", "flat"):
        return None
    from grid_models.distance import path_matrices  # the power-flow model: load it only here

    listed = sorted(set(buses))
    paths = path_matrices(net, listed)
    if fee.mode == "voltage_level":
        lv, mv = fee.rates_per_kwh
        pair = np.where(paths.max_vn_kv < LV_KV, lv, mv)
    else:
        z = np.where(np.isfinite(paths.impedance_ohm), paths.impedance_ohm, 0.0)
        far = z.max()
        pair = np.rint(fee.rates_per_kwh[0] * z / far) if far > 0 else np.zeros_like(z)
    return SetGridFees(from_interval, 0, tuple(int(b) for b in listed),
                       tuple(int(v) for v in pair.flat))
