"""A bench: its devices opened behind the safety layer, a watchdog, and safe state on the way out.

Bench file (TOML)::

    [bench]                       # optional
    watchdog_deadline_s = 1.0
    watchdog_max_misses = 3
    visa_library = "@py"

    [[device]]
    name = "pv1"
    role = "inverter"             # inverter | meter | grid_simulator | load
    resource = "TCPIP0::127.0.0.1::5025::SOCKET"   # SCPI over a raw socket (PyVISA), or
                                  # "modbus-tcp://HOST:PORT/UNIT" with a SunSpec profile
    profile = "testbed-pv-inverter"   # a shipped profile name or a .toml path
    timeout_ms = 500              # optional, else the profile's
    calibration_date = 2025-03-01 # optional, recorded with the device's identity
    [device.limits]
    max_export_kw = 3.0
    max_import_kw = 0.0
    ramp_kw_per_s = 1.0

Opening checks each device's identity (``*IDN?``, or SunSpec model 1) against its profile and
puts it into its safe state, so ramps start from a known zero. The safe state is applied again
on ``trip`` (watchdog, escaping exception, SIGTERM/SIGINT) and on ``close`` (also at
interpreter exit).
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Self

import pyvisa

from instruments.commandlog import CommandLog
from instruments.drivers import ROLE_DRIVERS, OperationDriver, RoleDriver
from instruments.errors import InstrumentError, ProfileError, ProfileMismatch
from instruments.identity import DeviceIdentity
from instruments.profiles import ROLES, Profile, load_profile, read_toml
from instruments.safety import Clock, DeviceLimits, SafeDriver, Watchdog
from instruments.scpi import ScpiDriver
from instruments.sunspec.driver import SunSpecDriver, is_modbus_resource, parse_resource

_BENCH_KEYS = {"watchdog_deadline_s", "watchdog_max_misses", "visa_library"}
_DEVICE_KEYS = {"name", "role", "resource", "profile", "timeout_ms", "limits", "calibration_date"}
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class DeviceConfig:
    name: str
    role: str
    resource: str
    profile: Profile
    limits: DeviceLimits
    timeout_ms: int | None = None
    calibration_date: date | None = None


@dataclass(frozen=True)
class BenchConfig:
    devices: tuple[DeviceConfig, ...]
    watchdog_deadline_s: float = 1.0
    watchdog_max_misses: int = 3
    visa_library: str = "@py"


def load_bench(source: Path | str | dict[str, Any]) -> BenchConfig:
    """A bench from a TOML file or an already parsed dict, checked against its profiles."""
    where = "bench"
    if not isinstance(source, dict):
        path = Path(source)
        where = str(path)
        source = read_toml(path, "bench file")
    unknown_tables = sorted(set(source) - {"bench", "device"})
    if unknown_tables:
        raise ProfileError(f"{where}: unknown tables {unknown_tables} (known: bench, device)")
    settings = source.get("bench", {})
    if not isinstance(settings, dict):
        raise ProfileError(f"{where}: [bench] must be a table")
    unknown = sorted(set(settings) - _BENCH_KEYS)
    if unknown:
        raise ProfileError(f"{where}: unknown [bench] keys {unknown}")
    _check_bench_settings(settings, where)
    entries = source.get("device", [])
    if not isinstance(entries, list) or not entries:
        raise ProfileError(f"{where}: needs at least one [[device]]")
    devices = tuple(_device(entry, where) for entry in entries)
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ProfileError(f"{where}: device names must be unique")
    try:
        return BenchConfig(devices=devices, **settings)
    except TypeError as exc:
        raise ProfileError(f"{where}: {exc}") from None


def _device(entry: Any, where: str) -> DeviceConfig:
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: each [[device]] must be a table")
    missing = sorted({"name", "role", "resource", "profile"} - set(entry))
    extra = sorted(set(entry) - _DEVICE_KEYS)
    if missing or extra:
        raise ProfileError(
            f"{where}: device {entry.get('name', '?')!r}: missing {missing}, unknown {extra}"
        )
    name, role = str(entry["name"]), entry["role"]
    if role not in ROLES:
        raise ProfileError(f"{where}: device {name!r}: role must be one of {', '.join(ROLES)}")
    profile = load_profile(entry["profile"])
    if profile.role != role:
        raise ProfileError(
            f"{where}: device {name!r} is a {role} but profile {profile.name!r} is a {profile.role}"
        )
    here = f"{where}: device {name!r}"
    resource = entry["resource"]
    if not isinstance(resource, str) or not resource:
        raise ProfileError(f"{here}: resource must be a non-empty string")
    if is_modbus_resource(resource):
        if profile.transport != "sunspec":
            raise ProfileError(f"{here}: {resource} is Modbus TCP but profile "
                               f"{profile.name!r} speaks {profile.transport}")
        try:
            parse_resource(resource)
        except ProfileError as exc:
            raise ProfileError(f"{here}: {exc}") from None
    elif profile.transport == "sunspec":
        raise ProfileError(f"{here}: a SunSpec profile needs a modbus-tcp://HOST:PORT/UNIT "
                           f"resource, not {resource!r}")
    limits_table = entry.get("limits", {})
    if not isinstance(limits_table, dict):
        raise ProfileError(f"{here}: limits must be a table")
    limits = DeviceLimits.from_dict(limits_table, role, here)
    timeout = entry.get("timeout_ms")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 600_000
    ):
        raise ProfileError(f"{here}: timeout_ms must be an integer 1..600000")
    calibrated = entry.get("calibration_date")
    if calibrated is not None and (not isinstance(calibrated, date) or hasattr(calibrated, "hour")):
        raise ProfileError(f"{here}: calibration_date must be a TOML date (2025-03-01)")
    return DeviceConfig(name, role, resource, profile, limits, timeout, calibrated)


def _check_bench_settings(settings: dict[str, Any], where: str) -> None:
    deadline = settings.get("watchdog_deadline_s", 1.0)
    misses = settings.get("watchdog_max_misses", 3)
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not (
        math.isfinite(deadline) and 0 < deadline <= 3600
    ):
        raise ProfileError(f"{where}: watchdog_deadline_s must be a number in (0, 3600]")
    if isinstance(misses, bool) or not isinstance(misses, int) or not 1 <= misses <= 1000:
        raise ProfileError(f"{where}: watchdog_max_misses must be an integer 1..1000")
    if not isinstance(settings.get("visa_library", "@py"), str):
        raise ProfileError(f"{where}: visa_library must be a string")


def check_identity(device: DeviceConfig, idn: str) -> None:
    """Refuse a device whose identity is not its profile's (the bench names the wrong one)."""
    if not device.profile.idn_matches(idn):
        raise ProfileMismatch(
            f"{device.name} at {device.resource} identifies as {idn.strip()!r}, "
            f"not profile {device.profile.name!r} ({device.profile.idn})"
        )


