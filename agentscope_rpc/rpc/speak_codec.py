"""The speak wire format, both ends: `SpeakEvent` <-> `SpeakDelta`.

Server side, `SpeakBuffer` holds what an agent spoke until the call's stream
may send it: one `_Step` per chunk, bounded, and — only when the consumer
lags — consecutive steps of one message fold into one (their deltas joined
when sent, so a fold costs O(delta), not O(message)).  `take()` turns the
buffer into `SpeakBatch` deltas and put/stop items, in order.

Orchestrator side, `SpeakDecoder` turns deltas back into `SpeakEvent`s with
the accumulated text (same id, growing content; built only if read), skipping
duplicates, and ends open messages with an error when a stream breaks off.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

from ..message import Msg
from ..speech import SpeakEvent, TextBuffer
from ._proto import agent_server_pb2 as pb

MAX_STEPS = 256  # steps a buffer holds before folding / making the producer wait
_COMPACT = 256  # folded deltas are joined in groups of this many (bounded piece lists)


class _Step:
    """One pending chunk (or several folded ones) of a message."""

    __slots__ = ("msg_id", "seq", "pieces", "replace", "last", "stream", "name", "role", "agent_id",
                 "content_json", "metadata_json", "error_type")

    def __init__(self, event: SpeakEvent, text_known: bool) -> None:
        self.msg_id = event.msg_id
        self.seq = event.seq
        self.last = event.last
        self.stream = event.stream
        self.name = str(event.name)
        self.role = str(event.role or "")
        self.agent_id = event.agent_id
        self.error_type = type(event.error).__name__ if event.error is not None else ""
        metadata = event.metadata
        self.metadata_json = json.dumps(metadata, ensure_ascii=False, default=str) if metadata is not None else ""
        self.content_json = ""
        if event.delta is not None and text_known:
            self.pieces = [event.delta] if event.delta else []
            self.replace = False
        else:  # rewritten by a hook, not text, or the start of this message was not seen
            content = event.msg.content
            if isinstance(content, str) or content is None:
                self.pieces = [content] if content else []
            else:
                self.pieces = []
                self.content_json = json.dumps(content, ensure_ascii=False, default=str)
            self.replace = True

    def foldable(self, later: "_Step") -> bool:
        return (
            later.msg_id == self.msg_id
            and self.stream
            and not (self.last or self.error_type or later.error_type or later.content_json or self.content_json)
        )

    def fold(self, later: "_Step") -> None:
        """Absorb the next step of the same message (backpressure)."""
        if later.replace:
            self.pieces = later.pieces
            self.replace = True
        else:
            self.pieces.extend(later.pieces)
            if len(self.pieces) > 2 * _COMPACT:  # keep the piece list short: join the newest pieces
                head = self.pieces[:-_COMPACT]
                self.pieces = head + ["".join(self.pieces[-_COMPACT:])]
        self.seq = later.seq
        self.last = later.last
        if later.metadata_json:
            self.metadata_json = later.metadata_json

    def to_pb(self) -> pb.SpeakDelta:
        return pb.SpeakDelta(
            msg_id=self.msg_id, seq=self.seq, delta="".join(self.pieces), last=self.last, stream=self.stream,
            replace=self.replace, name=self.name, role=self.role, agent_id=self.agent_id,
            content_json=self.content_json, error_type=self.error_type, metadata_json=self.metadata_json,
        )


class SpeakBuffer:
    """Bounded, folding buffer of one call's speech and put/stop items (not thread-safe: the relay locks)."""

    def __init__(self, max_steps: int = MAX_STEPS) -> None:
        self.max_steps = max_steps
        self._items: list = []
        self._open: set = set()  # msg ids whose earlier steps were sent or queued (deltas are meaningful)

    def __len__(self) -> int:
        return len(self._items)

    def step(self, event: SpeakEvent) -> _Step:
        """The pending form of a chunk (its delta kept if the receiver knows the text before it)."""
        step = _Step(event, event.msg_id in self._open or event.seq == 0)
        if event.ended:
            self._open.discard(step.msg_id)
        else:
            self._open.add(step.msg_id)
        return step

    def offer(self, step: _Step, fold: bool) -> bool:
        """Queue a step; False when full and it could not be folded into the last one."""
        items = self._items
        if len(items) < self.max_steps:
            items.append(step)
            return True
        tail = items[-1] if items else None
        if fold and isinstance(tail, _Step) and tail.foldable(step):
            tail.fold(step)
            return True
        return False

    def force(self, step: _Step) -> None:
        """Queue a step even though the buffer is full (a producer that must not wait)."""
        tail = self._items[-1] if self._items else None
        if isinstance(tail, _Step) and tail.foldable(step):
            tail.fold(step)
        else:
            self._items.append(step)

    def add_object(self, kind: str, obj: Any = None) -> None:
        """A put_into_stream(obj) ("put") or stop_stream() ("stop") from the agent."""
        self._items.append((kind, obj))

    def take(self, encode: Callable[[Any], pb.Payload]) -> list:
        """Everything queued, as Event oneof values: ("speak", SpeakBatch) / ("put", Payload) / ("stop", Empty)."""
        items, self._items = self._items, []
        out: list = []
        deltas: list = []
        for item in items:
            if isinstance(item, _Step):
                deltas.append(item.to_pb())
                continue
            if deltas:
                out.append(("speak", pb.SpeakBatch(deltas=deltas)))
                deltas = []
            kind, obj = item
            out.append(("put", encode(obj)) if kind == "put" else ("stop", pb.Empty()))
        if deltas:
            out.append(("speak", pb.SpeakBatch(deltas=deltas)))
        return out

    def clear(self) -> None:
        self._items = []


