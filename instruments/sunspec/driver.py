"""The SunSpec driver: a SunSpec device over Modbus TCP behind the same role operations as an
SCPI instrument (``act``/``set``/``read`` in kW, kvar, V, A, Hz, kWh), so the safety layer and
the role drivers need not know the transport.

pysunspec2 gives the model definitions (offsets, types, scale factors; ``models.py``), pymodbus
the transport (its synchronous TCP client, with ``TCP_NODELAY`` set on the socket). On connect
the driver finds the "SunS" marker at each of the profile's base addresses in turn (40000, 0,
50000), walks the model list, and binds every operation to the first candidate point the
device has (``points.py``).

The traps users of SunSpec tools report, and what the driver does about them:

* scale factors that change while the device runs: a reading is one request spanning the value
  and its scale factor, so the two always belong together; a setpoint is encoded with the cached
  scale factor and read back (value and scale factor in one request); when the device reports
  another scale factor the cache is renewed and the value written again;
* function code 06 versus 16: writes use 16 unless the profile fixes 06; a device answering
  ILLEGAL FUNCTION to 16 gets 06 from then on (register by register), logged;
* write-only control registers (the profile's ``write_only``, or a read-back refused with
  ILLEGAL DATA ADDRESS): no read-back; their scale factor is read before each write;
* a timeout or broken link: a fresh connection (dropping any late answer), discovery again,
  and the exchange retried once, as the SCPI driver does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from instruments.commandlog import CommandLog
from instruments.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentReplyError,
    ProfileError,
    ProfileMismatch,
    RangeError,
)
from instruments.identity import DeviceIdentity
from instruments.link import ReconnectingLink
from instruments.profiles import ROLE_OPS, UNITS, Operation, Profile, SunSpecSettings
from instruments.sunspec import models
from instruments.sunspec.points import (
    COMMON,
    IDENTITY_POINTS,
    PCT_WMAX,
    PF,
    WMAX_TARGETS,
    Target,
)

SCHEME = "modbus-tcp"
DEFAULT_PORT = 502
DEFAULT_UNIT = 1
#: Modbus exception codes (Modbus application protocol 1.1b3, section 7).
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
EXCEPTION_NAMES = {
    1: "ILLEGAL FUNCTION",
    2: "ILLEGAL DATA ADDRESS",
    3: "ILLEGAL DATA VALUE",
    4: "SERVER DEVICE FAILURE",
    5: "ACKNOWLEDGE",
    6: "SERVER DEVICE BUSY",
    10: "GATEWAY PATH UNAVAILABLE",
    11: "GATEWAY TARGET FAILED TO RESPOND",
}
#: Most models a device may list before discovery gives up (a broken chain never ends).
MAX_MODELS = 64

# pymodbus reports failed connects on its own logger; the driver reports them itself (one line
# to the caller, every event to the command log), so keep pymodbus's lines off stderr.
logging.getLogger("pymodbus").addHandler(logging.NullHandler())


class ModbusExceptionReply(InstrumentError):
    """The device answered a request with a Modbus exception code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parse_resource(resource: str) -> tuple[str, int, int]:
    """``modbus-tcp://HOST[:PORT][/UNIT]`` as (host, port, unit id)."""
    parts = urlsplit(resource)
    if parts.scheme != SCHEME or not parts.hostname:
        raise ProfileError(f"{resource!r} is not a {SCHEME}://HOST:PORT/UNIT resource")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ProfileError(f"{resource!r}: port must be a number in 1..65535") from None
    try:
        unit = int(parts.path.strip("/") or DEFAULT_UNIT)
    except ValueError:
        unit = -1
    if not 0 <= unit <= 247:
        raise ProfileError(f"{resource!r}: unit id must be a number in 0..247")
    return parts.hostname, port, unit


def is_modbus_resource(resource: str) -> bool:
    return resource.startswith(f"{SCHEME}://")


@dataclass(frozen=True)
class Model:
    """A model found on the device: its first register (the ID) and layout."""

    address: int
    layout: models.Layout


