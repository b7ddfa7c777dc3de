"""What the emulated instruments measure: a PV inverter, a household load, a grid simulator and
a meter on one common point, advanced by a clock that runs on the wall or is set explicitly.

Models speak driver API units (kW, kvar, V, A, Hz, kWh) and have one method per profile
operation (``set_active_power``, ``read_voltage``, ...), so a profile's operations map onto a
model by name. Sign at the point: the meter counts import from the grid as positive power.
"""

from __future__ import annotations

import importlib.util
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from instruments.errors import InstrumentError

SECONDS_PER_DAY = 86_400.0
#: SimBench profiles: one value per 15 minutes over the year 2016.
SIMBENCH_STEP_S = 900.0
SIMBENCH_NETWORK = "1-complete_data-mixed-all-0-sw"


class SimClock:
    """Simulated seconds since the emulator's start; ``wall`` follows time.monotonic()."""

    def __init__(self, mode: str = "wall") -> None:
        if mode not in ("wall", "manual"):
            raise InstrumentError(f"clock must be 'wall' or 'manual', not {mode!r}")
        self.mode = mode
        self._base = 0.0
        self._wall0 = time.monotonic()

    def now(self) -> float:
        if self.mode == "manual":
            return self._base
        return self._base + time.monotonic() - self._wall0

    def set_mode(self, mode: str) -> None:
        """Switch between wall and manual time without a jump."""
        t = self.now()
        SimClock.__init__(self, mode)
        self._base = t

    def set(self, t: float) -> None:
        """Jump to simulated time ``t`` (never backwards: integrated energy would be lost)."""
        if not math.isfinite(t) or t < self.now():
            raise InstrumentError(f"simulated time must move forward (now {self.now():.3f} s)")
        self._base, self._wall0 = t, time.monotonic()

    def advance(self, dt: float) -> None:
        if not math.isfinite(dt) or dt < 0:
            raise InstrumentError(f"cannot advance the clock by {dt!r} s")
        self.set(self.now() + dt)


# -- PV availability --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearSky:
    """A clear-sky day: sine-shaped from 06:00 to 18:00, peak at noon."""

    peak_kw: float

    def available_kw(self, seconds_of_year: float) -> float:
        hour = (seconds_of_year % SECONDS_PER_DAY) / 3600.0
        return self.peak_kw * max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0)) ** 1.5


@dataclass(frozen=True)
class SimbenchPv:
    """A SimBench PV profile (per-unit of peak), linearly interpolated, wrapping at year end."""

    peak_kw: float
    column: str

    def available_kw(self, seconds_of_year: float) -> float:
        values = simbench_profile(self.column)
        x = (seconds_of_year / SIMBENCH_STEP_S) % len(values)
        i = int(x)
        frac = x - i
        v = values[i] * (1 - frac) + values[(i + 1) % len(values)] * frac
        return self.peak_kw * float(v)


@cache
def simbench_profile(column: str) -> np.ndarray:
    """One column of SimBench's RESProfile.csv (shipped inside the simbench package, located
    without importing it: importing simbench pulls in pandapower, seconds of start-up)."""
    import pandas as pd

    spec = importlib.util.find_spec("simbench")
    if spec is None or not spec.submodule_search_locations:
        raise InstrumentError("SimBench PV profiles need the simbench package")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "networks" / SIMBENCH_NETWORK / "RESProfile.csv"
    try:
        frame = pd.read_csv(path, sep=";", usecols=[column])
    except ValueError:
        raise InstrumentError(f"SimBench has no RES profile {column!r} (try PV1..PV8)") from None
    return frame[column].to_numpy(dtype=float)


def pv_source(spec: str, peak_kw: float) -> ClearSky | SimbenchPv:
    """``clear-sky`` or ``simbench:<column>`` (e.g. ``simbench:PV5``)."""
    if spec == "clear-sky":
        return ClearSky(peak_kw)
    if spec.startswith("simbench:"):
        source = SimbenchPv(peak_kw, spec.removeprefix("simbench:"))
        simbench_profile(source.column)  # fail now, not on the first reading
        return source
    raise InstrumentError(f"pv must be 'clear-sky' or 'simbench:<column>', not {spec!r}")


def seconds_of_year(start: datetime) -> float:
    """Seconds from the start of ``start``'s year: where simulated time 0 lies in a profile."""
    return (start - start.replace(month=1, day=1, hour=0, minute=0, second=0)).total_seconds()


