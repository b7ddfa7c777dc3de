"""The emulated SunSpec devices: a SunSpec register map over the same physics as the SCPI ones,
served over Modbus TCP (function codes 03, 06 and 16) by the emulator's server.

The map is laid out from pysunspec2's model definitions (``instruments.sunspec.models``) from a
configurable base address (40000, 0 or 50000): "SunS", the models, the end marker. Measured
points are computed from the physics at each read, with the current scale factors; writable
points are stored as written and act on the physics (export limit, enter service, reactive
power, power factor, volt-var and volt-watt curves). Every point the map does not serve reads
as the standard's "not implemented" value and refuses writes (ILLEGAL DATA ADDRESS).

Quirks a real device may have, on demand: write-only points (read back as "not implemented"),
function code 16 refused (ILLEGAL FUNCTION), and ``rescale()``, which moves the power scale
factors by one decade (and re-encodes the stored setpoints) while the device runs.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from instruments.emulator.physics import Curve, Meter, PvInverter
from instruments.errors import InstrumentError
from instruments.sunspec import models

# Modbus function and exception codes (Modbus application protocol 1.1b3).
READ_HOLDING, WRITE_SINGLE, WRITE_MULTIPLE = 0x03, 0x06, 0x10
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE = 1, 2, 3, 4
#: The unit id a Modbus TCP server answers besides its own ("not significant", spec 4.4.1.2).
ANY_UNIT = 255

INVERTER_MODELS = (1, 101, 120, 121, 123, 701, 702, 703, 704, 705, 706)
METER_MODELS = (1, 201)
#: Scale factors (exponents) per model; ``rescale`` moves RESCALED ones up a decade and back.
SCALES: dict[int, dict[str, int]] = {
    101: {"A_SF": -2, "V_SF": -1, "W_SF": 0, "Hz_SF": -2, "VA_SF": 0, "VAr_SF": 0,
          "PF_SF": -1, "WH_SF": 0, "Tmp_SF": 0},
    120: {"WRtg_SF": 0, "VARtg_SF": 0, "VArRtg_SF": 0, "ARtg_SF": -1, "PFRtg_SF": -2},
    121: {"WMax_SF": 0, "VRef_SF": -1, "VRefOfs_SF": -1},
    123: {"WMaxLimPct_SF": -1, "OutPFSet_SF": -3, "VArPct_SF": -1},
    201: {"A_SF": -2, "V_SF": -1, "Hz_SF": -2, "W_SF": 0, "VA_SF": 0, "VAR_SF": 0,
          "PF_SF": -1, "TotWh_SF": 0},
    701: {"A_SF": -2, "V_SF": -1, "Hz_SF": -3, "W_SF": 0, "PF_SF": -3, "VA_SF": 0,
          "Var_SF": 0, "TotWh_SF": 0, "Tmp_SF": 0},
    702: {"W_SF": 0, "PF_SF": -3, "VA_SF": 0, "Var_SF": 0, "V_SF": -1, "A_SF": -1},
    703: {"V_SF": -1, "Hz_SF": -2},
    704: {"PF_SF": -3, "WMaxLimPct_SF": -1, "VarSet_SF": 0},
    705: {"V_SF": -1, "DeptRef_SF": -1, "RspTms_SF": 0},
    706: {"V_SF": -1, "DeptRef_SF": -1, "RspTms_SF": 0},
}
RESCALED = {"W_SF", "VA_SF", "Var_SF", "VAr_SF", "VAR_SF", "WMaxLimPct_SF"}
#: Default curves (IEEE 1547-2018 category B defaults, V in % of nominal).
VOLT_VAR = ((92.0, 44.0), (98.0, 0.0), (102.0, 0.0), (108.0, -44.0))
VOLT_WATT = ((100.0, 100.0), (106.0, 100.0), (110.0, 0.0), (112.0, 0.0))

Getter = Callable[[], float | int | str | None]
Setter = Callable[[float], None]


@dataclass(frozen=True)
class SunSpecOptions:
    """How an emulated SunSpec device lays out and behaves (from the emulator config)."""

    base_address: int = 40000
    unit_id: int = 1
    models: tuple[int, ...] = ()
    write_only: tuple[str, ...] = ()
    write_functions: tuple[int, ...] = (WRITE_SINGLE, WRITE_MULTIPLE)
    identity: tuple[str, str, str, str] = ("TESTBED", "SUNSPEC-PV-5K", "EMU0005", "1.0")


class ModbusRefused(Exception):
    """A request the device answers with a Modbus exception code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(eq=False)
