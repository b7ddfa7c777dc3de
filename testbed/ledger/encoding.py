"""Canonical binary encoding: one value, one byte string.

Integers are fixed-width big-endian, byte strings and lists carry a u32 length (a list of at
most 255 items a u8), text is UTF-8.
Values are frozen dataclasses whose fields name their codec (``u64()``, ``b32()``, ...), so a
schema reads like a table. Decoding rejects anything that is not exactly canonical: it must
consume every byte, and re-encoding must give back the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import field, fields
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from testbed.errors import LedgerError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


class EncodingError(LedgerError):
    """A value that cannot be encoded, or bytes that are not a canonical encoding."""


class Reader:
    """Cursor over bytes; every read checks that the bytes are there.

    Reads slice the bytes and unpack in place (no view and copy per field): a node decodes
    every transaction it is sent, and this is most of that time."""

    __slots__ = ("data", "pos", "size")

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)  # the bytes themselves when given bytes: no copy
        self.pos = 0
        self.size = len(self.data)

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > self.size:
            raise EncodingError(f"truncated: needs {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        """``fmt``'s fields at the cursor, which moves past them."""
        end = self.pos + fmt.size
        if end > self.size:
            raise EncodingError(f"truncated: needs {fmt.size} bytes at offset {self.pos}")
        values = fmt.unpack_from(self.data, self.pos)
        self.pos = end
        return values

    def finish(self) -> None:
        if self.pos != self.size:
            raise EncodingError(f"{self.size - self.pos} trailing bytes")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Codec(Generic[T]):
    """Encodes one kind of value to bytes and back."""

    def encode(self, value: T, out: list[bytes]) -> None:
        raise NotImplementedError

    def decode(self, r: Reader) -> T:
        raise NotImplementedError


class UInt(Codec[int]):
    def __init__(self, fmt: str, bits: int) -> None:
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size
        self.max = (1 << bits) - 1

    def encode(self, value: int, out: list[bytes]) -> None:
        if not _is_int(value) or not 0 <= value <= self.max:
            raise EncodingError(f"{value!r} is not an integer in 0..{self.max}")
        out.append(self.struct.pack(value))

    def decode(self, r: Reader) -> int:
        value: int
        (value,) = r.unpack(self.struct)
        return value


class SInt(Codec[int]):
    def __init__(self) -> None:
        self.struct = struct.Struct(">q")

    def encode(self, value: int, out: list[bytes]) -> None:
        if not _is_int(value) or not -(1 << 63) <= value < (1 << 63):
            raise EncodingError(f"{value!r} is not a signed 64-bit integer")
        out.append(self.struct.pack(value))

    def decode(self, r: Reader) -> int:
        value: int
        (value,) = r.unpack(self.struct)
        return value


class Fixed(Codec[bytes]):
    def __init__(self, size: int) -> None:
        self.size = size

    def encode(self, value: bytes, out: list[bytes]) -> None:
        if not isinstance(value, bytes) or len(value) != self.size:
            raise EncodingError(f"expected exactly {self.size} bytes")
        out.append(value)

    def decode(self, r: Reader) -> bytes:
        return r.take(self.size)


U32_CODEC = UInt(">I", 32)
U8_CODEC = UInt(">B", 8)


def _read_length(r: Reader, limit: int, what: str, count: UInt = U32_CODEC) -> int:
    n = count.decode(r)
    if n > limit:
        raise EncodingError(f"{what} length {n} exceeds the limit {limit}")
    return n


class Text(Codec[str]):
    def __init__(self, limit: int) -> None:
        self.limit = limit

    def encode(self, value: str, out: list[bytes]) -> None:
        data = value.encode("utf-8") if isinstance(value, str) else None
        if data is None or len(data) > self.limit:
            raise EncodingError(f"expected text of at most {self.limit} UTF-8 bytes")
        out.append(U32_CODEC.struct.pack(len(data)))
        out.append(data)

    def decode(self, r: Reader) -> str:
        data = r.take(_read_length(r, self.limit, "text"))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise EncodingError("text is not valid UTF-8") from None