def connect(
    device: DeviceConfig, log: CommandLog, rm: pyvisa.ResourceManager
) -> OperationDriver:
    """A device's driver for its profile's transport: SCPI over PyVISA or SunSpec over Modbus."""
    if device.profile.transport == "sunspec":
        return SunSpecDriver(device.name, device.resource, device.profile, log, device.timeout_ms)
    return ScpiDriver(device.name, device.resource, device.profile, log, rm, device.timeout_ms)


def open_bench(
    source: Path | str | dict[str, Any] | BenchConfig,
    log: CommandLog | Path | str | None = None,
    clock: Clock = time.monotonic,
    handle_signals: bool = True,
    resource_manager: pyvisa.ResourceManager | None = None,
) -> Bench:
    """Open every device behind the safety layer; ``clock`` times ramps (simulated or wall)."""
    config = source if isinstance(source, BenchConfig) else load_bench(source)
    owns_log = not isinstance(log, CommandLog)
    if not isinstance(log, CommandLog):
        log = CommandLog(log)
    rm = resource_manager or pyvisa.ResourceManager(config.visa_library)
    safe: dict[str, SafeDriver] = {}
    try:
        for dev in config.devices:
            driver = connect(dev, log, rm)
            try:
                safe[dev.name] = SafeDriver(driver, dev.limits, clock)
            except BaseException:
                driver.close()
                raise
            check_identity(dev, driver.idn())
            safe[dev.name].safe_state()
    except BaseException:
        for driver in safe.values():
            driver.close()
        if owns_log:
            log.close()
        raise
    return Bench(config, safe, log, handle_signals, owns_log)