class _Served:
    model: int
    point: models.Point
    address: int
    sf: str | None
    get: Getter | None = None
    set: Setter | None = None


class SunSpecMap:
    """The registers of one emulated SunSpec device over its physics device."""

    def __init__(self, device: PvInverter | Meter, options: SunSpecOptions) -> None:
        self.device, self.options = device, options
        ids = options.models or (METER_MODELS if isinstance(device, Meter) else INVERTER_MODELS)
        if ids[0] != 1:
            raise InstrumentError("a SunSpec map starts with the common model (1)")
        self.scales = {m: dict(SCALES.get(m, {})) for m in ids}
        self.registers: list[int] = list(models.MARKER)
        self.layouts: dict[int, tuple[int, models.Layout]] = {}
        for model_id in ids:
            layout = models.fixed_layout(model_id)
            address = options.base_address + len(self.registers)
            self.layouts[model_id] = (address, layout)
            block = [0] * (layout.length + 2)
            for point in layout.points.values():
                block[point.offset : point.offset + point.size] = point.encode(None)
            block[0], block[1] = model_id, layout.length
            self.registers += block
        self.registers += [models.END_MODEL_ID, 0]
        if options.base_address + len(self.registers) > 0x10000:
            raise InstrumentError(f"a SunSpec map at {options.base_address} overruns 65535")
        self.served: dict[int, _Served] = {}  # by first register address
        self._by_register: dict[int, _Served] = {}
        self._serve_all()

    # -- Modbus -------------------------------------------------------------------------------

    def handle(self, unit: int, pdu: bytes) -> bytes:
        """A request PDU's response PDU (an exception response when refused)."""
        function = pdu[0] if pdu else 0
        try:
            if unit not in (self.options.unit_id, ANY_UNIT, 0):
                raise ModbusRefused(0x0B)  # gateway target failed to respond
            if function == READ_HOLDING and len(pdu) == 5:
                address, count = struct.unpack(">HH", pdu[1:5])
                if not 1 <= count <= models.MAX_READ_REGISTERS:
                    raise ModbusRefused(ILLEGAL_VALUE)
                values = self.read(address, count)
                return struct.pack(f">BB{count}H", function, 2 * count, *values)
            if function not in self.options.write_functions:
                raise ModbusRefused(ILLEGAL_FUNCTION)
            if function == WRITE_SINGLE and len(pdu) == 5:
                address, value = struct.unpack(">HH", pdu[1:5])
                self.write(address, [value])
                return pdu
            if function == WRITE_MULTIPLE and len(pdu) >= 6:
                address, count, nbytes = struct.unpack(">HHB", pdu[1:6])
                if nbytes != 2 * count or len(pdu) != 6 + nbytes or not 1 <= count <= 123:
                    raise ModbusRefused(ILLEGAL_VALUE)
                self.write(address, list(struct.unpack(f">{count}H", pdu[6:])))
                return pdu[:5]
            raise ModbusRefused(ILLEGAL_FUNCTION)
        except ModbusRefused as exc:
            return exception_pdu(function, exc.code)

    def read(self, address: int, count: int) -> list[int]:
        start = address - self.options.base_address
        if start < 0 or start + count > len(self.registers):
            raise ModbusRefused(ILLEGAL_ADDRESS)
        for served in self._overlapping(address, count):
            if served.get is not None and served.point.name not in self.options.write_only:
                self._store(served, served.get())
        out = self.registers[start : start + count]
        for served in self._overlapping(address, count):
            if served.point.name in self.options.write_only:
                offset = served.address - address
                blank = served.point.encode(None)
                for i, value in enumerate(blank):
                    if 0 <= offset + i < count:
                        out[offset + i] = value
        return out

    def write(self, address: int, values: Sequence[int]) -> None:
        """Store registers of writable points, then apply each point written whole; a write
        refused (exception 2 or 3) changes no register and nothing of the physics, as a real
        device keeps its old values."""
        touched: list[_Served] = []
        for index in range(len(values)):
            served = self._by_register.get(address + index)
            if served is None or served.set is None:
                raise ModbusRefused(ILLEGAL_ADDRESS)
            if served not in touched:
                touched.append(served)
        decoded = []
        for served in touched:
            regs = self._current(served)
            for index, value in enumerate(values):
                offset = address + index - served.address
                if 0 <= offset < served.point.size:
                    regs[offset] = value
            raw = served.point.decode(regs)
            if raw is None or isinstance(raw, str):
                raise ModbusRefused(ILLEGAL_VALUE)
            decoded.append((served, regs, raw))
        registers, physics = list(self.registers), dict(vars(self.device))
        try:
            for served, regs, raw in decoded:
                start = served.address - self.options.base_address
                self.registers[start : start + served.point.size] = regs
                assert served.set is not None
                served.set(models.scaled(raw, self._exponent(served)) or 0.0)
        except (ValueError, InstrumentError):
            self.registers[:] = registers
            vars(self.device).update(physics)
            raise ModbusRefused(ILLEGAL_VALUE) from None

    def rescale(self) -> None:
        """Move every power scale factor a decade (up, then back down on the next call), as a
        device changing its resolution at run time; stored setpoints keep their values."""
        stored = {
            s: models.scaled(self._current_raw(s), self._exponent(s))
            for s in self.served.values()
            if s.sf in RESCALED and s.get is None
        }
        for model_id, scales in self.scales.items():
            for name in scales.keys() & RESCALED:
                scales[name] += 1 if scales[name] == SCALES[model_id][name] else -1
                self._put_scale(model_id, name)
        for served, value in stored.items():
            if value is not None:
                self._store(served, value)

    # -- what is served -----------------------------------------------------------------------

    def _serve_all(self) -> None:
        for model_id, scales in self.scales.items():
            for name in scales:
                self._put_scale(model_id, name)
        mn, md, sn, vr = self.options.identity
        self._const(1, {"Mn": mn, "Md": md, "SN": sn, "Vr": vr, "Opt": "emulated"})
        self._serve(1, "DA", get=None, set=lambda v: None, initial=self.options.unit_id)
        if isinstance(self.device, Meter):
            self._serve_meter(self.device)
        else:
            self._serve_inverter(self.device)

    def _serve_inverter(self, inv: PvInverter) -> None:
        def s_va() -> float:
            return 1000.0 * math.hypot(inv.p, inv.q)

        def amps() -> float:
            v = inv.read_voltage()
            return s_va() / v if v > 0 else 0.0

        def pf() -> float:
            s = math.hypot(inv.p, inv.q)
            return inv.p / s if s > 1e-9 else 1.0

        rating_w = inv.rating_kw * 1000.0
        measures: dict[str, Getter] = {
            "W": lambda: 1000.0 * inv.p, "VA": s_va, "A": amps, "Hz": inv.read_frequency,
        }
        self._measure(101, {
            **measures, "AphA": amps, "PhVphA": inv.read_voltage, "VAr": lambda: 1000.0 * inv.q,
            "PF": lambda: 100.0 * pf(), "WH": lambda: 1000.0 * inv.energy_kwh,
            "TmpCab": lambda: 35.0, "St": lambda: _operating_state(inv),
            "Evt1": lambda: 0, "Evt2": lambda: 0,
        })
        self._measure(701, {
            **measures, "Var": lambda: 1000.0 * inv.q, "PF": pf, "LNV": inv.read_voltage,
            "ACType": lambda: 0, "St": lambda: int(inv.enabled),
            "InvSt": lambda: 3 if inv.enabled else 0, "ConnSt": lambda: int(inv.enabled),
            "TotWhInj": lambda: 1000.0 * inv.energy_kwh, "TotWhAbs": lambda: 0,
        })
        self._const(120, {"DERTyp": 4, "WRtg": rating_w, "VARtg": rating_w,
                          "VArRtgQ1": rating_w, "VArRtgQ2": rating_w, "VArRtgQ3": -rating_w,
                          "VArRtgQ4": -rating_w, "ARtg": rating_w / inv.v_nominal,
                          "PFRtgQ1": 0.8, "PFRtgQ2": 0.8, "PFRtgQ3": -0.8, "PFRtgQ4": -0.8})
        self._const(702, {"WMaxRtg": rating_w, "VAMaxRtg": rating_w, "VarMaxInjRtg": rating_w,
                          "VarMaxAbsRtg": rating_w, "VNomRtg": inv.v_nominal,
                          "VMaxRtg": 1.1 * inv.v_nominal, "VMinRtg": 0.88 * inv.v_nominal,
                          "PFOvrExtRtg": 0.8, "PFUndExtRtg": 0.8})
        for model_id, point in ((702, "WMax"), (121, "WMax")):
            self._serve(model_id, point, set=lambda w: self._set_w_max(w / 1000.0),
                        initial=rating_w)
        self._serve(121, "VRef", set=lambda v: None, initial=inv.v_nominal)
        self._serve(121, "VRefOfs", set=lambda v: None, initial=0)
        self._serve(702, "VNom", set=lambda v: None, initial=inv.v_nominal)

        # Enter service (703 ES) and connect (123 Conn) both switch the output.
        def connect(on: float) -> None:
            inv.enable() if on else inv.disable()

        self._serve(703, "ES", get=lambda: int(inv.enabled), set=connect)
        self._serve(123, "Conn", get=lambda: int(inv.enabled), set=connect)
        # Export limit in percent of WMax, switched by its enable flag (704 and 123 alike).
        for model_id, ena in ((704, "WMaxLimPctEna"), (123, "WMaxLim_Ena")):
            self._serve(model_id, ena, set=lambda _v, m=model_id: self._apply_limit(m),
                        initial=0)
            self._serve(model_id, "WMaxLimPct", set=lambda _v, m=model_id: self._apply_limit(m),
                        initial=100.0)
        # Reactive power: 704 VarSet in var, 123 VArWMaxPct in percent of WMax.
        self._serve(704, "VarSetEna", set=lambda on: None if on else inv.set_reactive_power(0),
                    initial=0)
        self._serve(704, "VarSetMod", set=lambda mode: _require(mode == 4), initial=4)
        self._serve(704, "VarSet", set=lambda var: inv.set_reactive_power(var / 1000.0),
                    initial=0)
        self._serve(123, "VArPct_Ena", set=lambda on: None, initial=0)
        self._serve(123, "VArPct_Mod", set=lambda mode: _require(mode == 1), initial=1)
        self._serve(123, "VArWMaxPct",
                    set=lambda pct: inv.set_reactive_power(pct / 100.0 * inv.rating_kw),
                    initial=0)
        # Power factor: 704 PFWInj (magnitude, excitation), 123 OutPFSet (signed).
        self._serve(704, "PFWInjEna", set=lambda on: None, initial=0)
        self._serve(704, "PFWInj.Ext", set=lambda ext: None, initial=0)
        self._serve(704, "PFWInj.PF", set=lambda pf_: inv.set_power_factor(
            -pf_ if self._raw(704, "PFWInj.Ext") == 1 else pf_), initial=1.0)
        self._serve(123, "OutPFSet_Ena", set=lambda on: None, initial=0)
        self._serve(123, "OutPFSet", set=inv.set_power_factor, initial=1.0)
        self._serve_curves(inv)

    def _serve_curves(self, inv: PvInverter) -> None:
        for model_id, default, y_name in ((705, VOLT_VAR, "Var"), (706, VOLT_WATT, "W")):
            if model_id not in self.layouts:
                continue
            _, layout = self.layouts[model_id]
            counts = models.DEFAULT_COUNTS
            self._const(model_id, {"NPt": counts["NPt"], "NCrv": counts["NCrv"],
                                   "AdptCrvRslt": 1, "Crv1.DeptRef": 0 if y_name == "W" else 1,
                                   "Crv1.ReadOnly": 0})

            def apply(_v: float, m: int = model_id) -> None:
                self._apply_curve(m)

            self._serve(model_id, "Ena", set=apply, initial=0)
            self._serve(model_id, "AdptCrvReq", set=apply, initial=0)
            self._serve(model_id, "Crv1.ActPt", set=apply, initial=len(default))
            for index, (v, y) in enumerate(default, start=1):
                self._serve(model_id, f"Crv1.Pt{index}.V", set=apply, initial=v)
                self._serve(model_id, f"Crv1.Pt{index}.{y_name}", set=apply, initial=y)
            assert layout

    def _serve_meter(self, meter: Meter) -> None:
        self._measure(201, {
            "A": meter.read_current, "AphA": meter.read_current,
            "PhV": meter.read_voltage, "PhVphA": meter.read_voltage,
            "Hz": meter.read_frequency, "W": lambda: 1000.0 * meter.read_active_power(),
            "VAR": lambda: 1000.0 * meter.read_reactive_power(),
            "TotWhImp": lambda: 1000.0 * meter.read_energy_import(),
            "TotWhExp": lambda: 1000.0 * meter.read_energy_export(),
            "Evt": lambda: 0,
        })

    # -- physics from registers ---------------------------------------------------------------

    def _apply_limit(self, model_id: int) -> None:
        inv = self.device
        assert isinstance(inv, PvInverter)
        ena = "WMaxLimPctEna" if model_id == 704 else "WMaxLim_Ena"
        pct = self._value(model_id, "WMaxLimPct")
        if pct is None or not 0.0 <= pct <= 100.0:  # refused even while the limit is off
            raise ValueError("limit out of range")
        inv.set_active_power((pct if self._raw(model_id, ena) == 1 else 100.0) / 100.0
                             * inv.rating_kw)

    def _apply_curve(self, model_id: int) -> None:
        inv = self.device
        assert isinstance(inv, PvInverter)
        y_name = "Var" if model_id == 705 else "W"
        n = int(self._raw(model_id, "Crv1.ActPt") or 0)
        points = tuple(
            (self._value(model_id, f"Crv1.Pt{i}.V") or 0.0,
             self._value(model_id, f"Crv1.Pt{i}.{y_name}") or 0.0)
            for i in range(1, n + 1)
        )
        curve = Curve(points) if self._raw(model_id, "Ena") == 1 else None
        if model_id == 705:
            inv.volt_var = curve
        else:
            inv.volt_watt = curve

    def _set_w_max(self, kw: float) -> None:
        inv = self.device
        assert isinstance(inv, PvInverter)
        rated = models.scaled(self._raw(702, "WMaxRtg") if 702 in self.layouts else None, 0)
        if kw <= 0 or (rated is not None and kw * 1000.0 > rated):
            raise ValueError("WMax out of range")
        inv.rating_kw = kw

    # -- register plumbing --------------------------------------------------------------------

    def _serve(self, model_id: int, name: str, get: Getter | None = None,
               set: Setter | None = None, initial: float | str | None = None) -> None:
        if model_id not in self.layouts:
            return
        address, layout = self.layouts[model_id]
        point = layout.point(name)
        sf = point.sf if isinstance(point.sf, str) else None
        served = _Served(model_id, point, address + point.offset, sf, get, set)
        self.served[served.address] = served
        for index in range(point.size):
            self._by_register[served.address + index] = served
        if initial is not None:
            self._store(served, initial)

    def _measure(self, model_id: int, getters: dict[str, Getter]) -> None:
        for name, get in getters.items():
            self._serve(model_id, name, get=get)

    def _const(self, model_id: int, values: dict[str, float | str]) -> None:
        for name, value in values.items():
            self._serve(model_id, name, initial=value)

    def _put_scale(self, model_id: int, name: str) -> None:
        address, layout = self.layouts[model_id]
        if name in layout.points:
            point = layout.point(name)
            start = address + point.offset - self.options.base_address
            self.registers[start : start + 1] = point.encode(self.scales[model_id][name])

    def _exponent(self, served: _Served) -> int | None:
        if served.sf is None:
            return served.point.sf if isinstance(served.point.sf, int) else None
        return self.scales[served.model].get(served.sf)

    def _store(self, served: _Served, value: float | str | None) -> None:
        point = served.point
        raw: int | str | None
        if value is None or isinstance(value, str):
            raw = value
        else:
            lo, hi = point.raw_limits()
            raw = min(hi, max(lo, models.to_raw(float(value), self._exponent(served))))
        start = served.address - self.options.base_address
        self.registers[start : start + point.size] = point.encode(raw)

    def _current(self, served: _Served) -> list[int]:
        start = served.address - self.options.base_address
        return self.registers[start : start + served.point.size]

    def _current_raw(self, served: _Served) -> int | str | None:
        return served.point.decode(self._current(served))

    def _raw(self, model_id: int, name: str) -> int | str | None:
        address, layout = self.layouts[model_id]
        point = layout.point(name)
        start = address + point.offset - self.options.base_address
        return point.decode(self.registers[start : start + point.size])

    def _value(self, model_id: int, name: str) -> float | None:
        address, layout = self.layouts[model_id]
        served = self.served.get(address + layout.point(name).offset)
        if served is None:
            return None
        return models.scaled(self._current_raw(served), self._exponent(served))

    def _overlapping(self, address: int, count: int) -> list[_Served]:
        seen: list[_Served] = []
        for register in range(address, address + count):
            served = self._by_register.get(register)
            if served is not None and (not seen or seen[-1] is not served):
                seen.append(served)
        return seen


def _operating_state(inv: PvInverter) -> int:
    """Model 101's St: OFF 1, SLEEPING 2, MPPT 4, THROTTLED 5."""
    if not inv.enabled:
        return 1
    if inv.p <= 1e-6 and inv.limit_kw() > 0:
        return 2
    return 5 if inv.p_set < inv.rating_kw else 4


def _require(ok: bool) -> None:
    if not ok:
        raise ValueError("unsupported mode")


def exception_pdu(function: int, code: int) -> bytes:
    return bytes((function | 0x80, code))
