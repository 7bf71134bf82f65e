"""Live events: what an `@pipeline` app stream looks like to a viewer.

One small dataclass per event type, tagged by `type`; the same JSON goes on
the wire (`sse`: `event: <type>` / `data: <json>`), into transcripts
(`transcript`) and to the terminal (`console.ConsolePrinter.show_event`):

    chunk    {"id", "name", "role", "seq", "last", "delta" | "text", "metadata"?}
             a growing message: `delta` is the text added since the previous
             chunk of that id; `text` (instead) replaces the whole text (a hook
             rewrote it, or content is not text); `metadata` on the first chunk
    message  Msg.to_dict()                      a message is complete
    put      <JSON of what put_into_stream got> (a dict with "type" is rendered
             by viewers: "phase" banners, "cast", "result"; others as data)
    tool_call    {"agent", "call_id", "tool", "arguments", "msg_id", "round"}
             an agent is about to run a tool (`msg_id`: the message it is speaking)
    tool_result  {"agent", "call_id", "tool", "content", "ok", "error"?, "duration_s", "msg_id", "round"}
             the tool answered (`ok`) or failed (`error`, also reported to the model)
    error    {"type", "message", "remote"}     the app raised; `end` follows
    end      {"status": "completed" | "error" | "cancelled" | "timeout"}

`EventEncoder` turns the items of a stream (`SpeakChunk` snapshots, Msgs,
put objects) into these events, computing deltas per message id, so a
message of n chunks costs O(n) on the wire however long it grows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Optional

from .exception import AgentCallError
from .message import Msg, content_text
from .streaming import SpeakChunk
from .tools.events import TOOL_EVENT_TYPES


@dataclass
class ChunkEvent:
    """A piece of a message being spoken."""

    type: ClassVar[str] = "chunk"
    id: str
    name: str
    role: str
    seq: int
    last: bool
    delta: Optional[str] = None
    text: Optional[str] = None
    metadata: Optional[dict] = None

    def to_data(self) -> dict:
        """The JSON payload."""
        data = {"id": self.id, "name": self.name, "role": self.role, "seq": self.seq, "last": self.last}
        if self.delta is not None:
            data["delta"] = self.delta
        else:
            data["text"] = self.text or ""
        if self.metadata:
            data["metadata"] = self.metadata
        return data


@dataclass
class MessageEvent:
    """A complete message (`msg` is `Msg.to_dict()`)."""

    type: ClassVar[str] = "message"
    msg: dict

    def to_data(self) -> dict:
        """The JSON payload."""
        return self.msg


@dataclass
class PutEvent:
    """Something the app put into its stream (JSON data)."""

    type: ClassVar[str] = "put"
    data: Any

    def to_data(self) -> Any:
        """The JSON payload."""
        return self.data


@dataclass
class ToolCallEvent:
    """A function-calling agent is about to run a tool (`agentscope_rpc.tools.events.ToolCallEvent`)."""

    type: ClassVar[str] = "tool_call"
    data: dict

    def to_data(self) -> dict:
        """The JSON payload."""
        return self.data


@dataclass
class ToolResultEvent:
    """A tool answered or failed (`agentscope_rpc.tools.events.ToolResultEvent`)."""

    type: ClassVar[str] = "tool_result"
    data: dict

    def to_data(self) -> dict:
        """The JSON payload."""
        return self.data


@dataclass
class ErrorEvent:
    """The app raised; the stream ends after this."""

    type: ClassVar[str] = "error"
    error_type: str
    message: str
    remote: bool = False

    def to_data(self) -> dict:
        """The JSON payload."""
        data = {"type": self.error_type, "message": self.message}
        if self.remote:
            data["remote"] = True
        return data

    @classmethod
    def of(cls, err: BaseException) -> "ErrorEvent":
        """The event for an exception (a remote one keeps its remote type)."""
        if isinstance(err, AgentCallError):
            return cls(err.remote_type, err.remote_message, True)
        return cls(type(err).__name__, str(err))


@dataclass
class EndEvent:
    """The stream ended with `status`."""

    type: ClassVar[str] = "end"
    status: str

    def to_data(self) -> dict:
        """The JSON payload."""
        return {"status": self.status}


EVENT_TYPES = {cls.type: cls for cls in (ChunkEvent, MessageEvent, PutEvent, ToolCallEvent, ToolResultEvent,
                                         ErrorEvent, EndEvent)}
"""The event classes by their `type` tag (`"chunk"`, `"message"`, `"put"`, `"tool_call"`, `"tool_result"`,
`"error"`, `"end"`)."""


def from_data(kind: str, data: Any) -> Any:
    """Rebuild an event from its type and JSON payload; ValueError if unknown or malformed."""
    try:
        if kind == "chunk":
            return ChunkEvent(str(data["id"]), str(data.get("name", "")), str(data.get("role", "")),
                              int(data.get("seq", 0)), bool(data.get("last")), data.get("delta"),
                              data.get("text"), data.get("metadata"))
        if kind == "message":
            if not isinstance(data, dict):
                raise TypeError("a message is a JSON object")
            return MessageEvent(data)
        if kind == "put":
            return PutEvent(data)
        if kind in ("tool_call", "tool_result"):
            if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
                raise TypeError("a tool event is a JSON object with a 'tool' name")
            return EVENT_TYPES[kind](data)
        if kind == "error":
            return ErrorEvent(str(data.get("type", "")), str(data.get("message", "")), bool(data.get("remote")))
        if kind == "end":
            return EndEvent(str(data["status"]))
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"malformed {kind} event: {err}") from None
    raise ValueError(f"unknown event type {kind!r}")


def to_json(data: Any) -> str:
    """Compact JSON on one line (never a raw newline); unknown objects as text."""
    return json.dumps(data, ensure_ascii=False, default=_jsonable, separators=(",", ":"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Msg):
        return value.to_dict()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data (what a viewer will get back)."""
    return json.loads(to_json(value))