@dataclass(frozen=True)
class Binding:
    """An operation bound to one point of one model present on the device."""

    model: Model
    point: models.Point
    target: Target


class SunSpecDriver(ReconnectingLink):
    """One SunSpec device behind its profile. Values cross the API in kW, kvar, V, A, Hz, kWh."""

    link_errors = (ModbusException, OSError)

    def __init__(
        self,
        name: str,
        resource: str,
        profile: Profile,
        log: CommandLog | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        if profile.transport != "sunspec" or profile.sunspec is None:
            raise ProfileError(f"{name}: profile {profile.name!r} is not a SunSpec profile")
        super().__init__(name, resource, profile, log, timeout_ms)
        self.settings: SunSpecSettings = profile.sunspec
        self.host, self.port, self.unit = parse_resource(resource)
        self.base_address: int | None = None
        self.models: dict[int, Model] = {}
        self.bindings: dict[str, Binding] = {}
        self.w_max_w: float | None = None
        self.write_function = self.settings.write_function or 16
        self._write_only = set(self.settings.write_only)
        self._scale: dict[tuple[int, str], int | None] = {}
        self._written: dict[tuple[int, str], int] = {}
        self._baseline: dict[str, float] = {}
        self._client = ModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout_ms / 1000, retries=0,
            reconnect_delay=0,
        )
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # -- the transport-neutral driver API ---------------------------------------------------

    @property
    def role(self) -> str:
        return self.profile.role

    def supports(self, op_name: str) -> bool:
        return op_name in self.bindings or (
            op_name in self.profile.ops and not self.profile.ops[op_name].sunspec
        )

    def device_range(self, op_name: str) -> tuple[float | None, float | None]:
        """Setpoint range in API units: the export limit spans 0..WMax (a limit cannot ask an
        inverter to import), reactive power +-WMax, power factor -1..1."""
        binding = self._binding(op_name)
        unit = binding.target.unit
        if unit == PF:
            return -1.0, 1.0
        w_max_kw = self._w_max_kw()
        if op_name == "set_active_power":
            return 0.0, w_max_kw
        return -w_max_kw, w_max_kw

    def wire_value(self, op_name: str, value: float) -> float:
        """``value`` at the resolution the device's scale factor gives it (API units), from the
        scale factor last seen (read at connect, renewed whenever the device reports another)."""
        binding = self._binding(op_name)
        exponent = self._cached_scale(binding)
        device_value = self._to_device(binding, value)
        quantized = models.scaled(models.to_raw(device_value, exponent), exponent) or 0.0
        return self._from_device(binding, quantized)

    def act(self, op_name: str) -> None:
        op = self._op(op_name, "action")
        if not op.sunspec:
            self._software_action(op_name)
            return
        binding = self._binding(op_name)
        value = binding.target.value
        assert value is not None

        def run() -> None:
            self._write_before(binding, cached=False)
            self._write_raw(binding.model, binding.point, value)

        self._exchange(op_name, run)

    def set(self, op_name: str, value: float) -> None:
        """Write a setpoint in API units; refused (nothing sent) outside the device's range."""
        self._op(op_name, "set")
        binding = self._binding(op_name)
        lo, hi = self.device_range(op_name)
        if not math.isfinite(value) or (lo is not None and value < lo) or (
            hi is not None and value > hi
        ):
            raise RangeError(
                f"{self.name}: {op_name} {value:g} is outside the device range "
                f"[{lo:g}, {hi:g}]; nothing sent"
            )
        device_value = self._to_device(binding, value)
        self._exchange(op_name, lambda: self._set_point(binding, device_value))

    def read(self, op_name: str) -> float | bool:
        op = self._op(op_name, "read")
        binding = self._binding(op_name)
        raw, exponent = self._exchange(op_name, lambda: self._read_point(binding))
        if op.quantity == "state":
            if raw is None or isinstance(raw, str):
                raise InstrumentReplyError(f"{self.name}: {binding.point.name} not implemented")
            return int(raw) in binding.target.on
        value = models.scaled(raw, exponent)
        if value is None or not math.isfinite(value):
            raise InstrumentReplyError(
                f"{self.name}: no valid data for {binding.point.name} (model "
                f"{binding.model.layout.model_id}: not implemented)"
            )
        api = self._from_device(binding, value)
        return api - self._baseline.get(op_name, 0.0)

    def idn(self) -> str:
        """Model 1's manufacturer, model, serial and version, comma separated like ``*IDN?``."""
        return self.identity().line()

    def identity(self) -> DeviceIdentity:
        common = self.models[COMMON]
        values = self._exchange("identity", lambda: self._read_many(common, IDENTITY_POINTS))
        mn, md, sn, vr = (str(values[p][0] or "").strip() for p in IDENTITY_POINTS)
        return DeviceIdentity(self.name, self.role, self.resource, self.profile.name,
                              mn, md, sn, vr)

    def model_ids(self) -> list[int]:
        """The ids of the models the device lists, in map order."""
        return list(self.models)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    # -- curves and settings (IEEE 1547 functions without a role operation) -----------------

    def write_points(self, model_id: int, values: dict[str, float]) -> None:
        """Write points of one model in their units (scale factors applied), e.g. a volt-var
        curve: ``write_points(705, {"Crv1.Pt1.V": 92, "Crv1.Pt1.Var": 30, "Ena": 1})``."""
        model = self._model(model_id)

        def run() -> None:
            for name, value in values.items():
                point = model.layout.point(name)
                binding = Binding(model, point, Target((model_id,), name))
                self._set_point(binding, value, verify=False)

        self._exchange(f"write model {model_id}", run)

    def read_points(self, model_id: int, names: Sequence[str]) -> dict[str, float | None]:
        """Points of one model in their units (None: not implemented)."""
        model = self._model(model_id)
        values = self._exchange(f"read model {model_id}", lambda: self._read_many(model, names))
        return {name: models.scaled(raw, exponent) for name, (raw, exponent) in values.items()}

    # -- operations on points ---------------------------------------------------------------

    def _read_point(self, binding: Binding) -> tuple[models.Raw, int | None]:
        """A point and its scale factor, read in one request so they belong together."""
        point, layout = binding.point, binding.model.layout
        sf_point = layout.scale_point(point)
        span = [point] + ([sf_point] if sf_point else [])
        start = min(p.offset for p in span)
        end = max(p.offset + p.size for p in span)
        regs = self._read_registers(binding.model.address + start, end - start)
        raw = point.decode(regs[point.offset - start :])
        if sf_point is None:
            return raw, point.sf if isinstance(point.sf, int) else None
        exponent = sf_point.decode(regs[sf_point.offset - start :])
        key = (binding.model.address, point.name)
        if key in self._scale and self._scale[key] != exponent:
            self.log.record(self.name, "event",
                            f"scale factor {sf_point.name} now {exponent} "
                            f"(was {self._scale[key]})")
        self._scale[key] = exponent  # type: ignore[assignment]
        return raw, exponent  # type: ignore[return-value]

    def _read_many(
        self, model: Model, names: Sequence[str]
    ) -> dict[str, tuple[models.Raw, int | None]]:
        """Several points of one model with their scale factors, in as few requests as fit."""
        points = [model.layout.point(n) for n in names]
        wanted = points + [s for p in points if (s := model.layout.scale_point(p))]
        start = min(p.offset for p in wanted)
        end = max(p.offset + p.size for p in wanted)
        regs: list[int] = []
        for chunk in range(start, end, models.MAX_READ_REGISTERS):
            count = min(models.MAX_READ_REGISTERS, end - chunk)
            regs += self._read_registers(model.address + chunk, count)
        out: dict[str, tuple[models.Raw, int | None]] = {}
        for point in points:
            sf_point = model.layout.scale_point(point)
            exponent = point.sf if isinstance(point.sf, int) else None
            if sf_point is not None:
                exponent = sf_point.decode(regs[sf_point.offset - start :])  # type: ignore[assignment]
            out[point.name] = (point.decode(regs[point.offset - start :]), exponent)
        return out

    def _set_point(self, binding: Binding, device_value: float, verify: bool = True) -> None:
        """Write a value in the point's unit; verify it by reading it back (with its scale
        factor) unless the point is write-only, and write it again if the scale changed."""
        target, point = binding.target, binding.point
        self._write_before(binding, cached=True)
        if target.excitation:
            ext = binding.model.layout.point(target.excitation)
            self._write_raw(binding.model, ext, 0 if device_value >= 0 else 1)
            device_value = abs(device_value)
        readable = verify and point.name not in self._write_only
        exponent = self._cached_scale(binding) if readable else self._fresh_scale(binding)
        raw = self._raw_for(binding, device_value, exponent)
        try:
            self._write_raw(binding.model, point, raw)
        except ModbusExceptionReply as exc:
            # Refused as out of range: perhaps encoded with a scale factor the device dropped.
            if exc.code != ILLEGAL_VALUE or not readable:
                raise
            fresh = self._fresh_scale(binding)
            if fresh == exponent:
                raise
            self.log.record(self.name, "event", f"{point.name} refused at scale 10^"
                            f"{exponent or 0}; the device now uses 10^{fresh or 0}")
            exponent = fresh
            raw = self._raw_for(binding, device_value, exponent)
            self._write_raw(binding.model, point, raw)
        if not readable:
            return
        try:
            got, now = self._read_point(binding)
        except ModbusExceptionReply as exc:
            if exc.code != ILLEGAL_ADDRESS:
                raise
            self._write_only.add(point.name)
            self.log.record(self.name, "event", f"{point.name} is write-only: no read-back")
            return
        if now != exponent:  # the device changed its scale factor: encode again
            raw = self._raw_for(binding, device_value, now)
            self._write_raw(binding.model, point, raw)
            got, now = self._read_point(binding)
        if got is None:  # reads back "not implemented": a write-only register
            self._write_only.add(point.name)
            self.log.record(self.name, "event", f"{point.name} is write-only: no read-back")
            return
        if got != raw:
            raise InstrumentReplyError(
                f"{self.name}: wrote {point.name} = {raw} (x10^{now or 0}) but the device "
                f"holds {got}"
            )

    def _raw_for(self, binding: Binding, device_value: float, exponent: int | None) -> int:
        raw = models.to_raw(device_value, exponent)
        point = binding.point
        lo, hi = point.raw_limits()
        if not lo <= raw <= hi:
            raise RangeError(
                f"{self.name}: {point.name} {device_value:g} does not fit a {point.type} "
                f"at scale 10^{exponent or 0}; nothing sent"
            )
        return raw

    def _write_before(self, binding: Binding, cached: bool) -> None:
        """A target's enable flags and modes; ``cached`` skips those already written on this
        connection (setpoints are frequent, their flags rarely change)."""
        for name, value in binding.target.before:
            key = (binding.model.address, name)
            if not (cached and self._written.get(key) == value):
                self._write_raw(binding.model, binding.model.layout.point(name), value)
                self._written[key] = value

    def _cached_scale(self, binding: Binding) -> int | None:
        key = (binding.model.address, binding.point.name)
        if key not in self._scale:
            return self._fresh_scale(binding)
        return self._scale[key]

    def _fresh_scale(self, binding: Binding) -> int | None:
        point, layout = binding.point, binding.model.layout
        sf_point = layout.scale_point(point)
        if sf_point is None:
            return point.sf if isinstance(point.sf, int) else None
        regs = self._read_registers(binding.model.address + sf_point.offset, 1)
        exponent = sf_point.decode(regs)
        self._scale[(binding.model.address, point.name)] = exponent  # type: ignore[assignment]
        return exponent  # type: ignore[return-value]

    def _software_action(self, op_name: str) -> None:
        """SunSpec meters' accumulators never reset: keep the baseline here instead."""
        if op_name == "reset_integration":
            for read_op in ("read_energy_import", "read_energy_export"):
                self._baseline.pop(read_op, None)
                self._baseline[read_op] = float(self.read(read_op))
            self.log.record(self.name, "event", f"energy baseline {self._baseline}")

    # -- unit conversion --------------------------------------------------------------------

    def _to_device(self, binding: Binding, api_value: float) -> float:
        unit = binding.target.unit
        if unit == PCT_WMAX:
            return api_value / self._w_max_kw() * 100.0
        if unit == PF:
            return api_value
        return api_value / UNITS[unit][1]

    def _from_device(self, binding: Binding, device_value: float) -> float:
        unit = binding.target.unit
        if unit == PCT_WMAX:
            return device_value / 100.0 * self._w_max_kw()
        if unit == PF:
            return device_value
        return device_value * UNITS[unit][1]

    def _w_max_kw(self) -> float:
        if not self.w_max_w:
            raise ProfileError(f"{self.name}: the device states no WMax (models 702, 121, 120)")
        return self.w_max_w / 1000.0

    # -- registers ----------------------------------------------------------------------------

    def _read_registers(self, address: int, count: int) -> list[int]:
        self.log.record(self.name, "query", f"FC03 {address} x{count}")
        reply = self._client.read_holding_registers(address, count=count, device_id=self.unit)
        self._check(reply, f"read {address} x{count}")
        registers = list(reply.registers)
        if len(registers) != count:
            raise InstrumentReplyError(
                f"{self.name}: asked {count} registers at {address}, got {len(registers)}"
            )
        self.log.record(self.name, "reply", " ".join(str(r) for r in registers[:16]))
        return registers

    def _write_raw(self, model: Model, point: models.Point, raw: int) -> None:
        registers = point.encode(raw)
        address = model.address + point.offset
        text = f"{point.name}={raw}"
        if self.write_function == 16:
            self.log.record(self.name, "write", f"FC16 {address} {text}")
            reply = self._client.write_registers(address, registers, device_id=self.unit)
            try:
                self._check(reply, f"write {text}")
                return
            except ModbusExceptionReply as exc:
                if exc.code != ILLEGAL_FUNCTION or self.settings.write_function == 16:
                    raise
                self.write_function = 6
                self.log.record(self.name, "event", "FC16 refused (ILLEGAL FUNCTION): using FC06")
        for index, register in enumerate(registers):
            self.log.record(self.name, "write", f"FC06 {address + index} {text}")
            reply = self._client.write_register(address + index, register, device_id=self.unit)
            self._check(reply, f"write {text}")

    def _check(self, reply: object, what: str) -> None:
        if reply.isError():  # type: ignore[attr-defined]
            code = int(getattr(reply, "exception_code", 0))
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            self.log.record(self.name, "reply", f"exception {code} ({name})")
            raise ModbusExceptionReply(
                f"{self.name}: {what} refused with Modbus exception {code} ({name})", code
            )

    # -- discovery ----------------------------------------------------------------------------

    def _open(self) -> None:
        if not self._client.connect():
            raise InstrumentConnectionError(
                f"{self.name}: cannot connect to {self.resource} (nothing listening?)"
            )
        sock = self._client.socket
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _set_up(self) -> None:
        self._discover()
        self._bind()

    def _set_up_unanswered(self, exc: BaseException) -> str:
        return (f"no SunSpec answer from {self.resource} within {self.timeout_ms} ms "
                f"({type(exc).__name__}); is it a Modbus TCP device?")

    def _discover(self) -> None:
        """Find the "SunS" marker, then walk the model list to its end marker."""
        self.base_address = None
        for base in self.settings.base_addresses:
            try:
                marker = self._read_registers(base, 2)
            except ModbusExceptionReply:
                continue
            if tuple(marker) == models.MARKER:
                self.base_address = base
                break
        if self.base_address is None:
            raise ProfileMismatch(
                f"{self.name}: no SunSpec marker 'SunS' at {self.resource} (tried base "
                f"addresses {', '.join(map(str, self.settings.base_addresses))})"
            )
        self.models = {}
        address = self.base_address + 2
        for _ in range(MAX_MODELS):
            model_id, length = self._read_registers(address, 2)
            if model_id == models.END_MODEL_ID:
                break
            counts = {}
            if model_id in (705, 706):  # repeating curves: their counts are in the model
                n_pt, n_crv = self._read_registers(address + 5, 2)
                counts = {"NPt": n_pt, "NCrv": n_crv}
            try:
                layout = models.layout(model_id, counts)
            except ProfileError:
                layout = None  # a vendor model: skipped by its length
            if layout is not None and layout.length != length:
                raise InstrumentReplyError(
                    f"{self.name}: model {model_id} at {address} is {length} registers long, "
                    f"its definition {layout.length}"
                )
            if layout is not None and model_id not in self.models:
                self.models[model_id] = Model(address, layout)
            address += 2 + length
        else:
            raise InstrumentReplyError(f"{self.name}: no end marker after {MAX_MODELS} models")
        if COMMON not in self.models:
            raise InstrumentReplyError(f"{self.name}: the device lists no common model (1)")
        self._scale.clear()
        self._written.clear()
        ids = ", ".join(map(str, self.models))
        self.log.record(self.name, "event", f"SunSpec base {self.base_address}, models {ids}")

    def _bind(self) -> None:
        """Each operation to its first candidate present on the device (readings: implemented)."""
        self.bindings = {}
        missing = []
        for op in self.profile.ops.values():
            if not op.sunspec:
                continue
            binding = self._first_present(op, self._ordered(op.sunspec))
            if binding is not None:
                self.bindings[op.name] = binding
                continue
            if ROLE_OPS[self.role][op.name][2]:
                models_wanted = sorted({m for t in op.sunspec for m in t.models})
                missing.append(f"{op.name} (models {models_wanted})")
        if missing:
            raise ProfileError(
                f"{self.name}: the SunSpec device at {self.resource} lacks {'; '.join(missing)}"
            )
        for op_name, binding in self.bindings.items():
            if self.profile.ops[op_name].kind == "set":
                self._fresh_scale(binding)  # wire_value then quantizes without I/O
        if self.role == "inverter":
            self.w_max_w = self._read_w_max()

    def _first_present(self, op: Operation, targets: Sequence[Target]) -> Binding | None:
        for target in targets:
            model = next((self.models[m] for m in target.models if m in self.models), None)
            if model is None or target.point not in model.layout.points:
                continue
            binding = Binding(model, model.layout.point(target.point), target)
            if op.kind == "read" and self._read_point(binding)[0] is None:
                continue  # the model is there but this point is not implemented
            return binding
        return None

    def _ordered(self, targets: Sequence[Target]) -> list[Target]:
        if self.settings.prefer == "der":
            return list(targets)
        return sorted(targets, key=lambda t: min(t.models) >= 700)

    def _read_w_max(self) -> float:
        for target in WMAX_TARGETS:
            model = next((self.models[m] for m in target.models if m in self.models), None)
            if model is None:
                continue
            binding = Binding(model, model.layout.point(target.point), target)
            value = models.scaled(*self._read_point(binding))
            if value:
                return value
        raise ProfileError(
            f"{self.name}: the SunSpec inverter at {self.resource} states no WMax "
            "(models 702, 121 or 120)"
        )

    # -- lookups ------------------------------------------------------------------------------

    def _op(self, op_name: str, kind: str) -> Operation:
        op = self.profile.op(op_name)
        if op.kind != kind:
            raise ProfileError(f"{self.name}: {op_name} is a {op.kind} operation, not a {kind}")
        return op

    def _binding(self, op_name: str) -> Binding:
        try:
            return self.bindings[op_name]
        except KeyError:
            raise ProfileError(
                f"{self.name}: the SunSpec device has no point for {op_name}"
            ) from None

    def _model(self, model_id: int) -> Model:
        try:
            return self.models[model_id]
        except KeyError:
            raise ProfileError(f"{self.name}: the device has no model {model_id}") from None
