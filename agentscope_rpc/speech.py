"""Where spoken messages go.

`AgentBase.speak` turns whatever it is given into `SpeakEvent`s (one per
chunk, one msg id) and hands each to `publish`, which offers it to the sinks
bound in the current context (`bind_sinks`): an agent server binds the relay
of the call being served, an `@pipeline` app binds its stream.  When no sink
claims an event, the caller shows it on its runtime's console printer.

A `SpeakEvent` carries the text added since the previous event of its
message (`delta`), so relaying or printing a chunk costs the same however
long the message already is; `event.msg`, the accumulated message that hooks
see, is built only when someone reads it.

Transport-agnostic: nothing here knows about gRPC.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator, Optional, Protocol

from .message import Msg


class SpeakEvent:
    """One chunk of a spoken message.

    `msg`: the message so far (same id for every chunk; built lazily when
    `build` is given, from `msg_id`/`name`/`role`/`metadata` and the text).
    `delta`: the text this chunk added, or None when the content was replaced
    (a hook rewrote it) or is not text.  `stream`: part of a streamed message;
    `last`: its final chunk; `error`: the speak generator raised (the message
    ends here).
    """

    __slots__ = ("_msg", "_build", "stream", "last", "seq", "agent_id", "error", "delta",
                 "_msg_id", "_name", "_role", "_metadata")

    def __init__(
        self,
        msg: Optional[Msg],
        stream: bool,
        last: bool,
        seq: int = 0,
        agent_id: str = "",
        error: Optional[BaseException] = None,
        delta: Optional[str] = None,
        build: Optional[Callable[[], Msg]] = None,
        head: Optional[tuple] = None,
    ) -> None:
        self._msg = msg
        self._build = build
        self.stream = stream
        self.last = last
        self.seq = seq
        self.agent_id = agent_id
        self.error = error
        self.delta = delta
        if msg is not None:
            head = (msg.id, msg.name, msg.role, msg.metadata)
        self._msg_id, self._name, self._role, self._metadata = head or ("", "", "assistant", None)

    @property
    def msg(self) -> Msg:
        msg = self._msg
        if msg is None:
            build, self._build = self._build, None
            msg = self._msg = build() if build is not None else Msg(self._name, "", self._role, id=self._msg_id)
        return msg

    # what a relay or printer needs without building the message
    @property
    def msg_id(self) -> str:
        return self._msg_id

    @property
    def name(self) -> str:
        return self._name

    @property
    def role(self) -> str:
        return self._role

    @property
    def metadata(self) -> Any:
        return self._metadata

    @property
    def ended(self) -> bool:
        """No later chunk of this message will come."""
        return self.last or not self.stream or self.error is not None

    def with_msg(self, msg: Msg) -> "SpeakEvent":
        """The same chunk showing `msg` instead (a pre_speak hook rewrote it)."""
        if msg is self._msg:
            return self
        return SpeakEvent(msg, self.stream, self.last, self.seq, self.agent_id, self.error, None)

    def __repr__(self) -> str:
        return f"SpeakEvent(seq={self.seq}, last={self.last}, stream={self.stream}, delta={self.delta!r:.40})"


class TextBuffer:
    """The text of a message being streamed: appends cost O(delta), not O(length)."""

    __slots__ = ("_pieces", "_joined", "_count")

    def __init__(self, text: str = "") -> None:
        self._pieces: list = [text] if text else []
        self._joined = text  # "".join(self._pieces[:self._count])
        self._count = len(self._pieces)

    def add(self, delta: str) -> str:
        if delta:
            self._pieces.append(delta)
        return delta

    def set(self, new_text: str) -> Optional[str]:
        """Replace with the whole text so far; returns the delta, or None if it was rewritten."""
        old = self.value()
        self._pieces, self._joined, self._count = ([new_text] if new_text else []), new_text, 1 if new_text else 0
        return new_text[len(old):] if new_text.startswith(old) else None

    def value(self) -> str:
        if self._count != len(self._pieces):
            self._joined = "".join(self._pieces)
            self._pieces = [self._joined] if self._joined else []
            self._count = len(self._pieces)
        return self._joined

    def snapshot(self) -> Callable[[], str]:
        """A function returning the text as it is now (joined only when called)."""
        pieces, count = self._pieces, len(self._pieces)
        return lambda: "".join(pieces[:count])


class Sink(Protocol):
    """Receives speak events.  Returns True when it takes over display."""

    def __call__(self, event: SpeakEvent) -> bool: ...


_SINKS: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "agentscope_rpc_sinks",
    default=(),
)


def current_sinks() -> tuple:
    """The sinks bound in the calling context (captured by remote calls)."""
    return _SINKS.get()


@contextlib.contextmanager
def bind_sinks(*sinks: Sink, replace: bool = False) -> Iterator[None]:
    """Bind sinks for the code run inside the `with` block."""
    base = () if replace else _SINKS.get()
    token = _SINKS.set(base + tuple(sinks))
    try:
        yield
    finally:
        _SINKS.reset(token)


def set_sinks(sinks: tuple) -> contextvars.Token:
    """Make `sinks` the context's sinks (what `bind_sinks(..., replace=True)` does); undo with `reset_sinks`."""
    return _SINKS.set(sinks)


def reset_sinks(token: contextvars.Token) -> None:
    _SINKS.reset(token)


def publish(event: SpeakEvent, sinks: Optional[tuple] = None) -> bool:
    """Offer an event to `sinks` (default: the context's); True if one claimed it."""
    claimed = False
    for sink in _SINKS.get() if sinks is None else sinks:
        claimed = bool(sink(event)) or claimed
    return claimed


# -- objects put into app streams (put_into_stream / stop_stream) -----------
def _target(method: str, sinks: Optional[tuple]) -> Any:
    for sink in _SINKS.get() if sinks is None else sinks:
        if hasattr(sink, method):
            return sink
    return None


def put_object(obj: Any, sinks: Optional[tuple] = None) -> bool:
    """Deliver `obj` to the first bound sink that takes objects; False if none does."""
    target = _target("put", sinks)
    if target is None:
        return False
    target.put(obj)
    return True


def stop_streams(sinks: Optional[tuple] = None) -> bool:
    """End the stream of the first bound sink that has one; False if none does."""
    target = _target("stop_stream", sinks)
    if target is None:
        return False
    target.stop_stream()
    return True


def track_call(placeholder: Any, sinks: tuple) -> None:
    """Sinks that own a run (an app, a served call) learn of calls it starts."""
    for sink in sinks:
        track = getattr(sink, "track", None)
        if track is not None:
            track(placeholder)
