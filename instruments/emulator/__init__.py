"""Simulated instruments over real loopback sockets: SCPI devices speak their profiles' commands,
SunSpec devices serve a SunSpec register map over Modbus TCP, on the same physics.

In process::

    with Emulator(clock="manual") as emu:      # ephemeral ports
        emu.resources                          # {"pv1": "TCPIP0::127.0.0.1::PORT::SOCKET",
                                               #  "pv2": "modbus-tcp://127.0.0.1:PORT/1", ...}
        emu.advance(1.0)                       # simulated seconds (manual clock)
        emu.inject("pv1", "late", delay_s=1)   # faults on demand

Out of process (``testbed emulate``), a ``control`` endpoint after the devices takes the same
requests over SCPI: ``SIM:TIME?``, ``SIM:TIME <s>``, ``SIM:ADV <s>``, ``SIM:CLOCK WALL|MAN``,
``SIM:FAULT <device>,<drop|late|garbage|error|rescale>[,<count>[,<delay_s>[,<code>]]]``.
Physics advances lazily to the clock's time before every message is answered.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Self

from instruments.emulator.config import DeviceSpec, EmulatorConfig, load_config
from instruments.emulator.endpoint import (
    DATA_TYPE_ERROR,
    EXECUTION_ERROR,
    Command,
    CommandRefused,
    Endpoint,
    device_endpoint,
    template_pattern,
)
from instruments.emulator.physics import (
    Device,
    GridSimulator,
    Load,
    Meter,
    Point,
    PvInverter,
    SimClock,
    pv_source,
    seconds_of_year,
)
from instruments.emulator.server import Fault, ModbusFraming, ScpiFraming, Server
from instruments.emulator.sunspec import SunSpecMap
from instruments.errors import InstrumentError

CONTROL = "control"
CONTROL_IDN = "TESTBED,EMULATOR-CONTROL,0,1.0"
#: Most steps per catch-up, so a jump of days stays bounded (steps then grow beyond the
#: configured physics_step_s).
MAX_STEPS = 100_000
#: A fault kind beyond the transport's: a SunSpec device moves its scale factors a decade.
RESCALE = "rescale"
PORT_MAX = 65535


class Served:
    """What a client of a served bench needs: each endpoint's resource string and a bench
    description for ``instruments.open_bench`` (set by a subclass: ``config``, ``host`` and
    the bound ``ports``)."""

    config: EmulatorConfig
    host: str
    ports: dict[str, int]

    @property
    def resources(self) -> dict[str, str]:
        """VISA resource string of each device (not the control endpoint)."""
        return {spec.name: self._resource(spec.name) for spec in self.config.devices}

    @property
    def control_resource(self) -> str:
        return self._resource(CONTROL)

    def _resource(self, name: str) -> str:
        sunspec = next((s.sunspec for s in self.config.devices if s.name == name), None)
        if sunspec is not None:
            return f"modbus-tcp://{self.host}:{self.ports[name]}/{sunspec.unit_id}"
        return f"TCPIP0::{self.host}::{self.ports[name]}::SOCKET"

    def bench_config(self, limits: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
        """A bench description of this emulator for ``instruments.open_bench``.

        ``limits`` maps device names to limit tables; devices without one get the device's
        own range (export) and the emulator's nominal voltage band of +-10 %.
        """
        limits = limits or {}
        v = self.config.v_nominal
        devices = []
        for spec in self.config.devices:
            default = {"v_min": 0.9 * v, "v_max": 1.1 * v, **_power_limits(spec)}
            devices.append(
                {
                    "name": spec.name,
                    "role": spec.profile.role,
                    "resource": self._resource(spec.name),
                    "profile": spec.profile.name,
                    "limits": {**default, **limits.get(spec.name, {})},
                }
            )
        return {"device": devices}


class Emulator(Served):
    """An emulated bench served on loopback; start/stop it or use it as a context manager."""

    def __init__(
        self,
        config: Path | str | dict[str, Any] | None = None,
        port_base: int = 0,
        host: str = "127.0.0.1",
        clock: str | None = None,
        nodelay: bool = True,
    ) -> None:
        self.config: EmulatorConfig = load_config(config)
        _check_port_base(port_base, len(self.config.devices) + 1)
        self.port_base, self.host = port_base, host
        self.clock = SimClock(clock or self.config.clock)
        self._lock = threading.RLock()
        cfg = self.config
        self.point = Point(cfg.v_nominal, cfg.f_nominal, cfg.v_per_kw, seconds_of_year(cfg.start))
        self.devices: dict[str, Device] = {}
        self.sunspec: dict[str, SunSpecMap] = {}
        self._endpoints: dict[str, Endpoint] = {}
        for index, spec in enumerate(cfg.devices):
            device = self._build(spec, cfg.seed + index)
            self.devices[spec.name] = device
            if spec.sunspec is not None:
                self.sunspec[spec.name] = SunSpecMap(device, spec.sunspec)  # type: ignore[arg-type]
            else:
                self._endpoints[spec.name] = device_endpoint(spec.profile, device)
        self._endpoints[CONTROL] = self._control_endpoint()
        self._t = self.clock.now()
        self._server = Server(nodelay=nodelay)
        self.ports: dict[str, int] = {}

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Emulator:
        try:
            for index, name in enumerate([*self.devices, CONTROL]):
                port = 0 if self.port_base == 0 else self.port_base + index
                self.ports[name] = self._server.listen(name, self.host, port, self._framing(name))
        except InstrumentError:
            self._server.stop()
            raise
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _framing(self, name: str) -> ScpiFraming | ModbusFraming:
        if name in self.sunspec:
            regmap = self.sunspec[name]

            def answer(unit: int, pdu: bytes) -> bytes:
                with self._lock:
                    self._sync()
                    return regmap.handle(unit, pdu)

            return ModbusFraming(answer)
        return ScpiFraming(name, self._handle, self._queue_error)

    # -- simulated time and faults ------------------------------------------------------

    def now(self) -> float:
        """Simulated seconds since start."""
        return self.clock.now()

    def advance(self, dt: float) -> None:
        """Move simulated time forward by ``dt`` seconds (manual clock) and update physics."""
        with self._lock:
            self._sync()
            self.clock.advance(dt)
            self._sync()

    def set_time(self, t: float) -> None:
        """Jump simulated time forward to ``t`` seconds and update physics."""
        with self._lock:
            self._sync()
            self.clock.set(t)
            self._sync()

    def inject(
        self, device: str, kind: str, count: int = 1, delay_s: float = 1.0, code: int = 4
    ) -> None:
        """Arm a fault (drop, late, garbage, error) for ``device``'s next ``count`` messages;
        ``code`` is the Modbus exception an "error" answers. ``rescale`` moves a SunSpec
        device's power scale factors a decade now (and back on the next call)."""
        if kind == RESCALE:
            if device not in self.sunspec:
                raise InstrumentError(f"{device!r} is not an emulated SunSpec device")
            with self._lock:
                self._sync()
                self.sunspec[device].rescale()
            return
        self._server.inject(device, Fault(kind, count, delay_s, code))

    # -- internals ------------------------------------------------------------------------

    def _build(self, spec: DeviceSpec, seed: int) -> Device:
        cfg, opts, role = self.config, spec.options, spec.profile.role
        device: Device
        if role == "inverter":
            rating = _rating_kw(spec)
            peak = opts["pv_peak_kw"] if opts["pv_peak_kw"] is not None else rating
            pv = pv_source(opts["pv"], peak)
            device = PvInverter(spec.name, rating, float(opts["ramp_kw_per_s"]), pv, cfg.v_nominal)
        elif role == "load":
            device = Load(spec.name, float(opts["p_kw"]))
        elif role == "grid_simulator":
            device = GridSimulator(spec.name, cfg.v_nominal, cfg.f_nominal)
        else:
            device = Meter(spec.name, cfg.noise, seed)
        if role != "meter":
            self.point.attach(device)
        else:
            device.point = self.point  # type: ignore[attr-defined]
        return device

    def _sync(self) -> None:
        """Advance every device's physics to the clock's time."""
        t_end = self.clock.now()
        span = t_end - self._t
        if span <= 0:
            return
        steps = min(MAX_STEPS, max(1, math.ceil(span / self.config.physics_step_s)))
        dt = span / steps
        ordered = sorted(self.devices.values(), key=lambda d: isinstance(d, Meter))
        for k in range(1, steps + 1):
            t = self._t + k * dt
            for device in ordered:
                device.step(t, dt)
        self._t = t_end

    def _handle(self, key: str, line: str) -> str | None:
        with self._lock:
            self._sync()
            return self._endpoints[key].handle(line)

    def _queue_error(self, key: str, error: tuple[int, str]) -> None:
        with self._lock:
            self._endpoints[key].queue_error(error)

    def _control_endpoint(self) -> Endpoint:
        def number(arg: str | None) -> float:
            try:
                return float(arg or "")
            except ValueError:
                raise CommandRefused(DATA_TYPE_ERROR) from None

        def refusing(action: Any) -> Any:
            def run(arg: str | None) -> str | None:
                try:
                    return action(arg)
                except InstrumentError:
                    raise CommandRefused(EXECUTION_ERROR) from None

            return run

        def clock_mode(arg: str | None) -> None:
            modes = {"WALL": "wall", "MAN": "manual", "MANUAL": "manual"}
            if (arg or "").upper() not in modes:
                raise CommandRefused(DATA_TYPE_ERROR)
            self._sync()
            self.clock.set_mode(modes[(arg or "").upper()])

        def fault(arg: str | None) -> None:
            parts = (arg or "").split(",")
            if not 2 <= len(parts) <= 5:
                raise CommandRefused(DATA_TYPE_ERROR)
            count = int(number(parts[2])) if len(parts) > 2 else 1
            delay = number(parts[3]) if len(parts) > 3 else 1.0
            code = int(number(parts[4])) if len(parts) > 4 else 4
            self.inject(parts[0], parts[1].lower(), count, delay, code)

        table = {
            "SIM:TIME?": lambda _: f"{self.now():.6f}",
            "SIM:TIME {value}": refusing(lambda a: self.set_time(number(a))),
            "SIM:ADV {value}": refusing(lambda a: self.advance(number(a))),
            "SIM:CLOCK?": lambda _: "WALL" if self.clock.mode == "wall" else "MAN",
            "SIM:CLOCK {value}": clock_mode,
            "SIM:FAULT {value}": refusing(fault),
        }
        commands = [Command(template_pattern(t), run) for t, run in table.items()]
        return Endpoint(CONTROL_IDN, commands, reset=lambda: None)



