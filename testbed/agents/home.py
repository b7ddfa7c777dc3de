"""A home as the simulation sees it: what it owns, its profiles, its forecasts, its meter.

Simulation side (floats allowed): a home's trader decides from a *forecast* of the next
interval (the actual profile value with a seeded relative error); the meter later reads the
*actual* profile, so deliveries differ from trades and settlement has work to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from testbed.ledger.transactions import Role
from testbed.market.params import kw_to_wh

LOAD_FORECAST_ERROR = 0.15  # default relative standard deviation of a home's load forecast
PV_FORECAST_ERROR = 0.25  # and of its PV forecast


class Kind(Enum):
    HOUSEHOLD = Role.CONSUMER
    PV_OWNER = Role.PROSUMER
    BATTERY_OWNER = Role.STORAGE


@dataclass(frozen=True)
class Battery:
    capacity_wh: int
    power_w: int
    reserve_wh: int  # never discharged below this


@dataclass(frozen=True)
class Home:
    """One home of the feeder: its bus, what it owns and its profiles (kW per 15 minutes)."""

    name: str
    bus: int
    kind: Kind
    load_kw: np.ndarray
    pv_kw: np.ndarray
    battery: Battery | None = None
    load_forecast_error: float = LOAD_FORECAST_ERROR
    pv_forecast_error: float = PV_FORECAST_ERROR


@dataclass(frozen=True)
class Forecast:
    """A home's forecast of an interval's mean load and PV power (kW)."""

    load_kw: float
    pv_kw: float


def forecast(actual_kw: float, relative_error: float, rng: np.random.Generator) -> float:
    """The actual value with a seeded relative error, never negative."""
    return max(0.0, actual_kw * (1.0 + relative_error * rng.standard_normal()))


def forecast_of(home: Home, step: int, rng: np.random.Generator) -> Forecast:
    """``home``'s forecast of profile step ``step``: its load, then (a home with PV) its PV,
    each with its seeded error."""
    load = forecast(home.load_kw[step], home.load_forecast_error, rng)
    pv = (forecast(home.pv_kw[step], home.pv_forecast_error, rng)
          if home.kind is Kind.PV_OWNER else 0.0)
    return Forecast(load, pv)


def starting_charge_wh(homes: list[Home] | tuple[Home, ...]) -> list[int]:
    """Each home's battery charge at the run's start: half full (0 without a battery)."""
    return [h.battery.capacity_wh // 2 if h.battery else 0 for h in homes]


def feasible_battery_wh(battery: Battery | None, soc_wh: int, battery_wh: int,
                        interval_seconds: int) -> int:
    """A trader's battery schedule cut to what the battery can do this interval: its power,
    its room when charging, its charge when discharging (0 without a battery)."""
    if battery is None:
        return 0
    step_wh = battery.power_w * interval_seconds // 3600
    return max(-min(step_wh, soc_wh), min(battery_wh, step_wh, battery.capacity_wh - soc_wh))


def metered(home: Home, step: int, battery_wh: int, interval_seconds: int) -> tuple[int, int]:
    """(imported, exported) Wh the meter reads: actual load and PV, plus the battery."""
    load, pv = home.load_kw[step], home.pv_kw[step]
    net = kw_to_wh(load - pv, interval_seconds) - kw_to_wh(pv - load, interval_seconds)
    net += battery_wh
    return max(net, 0), max(-net, 0)
