"""Where spoken messages go.

`AgentBase.speak` turns whatever it is given into `SpeakEvent`s (one per
chunk, accumulated content, one msg id) and hands each to `publish`.  Who
listens depends on the context the agent runs in:

* the sinks bound in the current context (`bind_sinks`): an agent server binds
  the relay of the call being served, an `@pipeline` app binds its stream;
* when no bound sink claims the event, the process-wide console printer.

Transport-agnostic: nothing here knows about gRPC.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol

from .message import Msg


@dataclass(frozen=True)
class SpeakEvent:
    """One chunk of a spoken message (content accumulated so far)."""

    msg: Msg
    stream: bool
    last: bool
    seq: int = 0
    agent_id: str = ""
    error: Optional[BaseException] = field(default=None, compare=False)


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


def publish(event: SpeakEvent, sinks: Optional[tuple] = None) -> None:
    """Deliver an event to `sinks` (default: the context's), else the console."""
    claimed = False
    for sink in _SINKS.get() if sinks is None else sinks:
        claimed = bool(sink(event)) or claimed
    if not claimed:
        printer = _console_printer
        if printer is _DEFAULT:
            printer = _default_printer()
        if printer is not None:
            printer(event)


_DEFAULT: Any = object()
_console_printer: Any = _DEFAULT  # created on first use; None prints nothing


def _default_printer() -> Callable[[SpeakEvent], None]:
    global _console_printer  # pylint: disable=global-statement
    from .console import ConsolePrinter

    with _console_lock:
        if _console_printer is _DEFAULT:
            _console_printer = ConsolePrinter()
        return _console_printer
_console_lock = threading.Lock()


def set_console_printer(printer: Optional[Callable[[SpeakEvent], None]]) -> None:
    """Install the process-wide printer (None: print nothing)."""
    global _console_printer  # pylint: disable=global-statement
    with _console_lock:
        _console_printer = printer


# -- objects put into app streams (put_into_stream / stop_stream) -----------
_fallback_stream: Optional[Callable[[], Any]] = None


def set_fallback_stream(factory: Optional[Callable[[], Any]]) -> None:
    """Where puts go when no bound sink takes them (the runtime stream)."""
    global _fallback_stream  # pylint: disable=global-statement
    _fallback_stream = factory


def _target(method: str, sinks: Optional[tuple]) -> Any:
    for sink in _SINKS.get() if sinks is None else sinks:
        if hasattr(sink, method):
            return sink
    return _fallback_stream() if _fallback_stream is not None else None


def put_object(obj: Any, sinks: Optional[tuple] = None) -> None:
    """Deliver `obj` to the first bound sink that takes objects, else the fallback."""
    target = _target("put", sinks)
    if target is not None:
        target.put(obj)


def stop_streams(sinks: Optional[tuple] = None) -> None:
    target = _target("stop_stream", sinks)
    if target is not None:
        target.stop_stream()


def track_call(placeholder: Any, sinks: tuple) -> None:
    """Sinks that own a run (an app, a served call) learn of calls it starts."""
    for sink in sinks:
        track = getattr(sink, "track", None)
        if track is not None:
            track(placeholder)