class _Open:
    __slots__ = ("text", "seq", "name", "role", "agent_id", "metadata")

    def __init__(self, delta: pb.SpeakDelta) -> None:
        self.text = TextBuffer()
        self.seq = -1
        self.name = delta.name
        self.role = delta.role or "assistant"
        self.agent_id = delta.agent_id
        self.metadata: Any = None


class RemoteSpeakFailure(Exception):
    """Placeholder for an exception a remote speak generator raised (see exception.RemoteSpeakError)."""


class SpeakDecoder:
    """Rebuilds `SpeakEvent`s (accumulated text, one id) from one call's deltas."""

    def __init__(self, error_type: Callable[[str], BaseException] = RemoteSpeakFailure) -> None:
        self._open: dict[str, _Open] = {}
        self._error_type = error_type

    def open_messages(self) -> list[str]:
        return list(self._open)

    def decode(self, delta: pb.SpeakDelta) -> Optional[SpeakEvent]:
        """The event for one delta, or None for a duplicate."""
        msg_id = delta.msg_id
        state = self._open.get(msg_id)
        fresh = state is None
        if state is None:
            state = _Open(delta)
        elif delta.seq <= state.seq:
            return None  # never deliver a chunk twice
        state.seq = delta.seq
        if delta.metadata_json:
            state.metadata = json.loads(delta.metadata_json)
        error = self._error_type(delta.error_type) if delta.error_type else None
        ended = delta.last or not delta.stream or error is not None
        text_delta: Optional[str]
        if delta.content_json:
            content: Any = json.loads(delta.content_json)
            text_delta = None
            build = _builder(state, msg_id, lambda: content)
        else:
            if fresh:
                text_delta = state.text.add(delta.delta)
            elif delta.replace:
                text_delta = state.text.set(delta.delta)  # None if rewritten, else what it added
            else:
                text_delta = state.text.add(delta.delta)
            build = _builder(state, msg_id, state.text.snapshot())
        if ended:
            self._open.pop(msg_id, None)
        else:
            self._open[msg_id] = state
        return SpeakEvent(
            None, delta.stream, delta.last, delta.seq, state.agent_id, error, text_delta, build,
            head=(msg_id, state.name, state.role, state.metadata),
        )

    def abort(self, error: Optional[BaseException]) -> list[SpeakEvent]:
        """The stream ended while messages were open: an error event ending each."""
        events = []
        for msg_id, state in list(self._open.items()):
            del self._open[msg_id]
            events.append(SpeakEvent(
                None, True, False, state.seq + 1, state.agent_id,
                error or self._error_type("stream ended"), "", _builder(state, msg_id, state.text.snapshot()),
                head=(msg_id, state.name, state.role, state.metadata),
            ))
        return events


def _builder(state: _Open, msg_id: str, content: Callable[[], Any]) -> Callable[[], Msg]:
    name, role, metadata = state.name, state.role, state.metadata
    return lambda: Msg(name, content(), role, metadata=metadata, id=msg_id)
