"""A block's transactions as a store keeps them: compressed, and checked when read back.

The canonical bytes (`wire.encode_transactions`) are what the block hash, the Merkle root and
every signature cover; a store only keeps them smaller. Layout::

    length u32 | crc32 u32 | zlib stream (level 6) of the canonical bytes

``length`` is the canonical length: reading inflates at most that many bytes (and never more
than ``MAX_BLOCK_TX_BYTES``), so a crafted row cannot make a reader allocate without bound.
``crc32`` is CRC-32 of the zlib stream: a deflate stream ends in padding bits that inflating
ignores, and a stored form with such slack would let a changed byte pass unnoticed.
"""

from __future__ import annotations

import struct
import zlib

from testbed.ledger.encoding import EncodingError
from testbed.ledger.params import MAX_BLOCK_TX_BYTES

LEVEL = 6
"""zlib's default. Measured on a bench network block (500 transactions, 125 KB, mostly
sealed records): level 9 took 33 ms and packed to 57.2 %, level 6 5.5 ms and 57.7 %. Every
validator packs every block it commits: level 9 was an eighth of a validator's busy time in
`testbed bench network` (py-spy), for 1 % of the file."""
_HEAD = struct.Struct(">II")


def pack(canonical: bytes) -> bytes:
    """The stored form of a block's canonical transaction bytes."""
    if len(canonical) > MAX_BLOCK_TX_BYTES:
        raise EncodingError(f"a block's transactions are {len(canonical)} bytes, more than "
                            f"the {MAX_BLOCK_TX_BYTES} a store keeps")
    stream = zlib.compress(canonical, LEVEL)
    return _HEAD.pack(len(canonical), zlib.crc32(stream)) + stream


def unpack(stored: bytes) -> bytes:
    """The canonical bytes back; `EncodingError` for a stored form that is damaged, inflates
    to another length, or claims more than ``MAX_BLOCK_TX_BYTES``."""
    if len(stored) < _HEAD.size:
        raise EncodingError("stored transactions are truncated")
    length, crc = _HEAD.unpack_from(stored)
    stream = stored[_HEAD.size:]
    if length > MAX_BLOCK_TX_BYTES:
        raise EncodingError(f"stored transactions claim {length} bytes, more than the "
                            f"{MAX_BLOCK_TX_BYTES} a block may hold")
    if zlib.crc32(stream) != crc:
        raise EncodingError("stored transactions fail their checksum")
    inflate = zlib.decompressobj()
    try:
        canonical = inflate.decompress(stream, length + 1)  # one byte more tells a longer one
    except zlib.error as exc:
        raise EncodingError(f"stored transactions do not inflate: {exc}") from None
    if len(canonical) != length or not inflate.eof or inflate.unused_data:
        raise EncodingError(f"stored transactions do not inflate to their {length} bytes")
    return canonical