# -- devices ----------------------------------------------------------------------------------


class Device:
    """Common output state; ``step`` advances the device's own dynamics by ``dt`` seconds."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name = name
        self.enabled = enabled
        self._enabled_at_reset = enabled

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def read_state(self) -> bool:
        return self.enabled

    def reset(self) -> None:
        self.enabled = self._enabled_at_reset

    def step(self, t: float, dt: float) -> None:
        """Advance to time ``t`` from ``t - dt``."""


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear grid-support curve (IEEE 1547-2018 volt-var, volt-watt): x in percent
    of nominal voltage, y in percent of the reference (var or W maximum); flat beyond its ends."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        xs = [x for x, _ in self.points]
        if len(xs) < 2 or any(b <= a for a, b in pairwise(xs)):
            raise InstrumentError("a curve needs at least 2 points with rising voltages")

    def at(self, x: float) -> float:
        pts = self.points
        if x <= pts[0][0]:
            return pts[0][1]
        for (x0, y0), (x1, y1) in pairwise(pts):
            if x <= x1:
                return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        return pts[-1][1]


class PvInverter(Device):
    """Follows its setpoint (an export limit) at a limited ramp, capped by available PV power,
    its rating and, when enabled, the volt-watt curve; the volt-var curve, when enabled, sets
    its reactive power. Both curves act on the voltage of the point it feeds."""

    def __init__(
        self, name: str, rating_kw: float, ramp_kw_per_s: float, pv: ClearSky | SimbenchPv,
        v_nominal: float = 230.0,
    ) -> None:
        super().__init__(name, enabled=False)
        self.rating_kw = rating_kw
        self.ramp_kw_per_s = ramp_kw_per_s
        self.pv = pv
        self.v_nominal = v_nominal
        self.point: Point | None = None
        self.volt_watt: Curve | None = None
        self.volt_var: Curve | None = None
        self.energy_kwh = 0.0
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.p_set = self.q_set = self.p = self.q = 0.0
        self.pf: float | None = None

    def set_active_power(self, kw: float) -> None:
        self.p_set = kw

    def set_reactive_power(self, kvar: float) -> None:
        self.q_set, self.pf = kvar, None

    def set_power_factor(self, pf: float) -> None:
        if abs(pf) < 1e-6:
            raise ValueError("power factor 0")
        self.pf = pf

    def available_kw(self, t: float) -> float:
        point = self.point
        offset = point.seconds_of_year_at_zero if point else 0.0
        return min(self.rating_kw, self.pv.available_kw(offset + t))

    def grid_up(self) -> bool:
        """Anti-islanding: an inverter feeds only while the point is energised."""
        grid = self.point.grid if self.point else None
        return grid is None or grid.enabled

    def voltage_pct(self) -> float:
        """The point's voltage in percent of nominal (what the curves act on)."""
        return 100.0 * self.read_voltage() / self.v_nominal

    def limit_kw(self) -> float:
        """The active power it may export now: setpoint, rating and volt-watt curve."""
        limit = min(self.p_set, self.rating_kw)
        if self.volt_watt is not None:
            limit = min(limit, self.volt_watt.at(self.voltage_pct()) / 100.0 * self.rating_kw)
        return limit

    def step(self, t: float, dt: float) -> None:
        feeding = self.enabled and self.grid_up()
        target = max(0.0, min(self.limit_kw(), self.available_kw(t))) if feeding else 0.0
        self.p += max(-self.ramp_kw_per_s * dt, min(self.ramp_kw_per_s * dt, target - self.p))
        if not feeding:
            self.q = 0.0
        elif self.volt_var is not None:
            self.q = self.volt_var.at(self.voltage_pct()) / 100.0 * self.rating_kw
        elif self.pf is not None:
            self.q = math.copysign(self.p * math.tan(math.acos(min(1.0, abs(self.pf)))), self.pf)
        else:
            self.q = self.q_set
        self.energy_kwh += max(self.p, 0.0) * dt / 3600.0

    def read_active_power(self) -> float:
        return self.p

    def read_reactive_power(self) -> float:
        return self.q

    def read_voltage(self) -> float:
        return self.point.voltage() if self.point else 0.0

    def read_frequency(self) -> float:
        return self.point.frequency() if self.point else 0.0


