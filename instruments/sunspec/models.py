"""SunSpec model layouts, taken from pysunspec2's model definitions (one source of truth for
offsets, types and scale factors): where each point sits in its model, and how its registers
encode a value. The driver and the emulator both lay out and decode registers through here.

A point's raw value is the integer on the wire (or a string); its scale factor, when it has
one, is the power of ten that turns the raw value into the point's unit. Repeating groups are
flattened with 1-based indices: ``Crv1.Pt2.V`` in model 705, ``PFWInj.PF`` in model 704.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sunspec2 import device as ss_device
from sunspec2 import mb, mdef

from instruments.errors import ProfileError

#: "SunS" (0x5375 0x6E53): the marker at a SunSpec device's base address.
MARKER = (0x5375, 0x6E53)
#: Base addresses a SunSpec device may use, in the order devices in the field favour them.
BASE_ADDRESSES = (40000, 0, 50000)
END_MODEL_ID = 0xFFFF
#: Most registers one Modbus read may return (Modbus application protocol 1.1b3, 6.3).
MAX_READ_REGISTERS = 125
#: Repeating-group counts a layout uses when the caller gives none (volt-var/volt-watt).
DEFAULT_COUNTS = {"NCrv": 1, "NPt": 4}
_ACCUMULATORS = {mdef.TYPE_ACC16, mdef.TYPE_ACC32, mdef.TYPE_ACC64}

Raw = int | str | None


@dataclass(frozen=True)
class Point:
    """One point of a model: its place (registers from the model's ID register) and type."""

    name: str
    offset: int
    size: int
    type: str
    sf: str | int | None
    access: str
    static: bool
    symbols: Mapping[str, int] = field(default_factory=dict)

    @property
    def writable(self) -> bool:
        return self.access == mdef.ACCESS_RW

    def encode(self, raw: Raw) -> list[int]:
        """Registers holding ``raw`` (None: the type's "not implemented" value)."""
        data = (
            mb.create_unimpl_value(self.type, len=self.size * 2)
            if raw is None
            else _info(self.type).to_data(raw, self.size * 2)
        )
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]

    def raw_limits(self) -> tuple[int, int]:
        """The raw integers this point can hold without meaning "not implemented"."""
        bits = 16 * self.size
        if self.type.startswith("int"):
            return -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
        if self.type in _ACCUMULATORS:
            return 0, 2**bits - 1
        return 0, 2**bits - 2

    def decode(self, registers: Sequence[int]) -> Raw:
        """The raw value in ``registers``; None when the device marks it not implemented.
        (Accumulators count from 0, which the standard also uses for "not accumulating".)"""
        data = b"".join(r.to_bytes(2, "big") for r in registers[: self.size])
        info = _info(self.type)
        value = info.data_to(data)
        if self.type in _ACCUMULATORS:
            return value
        return value if info.is_impl(value) else None


@dataclass(frozen=True)
class Layout:
    """A model as laid out on a device: its id, length (after ID and L) and points."""

    model_id: int
    name: str
    length: int
    points: Mapping[str, Point]

    def point(self, name: str) -> Point:
        try:
            return self.points[name]
        except KeyError:
            raise ProfileError(f"SunSpec model {self.model_id} has no point {name!r}") from None

    def scale_point(self, point: Point) -> Point | None:
        """The point holding ``point``'s scale factor (a named one), else None."""
        return self.points[point.sf] if isinstance(point.sf, str) else None


def _info(point_type: str) -> Any:
    return mb.point_type_info[point_type]


@cache
def _definition(model_id: int) -> dict[str, Any]:
    try:
        return ss_device.get_model_def(model_id)[mdef.GROUP]
    except mdef.ModelDefinitionError:
        raise ProfileError(f"no SunSpec model definition for model {model_id}") from None


def layout(model_id: int, counts: Mapping[str, int] | None = None) -> Layout:
    """The layout of ``model_id`` with its repeating groups at ``counts`` (e.g. ``NPt``)."""
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    group = _definition(model_id)
    points: dict[str, Point] = {}
    end = _flatten(group, "", 0, counts, points)
    return Layout(model_id, str(group[mdef.NAME]), end - 2, points)


@cache
def fixed_layout(model_id: int) -> Layout:
    """The layout with the default repeating-group counts (cached)."""
    return layout(model_id)


def _flatten(
    group: Mapping[str, Any], prefix: str, offset: int, counts: Mapping[str, int],
    out: dict[str, Point],
) -> int:
    for pdef in group.get(mdef.POINTS, ()):
        size = int(pdef.get(mdef.SIZE) or _info(pdef[mdef.TYPE]).len)
        sf = pdef.get(mdef.SF)
        symbols = {s[mdef.NAME]: int(s[mdef.VALUE]) for s in pdef.get(mdef.SYMBOLS, ())}
        name = prefix + pdef[mdef.NAME]
        out[name] = Point(
            name=name,
            offset=offset,
            size=size,
            type=pdef[mdef.TYPE],
            sf=_scale_factor(sf),
            access=pdef.get(mdef.ACCESS, mdef.ACCESS_R),
            static=pdef.get(mdef.STATIC) == mdef.STATIC_TRUE,
            symbols=symbols,
        )
        offset += size
    for sub in group.get(mdef.GROUPS, ()):
        count = sub.get(mdef.COUNT)
        if count is None:
            offset = _flatten(sub, f"{prefix}{sub[mdef.NAME]}.", offset, counts, out)
            continue
        repeats = int(count) if str(count).isdigit() else counts.get(str(count), 1)
        for index in range(1, repeats + 1):
            offset = _flatten(sub, f"{prefix}{sub[mdef.NAME]}{index}.", offset, counts, out)
    return offset


def _scale_factor(sf: Any) -> str | int | None:
    if sf is None:
        return None
    try:
        return int(sf)
    except (TypeError, ValueError):
        return str(sf)


def scaled(raw: Raw, exponent: int | None) -> float | None:
    """A raw number times 10**exponent (None stays None: not implemented)."""
    if raw is None or isinstance(raw, str):
        return None
    return float(raw) * 10.0 ** (exponent or 0)


def to_raw(value: float, exponent: int | None) -> int:
    """The raw integer nearest ``value`` at 10**exponent resolution."""
    return round(value / 10.0 ** (exponent or 0))