def _power_limits(spec: DeviceSpec) -> dict[str, float]:
    role = spec.profile.role
    if role == "inverter":
        op = spec.profile.op("set_active_power")
        import_kw = 0.0 if op.minimum is None else max(0.0, -op.minimum * op.factor)
        return {
            "max_export_kw": _rating_kw(spec),
            "max_import_kw": import_kw,
            "ramp_kw_per_s": float(spec.options["ramp_kw_per_s"]),
        }
    if role == "load":
        return {"max_import_kw": _range_max(spec, "set_power"), "ramp_kw_per_s": 10.0}
    return {}


def _rating_kw(spec: DeviceSpec) -> float:
    """An inverter's rating: its SunSpec config's, or its SCPI profile's setpoint maximum."""
    if spec.profile.transport == "sunspec":
        return float(spec.options["rating_kw"])
    return _range_max(spec, "set_active_power")


def _range_max(spec: DeviceSpec, op_name: str) -> float:
    op = spec.profile.op(op_name)
    if op.maximum is None:
        raise InstrumentError(f"profile {spec.profile.name!r} needs a max for {op_name}")
    return op.maximum * op.factor


def _check_port_base(port_base: object, endpoints: int) -> None:
    """0 (ports from the OS) or a first port with room for every endpoint below 65536."""
    highest = PORT_MAX - endpoints + 1
    if isinstance(port_base, bool) or not isinstance(port_base, int) or not (
        port_base == 0 or 1 <= port_base <= highest
    ):
        raise InstrumentError(
            f"--port-base {port_base!r}: must be 0 (ports from the OS) or 1..{highest} "
            f"({endpoints} endpoints from there must stay below {PORT_MAX + 1})"
        )


def main(config: Path | None, port_base: int) -> int:
    """`testbed emulate`: serve until SIGTERM or Ctrl-C, printing each device's resource."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        with Emulator(config, port_base=port_base) as emu:
            for name, resource in emu.resources.items():
                print(f"{name}  {resource}")
            print(f"{CONTROL}  {emu.control_resource}")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