class Load(Device):
    """A household load (or electronic load) drawing its setpoint while its input is on."""

    def __init__(self, name: str, p_kw: float) -> None:
        self.p_initial = p_kw
        super().__init__(name, enabled=True)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.p_set = self.p_initial

    def set_power(self, kw: float) -> None:
        self.p_set = kw

    def read_active_power(self) -> float:
        return self.p_set if self.enabled else 0.0


class GridSimulator(Device):
    """An AC source holding the point's voltage and frequency; it carries the net power."""

    def __init__(self, name: str, v_nominal: float, f_nominal: float) -> None:
        self.v_nominal, self.f_nominal = v_nominal, f_nominal
        super().__init__(name, enabled=True)
        self.point: Point | None = None
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.v_set, self.f_set = self.v_nominal, self.f_nominal

    def set_voltage(self, v: float) -> None:
        self.v_set = v

    def set_frequency(self, f: float) -> None:
        self.f_set = f

    def read_voltage(self) -> float:
        return self.point.voltage() if self.point else 0.0

    def read_frequency(self) -> float:
        return self.point.frequency() if self.point else 0.0

    def read_active_power(self) -> float:
        return self.point.import_kw() if self.point else 0.0


class Meter(Device):
    """Measures the point with seeded relative noise and integrates imported/exported energy."""

    def __init__(self, name: str, noise: float, seed: int) -> None:
        super().__init__(name, enabled=True)
        self.noise = noise
        self.rng = random.Random(seed)
        self.point: Point | None = None
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.integrating = True
        self.e_import = self.e_export = 0.0

    def reset_integration(self) -> None:
        self.e_import = self.e_export = 0.0

    def start_integration(self) -> None:
        self.integrating = True

    def stop_integration(self) -> None:
        self.integrating = False

    def step(self, t: float, dt: float) -> None:
        if self.integrating and self.point:
            p = self.point.import_kw()
            self.e_import += max(p, 0.0) * dt / 3600.0
            self.e_export += max(-p, 0.0) * dt / 3600.0

    def _noisy(self, value: float) -> float:
        return value * (1.0 + self.noise * self.rng.gauss(0.0, 1.0))

    def read_voltage(self) -> float:
        return self._noisy(self.point.voltage()) if self.point else 0.0

    def read_frequency(self) -> float:
        return self.point.frequency() if self.point else 0.0

    def read_active_power(self) -> float:
        return self._noisy(self.point.import_kw()) if self.point else 0.0

    def read_reactive_power(self) -> float:
        return self._noisy(self.point.import_kvar()) if self.point else 0.0

    def read_current(self) -> float:
        if not self.point or self.point.voltage() <= 0:
            return 0.0
        p, q = self.point.import_kw(), self.point.import_kvar()
        return self._noisy(1000.0 * math.hypot(p, q) / self.point.voltage())

    def read_energy_import(self) -> float:
        return self.e_import

    def read_energy_export(self) -> float:
        return self.e_export


class Point:
    """The common connection point: net power of its inverters and loads, and its voltage."""

    def __init__(
        self,
        v_nominal: float,
        f_nominal: float,
        v_per_kw: float,
        seconds_of_year_at_zero: float,
    ) -> None:
        self.v_nominal, self.f_nominal, self.v_per_kw = v_nominal, f_nominal, v_per_kw
        self.seconds_of_year_at_zero = seconds_of_year_at_zero
        self.inverters: list[PvInverter] = []
        self.loads: list[Load] = []
        self.grid: GridSimulator | None = None

    def attach(self, device: Device) -> None:
        if isinstance(device, PvInverter):
            self.inverters.append(device)
        elif isinstance(device, Load):
            self.loads.append(device)
        elif isinstance(device, GridSimulator):
            if self.grid is not None:
                raise InstrumentError("the emulated point has room for one grid simulator")
            self.grid = device
        device.point = self  # type: ignore[attr-defined]

    def import_kw(self) -> float:
        return sum(ld.read_active_power() for ld in self.loads) - sum(i.p for i in self.inverters)

    def import_kvar(self) -> float:
        return -sum(i.q for i in self.inverters)

    def voltage(self) -> float:
        if self.grid is not None and not self.grid.enabled:
            return 0.0
        source = self.grid.v_set if self.grid is not None else self.v_nominal
        return source - self.v_per_kw * self.import_kw()

    def frequency(self) -> float:
        if self.grid is None:
            return self.f_nominal
        return self.grid.f_set if self.grid.enabled else 0.0
