"""Frames of a session stream, both directions.

Items (`ClientItem` / `ServerItem`) are packed into frames of about
`FRAME_BYTES`.  An item larger than a frame is serialized and sent as
consecutive `Part`s (never interleaved with other items), and the receiver
puts it back together — so a large call or result needs no stream of its
own, and one that exceeds the receiver's limit fails only its own request.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional

from ._proto import agent_server_pb2 as pb

FRAME_BYTES = 1 << 20  # a frame carries items of about this many bytes at most
_ITEM_OVERHEAD = 8


def pack(items: Iterable[Any], item_type: type, frame_type: type,
         request_id: Callable[[Any], str]) -> Iterator[Any]:
    """Frames carrying `items` in order; an oversized item becomes `Part`s."""
    batch: list = []
    size = 0
    for item in items:
        item_size = item.ByteSize() + _ITEM_OVERHEAD
        if item_size > FRAME_BYTES:
            if batch:
                yield frame_type(items=batch)
                batch, size = [], 0
            data = item.SerializeToString()
            rid = request_id(item)
            for start in range(0, len(data), FRAME_BYTES):
                part = pb.Part(data=data[start:start + FRAME_BYTES], last=start + FRAME_BYTES >= len(data))
                if start == 0:
                    part.request_id = rid
                    part.total = len(data)
                yield frame_type(items=[item_type(part=part)])
            continue
        batch.append(item)
        size += item_size
        if size >= FRAME_BYTES:
            yield frame_type(items=batch)
            batch, size = [], 0
    if batch:
        yield frame_type(items=batch)


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