class Blob(Codec[bytes]):
    """Bytes of any length up to ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def encode(self, value: bytes, out: list[bytes]) -> None:
        if not isinstance(value, bytes) or len(value) > self.limit:
            raise EncodingError(f"expected at most {self.limit} bytes")
        out.append(U32_CODEC.struct.pack(len(value)))
        out.append(value)

    def decode(self, r: Reader) -> bytes:
        return r.take(_read_length(r, self.limit, "bytes"))


class ListOf(Codec[tuple[Any, ...]]):
    """A tuple of values of one codec, at most ``limit`` long, its length a u32 (a u8 when
    ``limit`` is below 256: an optional value costs one byte)."""

    def __init__(self, item: Codec[Any], limit: int) -> None:
        self.item = item
        self.limit = limit
        self.count = U8_CODEC if limit < 256 else U32_CODEC

    def encode(self, value: tuple[Any, ...], out: list[bytes]) -> None:
        if not isinstance(value, tuple) or len(value) > self.limit:
            raise EncodingError(f"expected a tuple of at most {self.limit} items")
        out.append(self.count.struct.pack(len(value)))
        for item in value:
            self.item.encode(item, out)

    def decode(self, r: Reader) -> tuple[Any, ...]:
        n = _read_length(r, self.limit, "list", self.count)
        return tuple(self.item.decode(r) for _ in range(n))


class Struct(Codec[D]):
    """A frozen dataclass whose fields were declared with codec fields."""

    def __init__(self, cls: type[D]) -> None:
        self.cls = cls
        declared = fields(cls)
        if any(not f.init or f.kw_only for f in declared):
            raise TypeError(f"{cls.__name__}: a codec-declared dataclass takes every field, "
                            "in order, by position")
        self.fields = [(f.name, f.metadata["codec"]) for f in declared]
        self.decoders = [codec.decode for _, codec in self.fields]

    def encode(self, value: D, out: list[bytes]) -> None:
        if type(value) is not self.cls:
            raise EncodingError(f"expected {self.cls.__name__}, got {type(value).__name__}")
        for name, codec in self.fields:
            codec.encode(getattr(value, name), out)

    def decode(self, r: Reader) -> D:
        return self.cls(*[decode(r) for decode in self.decoders])  # fields in their order


_STRUCT_CODECS: dict[type, Struct[Any]] = {}


def struct_codec(cls: type[D]) -> Struct[D]:
    """The (cached) codec of a codec-declared dataclass."""
    codec = _STRUCT_CODECS.get(cls)
    if codec is None:
        codec = _STRUCT_CODECS.setdefault(cls, Struct(cls))
    return codec


U8 = U8_CODEC
U32 = U32_CODEC
U64 = UInt(">Q", 64)
I64 = SInt()
B32 = Fixed(32)
B64 = Fixed(64)


def _field(codec: Codec[Any]) -> Callable[[], Any]:
    return lambda: field(metadata={"codec": codec})


u8, u32, u64, i64, b32 = _field(U8), _field(U32), _field(U64), _field(I64), _field(B32)


def text(limit: int) -> Any:
    return field(metadata={"codec": Text(limit)})


def fixed(size: int) -> Any:
    return field(metadata={"codec": Fixed(size)})


def blob(limit: int) -> Any:
    return field(metadata={"codec": Blob(limit)})


def nested(cls: type) -> Any:
    return field(metadata={"codec": struct_codec(cls)})


def list_of(item: Codec[Any] | type, limit: int, empty_by_default: bool = False) -> Any:
    """A list field; ``empty_by_default``: the empty tuple when not given (a field that only
    some uses of a body fill)."""
    codec = item if isinstance(item, Codec) else struct_codec(item)
    if empty_by_default:
        return field(default=(), metadata={"codec": ListOf(codec, limit)})
    return field(metadata={"codec": ListOf(codec, limit)})


def encode(value: Any, codec: Codec[Any] | None = None) -> bytes:
    """Canonical bytes of a codec-declared dataclass (or of a value with an explicit codec).

    A dataclass value is frozen, so its bytes are kept on it after the first call: state
    roots re-encode the same records block after block.
    """
    cache = codec is None and type(value).__dataclass_params__.frozen
    if cache and _CANONICAL in value.__dict__:
        cached: bytes = value.__dict__[_CANONICAL]
        return cached
    out: list[bytes] = []
    (codec or struct_codec(type(value))).encode(value, out)
    data = b"".join(out)
    if cache:
        value.__dict__[_CANONICAL] = data
    return data


_CANONICAL = "_canonical_bytes"


def decode_exact(data: bytes, codec: Codec[T]) -> T:
    """Decode bytes that must hold exactly one canonical value of ``codec``."""
    r = Reader(data)
    value = codec.decode(r)
    r.finish()
    out: list[bytes] = []
    codec.encode(value, out)
    if b"".join(out) != bytes(data):
        raise EncodingError("not the canonical encoding of its value")
    return value