class Bench:
    """Role-typed devices (``bench["pv1"]``), their safe state, a watchdog and a command log."""

    def __init__(
        self,
        config: BenchConfig,
        safe: dict[str, SafeDriver],
        log: CommandLog,
        handle_signals: bool = True,
        owns_log: bool = True,
    ) -> None:
        self.config, self.log, self._safe = config, log, safe
        self._owns_log = owns_log
        self.devices: dict[str, RoleDriver] = {
            name: ROLE_DRIVERS[driver.role](driver) for name, driver in safe.items()
        }
        self.watchdog = Watchdog(self.trip, config.watchdog_deadline_s, config.watchdog_max_misses)
        self.tripped: str | None = None
        self.closed = False
        self._previous: dict[int, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        atexit.register(self.close)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.devices[name]
        except KeyError:
            raise InstrumentError(f"no device {name!r} on this bench") from None

    def by_role(self, role: str) -> list[Any]:
        """The devices of one role, in bench order."""
        return [d for d in self.devices.values() if d.role == role]

    def identities(self) -> dict[str, DeviceIdentity]:
        """Each device's identity and firmware as it reports them, with the calibration date
        the bench file gives (for the run folder's records)."""
        dates = {d.name: d.calibration_date for d in self.config.devices}
        return {
            name: dataclasses.replace(driver.identity(), calibration_date=dates[name])
            for name, driver in self._safe.items()
        }

    def safe_state(self, skip_busy: bool = False) -> list[str]:
        """Every device to its safe state; the failures, one line each (all devices tried)."""
        failures = []
        for name, driver in self._safe.items():
            if skip_busy and driver.busy:
                failures.append(f"{name}: busy, safe state deferred to close")
                continue
            try:
                driver.safe_state()
            except Exception as exc:  # noqa: BLE001 - one device failing must not spare others
                failures.append(f"{name}: {exc}")
        for line in failures:
            self.log.record("bench", "event", f"safe state failed: {line}")
        return failures

    def trip(self, reason: str, skip_busy: bool = False) -> None:
        """Latch every device (setpoints refused) and put the bench into its safe state."""
        self.log.record("bench", "event", f"trip: {reason}", trip=reason)
        self.tripped = self.tripped or reason
        for driver in self._safe.values():
            driver.tripped = self.tripped
        self.safe_state(skip_busy)

    def reset(self) -> None:
        """Accept setpoints again after a trip (devices stay in their safe state)."""
        self.log.record("bench", "event", f"reset after trip: {self.tripped}")
        self.tripped = None
        for driver in self._safe.values():
            driver.tripped = None

    def close(self) -> None:
        """Safe state, stop the watchdog, restore signal handlers, close the sessions."""
        if self.closed:
            return
        self.closed = True
        self.watchdog.stop()
        self.log.record("bench", "event", "close: safe state")
        self.safe_state()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        atexit.unregister(self.close)
        for driver in self._safe.values():
            driver.close()
        if self._owns_log:
            self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.trip(f"exception: {exc!r}")
        self.close()

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Trip at once (a device mid-exchange is made safe on the way out), then exit."""
        self.trip(f"signal {signal.Signals(signum).name}", skip_busy=True)
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)
