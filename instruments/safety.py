"""The safety layer between every caller and every device.

``SafeDriver`` clamps each setpoint into the device's limits before anything is sent (never
trusting the device to refuse): power within [-max_import_kw, max_export_kw] and within
``ramp_kw_per_s`` of the previous command, reactive power within +-max_kvar, power factor at
least ``pf_min``, voltage and frequency within their bands. The check is made on the value as
it goes on the wire (after the profile's number format), so rounding cannot cross a limit.
Once tripped it refuses setpoints until reset. ``Watchdog`` trips the bench when the control
loop misses its deadline a number of consecutive times.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from instruments.drivers import OperationDriver
from instruments.errors import BenchTripped, ProfileError, RangeError
from instruments.identity import DeviceIdentity

Clock = Callable[[], float]


@dataclass(frozen=True)
class DeviceLimits:
    """Per-device limits (kW, kW/s, kvar, V, Hz); zero power limits allow nothing."""

    max_export_kw: float = 0.0
    max_import_kw: float = 0.0
    ramp_kw_per_s: float = 0.0
    v_min: float = 0.0
    v_max: float = 0.0
    max_kvar: float = 0.0
    pf_min: float = 1.0
    f_min: float = 47.5
    f_max: float = 52.5

    @classmethod
    def from_dict(cls, data: dict[str, Any], role: str, where: str) -> DeviceLimits:
        """Validated limits; the ones a role's setpoints depend on must be given."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(f"{where}: unknown limits {unknown} (known: {sorted(known)})")
        missing = [k for k in REQUIRED_LIMITS[role] if k not in data]
        if missing:
            raise ProfileError(f"{where}: a {role} needs limits {missing}")
        values = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ProfileError(f"{where}: limit {key} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ProfileError(f"{where}: limit {key} must be finite and >= 0")
            values[key] = float(value)
        limits = cls(**values)
        if limits.v_min > limits.v_max or limits.f_min > limits.f_max:
            raise ProfileError(f"{where}: v_min/f_min must not exceed v_max/f_max")
        if limits.pf_min > 1:
            raise ProfileError(f"{where}: pf_min must be at most 1")
        return limits


REQUIRED_LIMITS: dict[str, tuple[str, ...]] = {
    "inverter": ("max_export_kw", "max_import_kw", "ramp_kw_per_s"),
    "load": ("max_import_kw", "ramp_kw_per_s"),
    "grid_simulator": ("v_min", "v_max"),
    "meter": (),
}

#: The safe state per role, in order: output off first, then setpoints to zero.
SAFE_STATE: dict[str, tuple[tuple[str, float | None], ...]] = {
    "inverter": (
        ("disable", None),
        ("set_active_power", 0.0),
        ("set_reactive_power", 0.0),
        ("set_power_factor", 1.0),
    ),
    "load": (("disable", None), ("set_power", 0.0)),
    "grid_simulator": (("disable", None),),
    "meter": (),
}
#: Setpoints whose changes are ramp-limited (start from 0, the safe state).
RAMPED = {"set_active_power", "set_power"}
#: Halvings when searching the wire value nearest a bound (float resolution after ~60).
BISECTION_STEPS = 60


class SafeDriver:
    """A device driver (SCPI or SunSpec) behind limits, a ramp limit and a trip latch; same
    act/set/read API."""

    def __init__(
        self, driver: OperationDriver, limits: DeviceLimits, clock: Clock = time.monotonic
    ) -> None:
        self.driver = driver
        self.name, self.profile, self.limits = driver.name, driver.profile, limits
        self.role = driver.profile.role
        self.clock = clock
        self.tripped: str | None = None
        self._last: dict[str, tuple[float, float]] = {}
        for op_name in self._ramped():
            lo, hi = self.bounds(op_name)
            if not lo <= 0.0 <= hi:
                raise ProfileError(f"{self.name}: limits must allow 0 for {op_name}")
        self._reset_ramps()

    def bounds(self, op_name: str) -> tuple[float, float]:
        """The allowed range of a setpoint: the limits intersected with the device's range."""
        lim = self.limits
        lo, hi = {
            "set_active_power": (-lim.max_import_kw, lim.max_export_kw),
            "set_power": (0.0, lim.max_import_kw),
            "set_reactive_power": (-lim.max_kvar, lim.max_kvar),
            "set_power_factor": (-1.0, 1.0),
            "set_voltage": (lim.v_min, lim.v_max),
            "set_frequency": (lim.f_min, lim.f_max),
        }[op_name]
        device_lo, device_hi = self.driver.device_range(op_name)
        if device_lo is not None:
            lo = max(lo, device_lo)
        if device_hi is not None:
            hi = min(hi, device_hi)
        return lo, hi

    def act(self, op_name: str) -> None:
        if op_name == "enable":
            self._refuse_if_tripped(op_name)
        self.driver.act(op_name)

    def set(self, op_name: str, value: float) -> None:
        """Send ``value`` clamped into the limits (and ramp); the clamp is logged (rounding to
        the device's resolution alone is not a clamp)."""
        self._refuse_if_tripped(op_name)
        if not math.isfinite(value):
            raise RangeError(f"{self.name}: {op_name} {value!r} is not a number; nothing sent")
        sent = self.clamp(op_name, value)
        if sent != self.driver.wire_value(op_name, value):
            self.driver.log.record(self.name, "event", f"{op_name} {value:g} clamped to {sent:g}",
                                   setpoint=op_name, requested=value, sent=sent)
        self.driver.set(op_name, sent)

    def clamp(self, op_name: str, value: float) -> float:
        """The value to send for a request, as it will be on the wire; commits ramp state."""
        lo, hi = self.bounds(op_name)

        def wire(x: float) -> float:
            return self.driver.wire_value(op_name, x)

        if op_name == "set_power_factor":  # |pf| >= pf_min, keeping the requested sign
            pf_min = self.limits.pf_min
            lo, hi = (max(lo, pf_min), hi) if value >= 0 else (lo, min(hi, -pf_min))
        if op_name not in RAMPED:
            return _representable(wire, min(max(value, lo), hi), (lo, hi), None)
        now = self.clock()
        last, t_last = self._last[op_name]
        step = self.limits.ramp_kw_per_s * max(0.0, now - t_last)
        lo, hi = max(lo, last - step), min(hi, last + step)
        sent = _representable(wire, min(max(value, lo), hi), (lo, hi), last)
        self._last[op_name] = (sent, now)
        return sent

    def read(self, op_name: str) -> float | bool:
        return self.driver.read(op_name)

    def idn(self) -> str:
        return self.driver.idn()

    def identity(self) -> DeviceIdentity:
        return self.driver.identity()

    @property
    def busy(self) -> bool:
        return self.driver.busy

    def safe_state(self) -> None:
        """Output off and setpoints zero, bypassing the ramp; every step tried, first error raised."""
        failure: Exception | None = None
        for op_name, value in SAFE_STATE[self.role]:
            if not self.driver.supports(op_name):
                continue
            try:
                if value is None:
                    self.driver.act(op_name)
                else:
                    self.driver.set(op_name, value)
            except Exception as exc:  # noqa: BLE001 - keep going: the other steps still matter
                failure = failure or exc
        self._reset_ramps()
        if failure is not None:
            raise failure

    def close(self) -> None:
        self.driver.close()

    def _reset_ramps(self) -> None:
        now = self.clock()
        self._last = {op: (0.0, now) for op in self._ramped()}

    def _ramped(self) -> list[str]:
        return sorted(op for op in RAMPED if self.driver.supports(op))

    def _refuse_if_tripped(self, op_name: str) -> None:
        if self.tripped is not None:
            raise BenchTripped(f"{self.name}: {op_name} refused, bench tripped ({self.tripped})")


def _representable(
    wire: Callable[[float], float],
    target: float,
    bounds: tuple[float, float],
    anchor: float | None,
) -> float:
    """``target`` as sent on the wire; if its rounding leaves the bounds, the nearest wire
    value inside them, found by bisection towards ``anchor`` (default: the bounds' middle)."""
    lo, hi = bounds

    def inside(x: float) -> bool:
        return lo <= wire(x) <= hi

    if inside(target):
        return wire(target)
    good = (lo + hi) / 2 if anchor is None else anchor
    if not inside(good):
        raise RangeError(f"no value in [{lo:g}, {hi:g}] can be sent at the device's resolution")
    bad = target
    for _ in range(BISECTION_STEPS):
        middle = (good + bad) / 2
        if inside(middle):
            good = middle
        else:
            bad = middle
    return wire(good)


class Watchdog:
    """Trips when the loop misses ``max_misses`` consecutive deadlines of ``deadline_s``.

    A deadline is missed for every whole ``deadline_s`` that passes without a ``kick()``; a
    kick in time clears the count. It arms at the first kick and then watches from a thread.
    """

    def __init__(
        self,
        on_trip: Callable[[str], None],
        deadline_s: float,
        max_misses: int,
        clock: Clock = time.monotonic,
    ) -> None:
        if not deadline_s > 0 or max_misses < 1:
            raise ProfileError("watchdog needs deadline_s > 0 and max_misses >= 1")
        self.on_trip, self.deadline_s, self.max_misses = on_trip, deadline_s, max_misses
        self.clock = clock
        self.total_misses = 0
        self._carried = 0
        self._last: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def misses(self) -> int:
        """Consecutive deadlines missed so far."""
        with self._lock:
            return self._pending(self.clock())

    def kick(self) -> None:
        """The control loop finished a step."""
        now = self.clock()
        with self._lock:
            if self._last is not None:
                late = self._late(now)
                self.total_misses += late
                self._carried = self._carried + late if late else 0
            self._last = now
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
            self._thread.start()

    def check(self) -> bool:
        """Trip (once) if too many deadlines were missed; True when it tripped."""
        with self._lock:
            if self._last is None or self._pending(self.clock()) < self.max_misses:
                return False
            missed = self._pending(self.clock())
            self._last, self._carried = None, 0
        self.on_trip(f"watchdog: {missed} consecutive deadlines of {self.deadline_s:g} s missed")
        return True

    def stop(self) -> None:
        """Disarm; the next kick arms again."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            self._last, self._carried = None, 0

    def _late(self, now: float) -> int:
        assert self._last is not None
        return int((now - self._last) // self.deadline_s)

    def _pending(self, now: float) -> int:
        return 0 if self._last is None else self._carried + self._late(now)

    def _watch(self) -> None:
        poll = max(0.001, self.deadline_s / 4)
        while not self._stop.wait(poll):
            if self.check():
                self._thread = None
                return
