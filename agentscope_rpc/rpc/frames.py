"""Frames of a session stream, both directions.

Items (`ClientItem` / `ServerItem`) are serialized once, by whoever makes
them, and a frame is their concatenation with the field tag of
`ClientFrame.items` / `ServerFrame.items` — so assembling a frame copies no
protobuf object.  Frames carry items of about `FRAME_BYTES`.  An item larger
than a frame is sent as consecutive `Part`s (never interleaved with other
items), and the receiver puts it back together — so a large call or result
needs no stream of its own, and one that exceeds the receiver's limit fails
only its own request.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

from ._proto import agent_server_pb2 as pb

FRAME_BYTES = 1 << 20  # a frame carries items of about this many bytes at most
_ITEMS_TAG = b"\x0a"  # field 1 (`items`), length-delimited: the same in ClientFrame and ServerFrame


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def entry(item_bytes: bytes) -> bytes:
    """One serialized item as an element of a frame's `items`."""
    size = len(item_bytes)
    return _ITEMS_TAG + (bytes((size,)) if size < 0x80 else _varint(size)) + item_bytes


def parts(request_id: str, item_bytes: bytes, item_type: type) -> list:
    """An oversized item as the entries of its consecutive `Part`s (one per frame)."""
    out = []
    for start in range(0, len(item_bytes), FRAME_BYTES):
        part = pb.Part(data=item_bytes[start:start + FRAME_BYTES], last=start + FRAME_BYTES >= len(item_bytes))
        if start == 0:
            part.request_id = request_id
            part.total = len(item_bytes)
        out.append(entry(item_type(part=part).SerializeToString()))
    return out


def pack(items: Iterable[tuple], item_type: type) -> Iterator[bytes]:
    """Frames (as bytes) carrying `(request_id, item_bytes)` in order; an oversized item becomes parts."""
    batch: list = []
    size = 0
    for request_id, item_bytes in items:
        if len(item_bytes) > FRAME_BYTES:
            if batch:
                yield b"".join(batch)
                batch, size = [], 0
            yield from parts(request_id, item_bytes, item_type)
            continue
        piece = entry(item_bytes)
        batch.append(piece)
        size += len(piece)
        if size >= FRAME_BYTES:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


class PartTooLarge(Exception):
    """An item announced or grew beyond the receiver's limit."""

    def __init__(self, request_id: str, size: int, limit: int) -> None:
        super().__init__(f"request of {size} bytes exceeds the limit of {limit} bytes")
        self.request_id = request_id
        self.size = size
        self.limit = limit


class Reassembler:
    """Puts `Part`s back into items; at most `max_bytes` per item."""

    def __init__(self, item_type: type, max_bytes: int) -> None:
        self._item_type = item_type
        self._max = max_bytes
        self._request_id = ""
        self._pieces: list = []
        self._size = 0
        self._skipping = False  # dropping the rest of an oversized item

    def feed(self, part: pb.Part) -> Optional[Any]:
        """The whole item once its last part arrived, else None; PartTooLarge once for an oversized one."""
        if part.request_id or part.total:  # the first part of an item
            self._request_id, self._pieces, self._size = part.request_id, [], 0
            self._skipping = False
            if part.total > self._max:
                self._skipping = not part.last
                raise PartTooLarge(part.request_id, part.total, self._max)
        if self._skipping:
            self._skipping = not part.last
            return None
        self._size += len(part.data)
        if self._size > self._max:
            self._pieces = []
            self._skipping = not part.last
            raise PartTooLarge(self._request_id, self._size, self._max)
        self._pieces.append(part.data)
        if not part.last:
            return None
        data, self._pieces, self._size = b"".join(self._pieces), [], 0
        item = self._item_type()
        item.ParseFromString(data)
        return item
