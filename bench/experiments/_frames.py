"""Frames for the prototypes: items batched into frames, parts put back together.

The prototypes keep their own small copy rather than `agentscope_rpc.rpc.frames`
(whose interface changes with the core): items go out in frames of about
`FRAME_BYTES`, an item is never split (the prototypes send no item larger
than a frame), and `Reassembler` puts back an item the real server or
client sent as consecutive `Part`s.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from agentscope_rpc.rpc._proto import agent_server_pb2 as pb

FRAME_BYTES = 1 << 20


def pack(items: Iterable[Any], frame_type: type) -> list:
    """Serialized frames carrying `items` in order, about `FRAME_BYTES` each."""
    frames: list = []
    batch: list = []
    size = 0
    for item in items:
        batch.append(item)
        size += item.ByteSize()
        if size >= FRAME_BYTES:
            frames.append(frame_type(items=batch).SerializeToString())
            batch, size = [], 0
    if batch:
        frames.append(frame_type(items=batch).SerializeToString())
    return frames


class PartTooLarge(Exception):
    """An item announced or grew beyond the receiver's limit."""

    def __init__(self, request_id: str, size: int, limit: int) -> None:
        super().__init__(f"request of {size} bytes exceeds the limit of {limit} bytes")
        self.request_id = request_id


class Reassembler:
    """Puts `Part`s back into items of `item_type`; at most `max_bytes` per item."""

    def __init__(self, item_type: type, max_bytes: int) -> None:
        self._item_type = item_type
        self._max = max_bytes
        self._request_id = ""
        self._pieces: list = []
        self._size = 0
        self._skipping = False

    def feed(self, part: pb.Part) -> Optional[Any]:
        """The item once its last part arrived, else None; PartTooLarge once for an oversized one."""
        if part.request_id or part.total:  # the first part of an item
            self._request_id, self._pieces, self._size, self._skipping = part.request_id, [], 0, False
        if self._skipping:
            self._skipping = not part.last
            return None
        self._size += len(part.data)
        if max(self._size, part.total) > self._max:
            self._pieces, self._skipping = [], not part.last
            raise PartTooLarge(self._request_id, max(self._size, part.total), self._max)
        self._pieces.append(part.data)
        if not part.last:
            return None
        data, self._pieces, self._size = b"".join(self._pieces), [], 0
        item = self._item_type()
        item.ParseFromString(data)
        return item
