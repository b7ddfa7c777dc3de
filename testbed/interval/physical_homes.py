"""The physical homes on the bench (the instruments' stages of an interval): measure each home
at its meter every control step; at an interval's start, read the meter's energy of the
interval before and send the setpoints; devices safe however the run ends.

The inverter and meter of a physical home are instruments behind the safety layer.

A device whose scenario resource is ``"emulated"`` is served by the built-in emulator on a
loopback port (one emulated point per home: grid simulator, PV inverter, household load,
meter) and reached through PyVISA like any LAN instrument; its clock is the scenario's
simulated time, moved by the loop. A paced run's emulators run in processes of their own, as
real instruments do, so that its steps never wait for their physics (nor they for the
market's work); a simulation's in its own process, where they start at no cost. Any other
resource is a real instrument on wall-clock time, so its energies are scaled by the
real-time factor to stand for the scenario's interval.

The bench reports what its safety layer does as events: every command log line, every clamp,
a trip (an alarm) and the watchdog at each control step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from instruments import Bench, CommandLog, open_bench
from instruments.emulator import Emulator
from instruments.emulator.physics import simbench_profile
from instruments.emulator.process import EmulatorProcess
from testbed.events import (
    Alarm,
    CommandLogged,
    EventStream,
    Measured,
    SetpointClamped,
    WatchdogKicked,
)
from testbed.interrupts import interruptible
from testbed.scenario import PhysicalSpec

EMULATED = "emulated"
V_NOMINAL = 230.0  # LV phase voltage: the grid simulator's setpoint is the bus's pu times this
PV_PROFILE = "simbench:PV5"  # the emulated inverter's sun: the same SimBench profile as the model
PREROLL_S = 60.0
"""Emulated time runs this far ahead of the run's clock: the devices come up in their safe
state at emulated time 0, so the first setpoints (at run time 0) have a minute of ramp."""


@dataclass(frozen=True)
class BenchHome:
    """A physical home as the scenario places it: the feeder's home index, its PV size."""

    index: int
    spec: PhysicalSpec
    pv_kwp: float


@dataclass
class PhysicalHome:
    index: int
    name: str
    prefix: str
    emulated: bool
    energy_scale: float
    has_grid_simulator: bool
    start_import_kwh: float = 0.0
    start_export_kwh: float = 0.0