@dataclass
class EventEncoder:
    """Stream items -> live events, keeping per-message text to send deltas."""

    _sent: dict = field(default_factory=dict)  # msg id -> (text shown, next seq)

    def encode(self, item: Any) -> Iterator[Any]:
        """The events for one item of an app stream."""
        if isinstance(item, SpeakChunk):
            yield from self._chunk(item.msg, item.last)
        elif isinstance(item, Msg):
            self._sent.pop(item.id, None)
            yield MessageEvent(jsonable(item.to_dict()))
        elif isinstance(item, TOOL_EVENT_TYPES):
            yield EVENT_TYPES[item.kind](jsonable(item.to_data()))
        else:
            yield PutEvent(jsonable(item))

    def _chunk(self, msg: Msg, last: bool) -> Iterator[Any]:
        known = self._sent.get(msg.id)
        if known is None and last:  # a whole message in one piece
            yield MessageEvent(jsonable(msg.to_dict()))
            return
        text = content_text(msg.content)
        shown, seq = known if known is not None else ("", 0)
        first = known is None
        if text.startswith(shown) and isinstance(msg.content, str):
            event = ChunkEvent(msg.id, msg.name, msg.role, seq, last, delta=text[len(shown):])
        else:
            event = ChunkEvent(msg.id, msg.name, msg.role, seq, last, text=text)
        if first and msg.metadata:
            event.metadata = jsonable(msg.metadata)
        yield event
        if last:
            self._sent.pop(msg.id, None)
            yield MessageEvent(jsonable(msg.to_dict()))
        else:
            self._sent[msg.id] = (text, seq + 1)

    def finish(self, status: str, err: Optional[BaseException] = None) -> Iterator[Any]:
        """The closing events: an error (if any), then the end."""
        if err is not None:
            yield ErrorEvent.of(err)
        yield EndEvent(status)


__all__ = [
    "ChunkEvent", "MessageEvent", "PutEvent", "ToolCallEvent", "ToolResultEvent", "ErrorEvent", "EndEvent", "EVENT_TYPES",
    "EventEncoder", "from_data", "to_json", "jsonable",
]
