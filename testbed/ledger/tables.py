"""State tables that hash incrementally: a state root no longer re-reads the whole state.

A `HashedTable` is a dict of records (canonically encoded frozen values, or bytes or ints) that
keeps its digest as a two-level Merkle tree: each record falls into one of 256 buckets by the
first byte of SHA-256 of its key; a bucket's hash covers its records sorted by key, and the
table's digest covers its size and the 256 bucket hashes. A write marks its bucket dirty and
`digest` rehashes only the dirty buckets. The digest is a function of the table's contents
alone (not of the order or the grouping of the writes), so every validator, and every replay,
gets the same root for the same state.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, overload

from testbed.ledger import encoding as enc

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_T = TypeVar("_T")
BUCKETS = 256
_EMPTY = hashlib.sha256(b"bucket/v1").digest()


def key_bytes(key: object) -> bytes:
    """Canonical bytes of a table key: bytes as they are, integers as u64, tuples joined."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, int):
        return struct.pack(">Q", key)
    if isinstance(key, tuple):
        return b"".join(key_bytes(part) for part in key)
    raise TypeError(f"not a table key: {key!r}")


def value_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return struct.pack(">q", value)
    return enc.encode(value)


class HashedTable(dict[K, V]):
    """A dict whose digest is kept up to date bucket by bucket (see the module docstring).

    Only ``table[key] = value``, ``del table[key]`` and ``pop`` change it: the ways the state
    is written. Each bucket's keys are kept as a tuple, shared with copies until one of them
    writes to the bucket, so a copy costs the dict and 256 references."""

    __slots__ = ("_buckets", "_dirty", "_members")

    def __init__(self) -> None:
        super().__init__()
        self._buckets = [_EMPTY] * BUCKETS
        self._dirty: set[int] = set()
        self._members: list[tuple[K, ...]] = [()] * BUCKETS

    def __setitem__(self, key: K, value: V) -> None:
        bucket = _bucket(key)
        if key not in self:
            self._members[bucket] = (*self._members[bucket], key)
        super().__setitem__(key, value)
        self._dirty.add(bucket)

    def __delitem__(self, key: K) -> None:
        super().__delitem__(key)
        bucket = _bucket(key)
        self._members[bucket] = tuple(k for k in self._members[bucket] if k != key)
        self._dirty.add(bucket)

    @overload
    def pop(self, key: K, /) -> V: ...

    @overload
    def pop(self, key: K, default: V, /) -> V: ...

    @overload
    def pop(self, key: K, default: _T, /) -> V | _T: ...

    def pop(self, key: K, *default: Any) -> Any:  # dict.pop's signatures
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def copy(self) -> HashedTable[K, V]:
        other: HashedTable[K, V] = HashedTable()
        dict.update(other, self)
        other._buckets = list(self._buckets)
        other._dirty = set(self._dirty)
        other._members = list(self._members)
        return other

    def digest(self) -> bytes:
        """SHA-256 over the number of records and the 256 bucket hashes."""
        for bucket in self._dirty:
            keys = self._members[bucket]
            self._buckets[bucket] = _bucket_hash(keys, self.__getitem__) if keys else _EMPTY
        self._dirty.clear()
        h = hashlib.sha256(struct.pack(">Q", len(self)))
        h.update(b"".join(self._buckets))
        return h.digest()


@functools.lru_cache(maxsize=1 << 16, typed=True)
def _bucket(key: object) -> int:
    """The bucket of a key (cached: a block writes the same accounts and intervals again)."""
    return hashlib.sha256(key_bytes(key)).digest()[0]


def _bucket_hash(keys: tuple[K, ...], get: Callable[[K], Any]) -> bytes:
    h = hashlib.sha256(b"bucket/v1")
    for k, key in sorted((key_bytes(key), key) for key in keys):
        data = value_bytes(get(key))
        h.update(struct.pack(">II", len(k), len(data)) + k + data)
    return h.digest()