class PhysicalHomes:
    """Every physical home's devices on one bench (one watchdog, one command log).

    ``start`` is the run's start (emulated devices' clocks and sun follow it), ``seed`` seeds
    the emulated devices' noise, ``real_time_factor`` scales a real device's wall-clock
    energy to the scenario's interval, and ``apart`` serves the emulated devices from
    processes of their own."""

    def __init__(self, homes: Sequence[BenchHome], *, start: datetime, seed: int,
                 real_time_factor: float, log_path: Path, watchdog_deadline_s: float,
                 events: EventStream, physics_step_s: float = 1.0,
                 handle_signals: bool = True, apart: bool = True) -> None:
        self.physics_step_s, self.apart = physics_step_s, apart
        self.events = events
        self.t_s = 0.0  # the run's clock at the last control step
        if not apart and any(home.spec.inverter.resource == EMULATED for home in homes):
            # the emulated sun, read where an interrupt cannot be swallowed (`interrupts`)
            interruptible(simbench_profile, PV_PROFILE.removeprefix("simbench:"))
        self.emulators: list[Emulator | EmulatorProcess] = []
        self.homes: list[PhysicalHome] = []
        devices: list[dict[str, Any]] = []
        try:
            # the emulators start side by side, then each home's devices join the bench
            emulators = [self._add(home, start, seed, real_time_factor) for home in homes]
            for home, added, emu in zip(homes, self.homes, emulators, strict=True):
                devices += self._devices(home, added, emu)
            config = {
                "bench": {"watchdog_deadline_s": watchdog_deadline_s, "watchdog_max_misses": 3},
                "device": devices,
            }
            # Ramps are timed on the emulators' simulated clock only when every device is
            # emulated: a real device next to them must never ramp at simulated speed.
            all_emulated = all(home.emulated for home in self.homes)
            clock = self.emulators[0].now if self.emulators and all_emulated else time.monotonic
            self.bench: Bench | None = None  # a simulation without physical homes opens none
            if devices:
                self.log = CommandLog(log_path, listener=self._logged)
                self.bench = open_bench(config, log=self.log, clock=clock,
                                        handle_signals=handle_signals)
        except BaseException:
            for emu in self.emulators:
                emu.stop()
            raise
        for home in self.homes:
            if home.has_grid_simulator:  # the grid (and an emulated household) come up first
                self.bench[home.prefix + "grid_simulator"].enable()
            if home.emulated:
                self.bench[home.prefix + "load"].enable()
            self.bench[home.prefix + "inverter"].enable()
            self.bench[home.prefix + "meter"].start_integration()

    def _add(self, home: BenchHome, start: datetime, seed: int, rtf: float
             ) -> Emulator | EmulatorProcess | None:
        """``home`` on the bench; an emulated home's emulator, started."""
        spec, index = home.spec, home.index
        emulated = spec.inverter.resource == EMULATED
        self.homes.append(PhysicalHome(index, spec.home, f"{spec.home}.", emulated,
                                       1.0 if emulated else rtf,
                                       emulated or spec.grid_simulator is not None))
        if not emulated:
            return None
        served = EmulatorProcess if self.apart else Emulator
        self.emulators.append(served({
            "emulator": {"seed": seed + index, "clock": "manual",
                         "v_nominal": V_NOMINAL,
                         "physics_step_s": self.physics_step_s,
                         "start": start.replace(tzinfo=None) - timedelta(seconds=PREROLL_S)},
            "device": [
                {"name": "grid_simulator", "profile": "testbed-grid-simulator"},
                {"name": "inverter", "profile": spec.inverter.profile, "pv": PV_PROFILE,
                 "pv_peak_kw": home.pv_kwp,
                 "ramp_kw_per_s": spec.inverter.limits.get("ramp_kw_per_s", 1.0)},
                {"name": "load", "profile": "testbed-load"},
                {"name": "meter", "profile": spec.meter.profile},
            ],
        }).start())
        return self.emulators[-1]

    def _devices(self, home: BenchHome, added: PhysicalHome,
                 emu: Emulator | EmulatorProcess | None) -> list[dict[str, Any]]:
        """The bench entries of ``home``'s devices: its own, or its emulator's."""
        spec, prefix = home.spec, added.prefix
        if emu is None:
            roles = (("inverter", spec.inverter), ("meter", spec.meter),
                     ("grid_simulator", spec.grid_simulator))
            return [
                {"name": prefix + role, "role": role, "resource": dev.resource,
                 "profile": dev.profile, "limits": dev.limits,
                 **({"calibration_date": dev.calibration_date} if dev.calibration_date else {})}
                for role, dev in roles if dev is not None
            ]
        entries = emu.bench_config({"inverter": spec.inverter.limits})["device"]
        return [{**e, "name": prefix + e["name"]} for e in entries]

    def interrupted_by(self) -> str | None:
        """The signal that tripped the bench, if one did (none without physical homes)."""
        reason = (self.bench.tripped if self.bench is not None else None) or ""
        return reason.removeprefix("signal ") if reason.startswith("signal ") else None

    def identities(self) -> dict[str, dict[str, str | None]]:
        """Each device's identity, firmware and calibration date, for the run folder."""
        if self.bench is None:
            return {}
        return {name: ident.as_record() for name, ident in self.bench.identities().items()}

    def set_time(self, t: float) -> None:
        """Move the emulated devices' simulated clock to ``t`` seconds since the run's start."""
        self.t_s = t
        for emu in self.emulators:
            emu.set_time(t + PREROLL_S)

    def apply(self, home: PhysicalHome, inverter_kw: float, load_kw: float,
              v_pu: float | None) -> None:
        """Setpoints through the safety layer: inverter output, the household load (emulated
        homes), and the bus voltage to the grid simulator when the home has one."""
        self.bench[home.prefix + "inverter"].set_active_power(inverter_kw)
        if home.emulated:
            self.bench[home.prefix + "load"].set_power(load_kw)
        if home.has_grid_simulator and v_pu is not None:
            self.bench[home.prefix + "grid_simulator"].set_voltage(v_pu * V_NOMINAL)

    def measure(self, home: PhysicalHome, t_s: float) -> Measured:
        """The home's meter now (``t_s``, the run's clock)."""
        m = self.bench[home.prefix + "meter"].read()
        return Measured(t_s, home.index, m.p_kw, m.q_kvar, m.v, m.import_kwh, m.export_kwh)

    def interval_energy(self, home: PhysicalHome, m: Measured) -> tuple[int, int]:
        """(imported, exported) Wh since the last call, from the meter's counters."""
        imported = (m.import_kwh - home.start_import_kwh) * home.energy_scale * 1000
        exported = (m.export_kwh - home.start_export_kwh) * home.energy_scale * 1000
        home.start_import_kwh, home.start_export_kwh = m.import_kwh, m.export_kwh
        return max(0, round(imported)), max(0, round(exported))

    def kick(self) -> None:
        if self.bench is None:
            return
        dog = self.bench.watchdog
        dog.kick()
        self.events.publish(WatchdogKicked(self.t_s, dog.deadline_s, dog.misses,
                                           dog.max_misses, dog.total_misses))

    def _logged(self, entry: dict[str, Any]) -> None:
        """A command log line as events (from any thread: the watchdog's trips its own)."""
        device, text = str(entry["device"]), str(entry["text"])
        self.events.publish(CommandLogged(float(entry["t"]), device, str(entry["kind"]), text))
        if "requested" in entry:
            self.events.publish(SetpointClamped(self.t_s, device, str(entry["setpoint"]),
                                                float(entry["requested"]), float(entry["sent"])))
        elif "trip" in entry:
            self.events.publish(Alarm(self.t_s, device, "trip", str(entry["trip"])))

    def close(self) -> None:
        """Safe state for every device, then stop the emulators."""
        try:
            if self.bench is not None:
                self.bench.close()
        finally:
            for emu in self.emulators:
                emu.stop()
