"""App-level streams: the `@pipeline` generator and the runtime stream.

    @pipeline
    def main():
        a, b = Talker("a", to_dist=True), Talker("b", to_dist=True)
        x = a(None)
        b(x)

    for msg in main():          # every message any agent speaks, in order
        print(msg.name, msg.content)

`@pipeline(chunks=True)` yields `SpeakChunk(msg, last)` snapshots as the
message grows instead of only completed messages.  `put_into_stream(obj)`,
called from app code or from any agent (local or remote, nested or not),
delivers `obj` into the same stream.  An exception in the app is raised by
the generator where it happened; leaving the loop early (break, close, a
consumer going away) cancels the app and the remote calls it started.

Outside an app, `put_into_stream` feeds the process's runtime stream, read
with `get_runtime_stream(timeout=...)` and ended by `stop_stream()`.

Streams are bounded: chunks of one message coalesce into the newest snapshot
when the consumer lags, and producers wait when completed items pile up.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import weakref
from collections import deque
from typing import Any, Callable, Iterator, NamedTuple, Optional

from . import speech
from .exception import StreamCancelledError, StreamTimeoutError
from .message import Msg

COMPLETED, ERROR, CANCELLED, TIMEOUT = "completed", "error", "cancelled", "timeout"
PRODUCER_WAIT_S = 0.5  # how often a blocked producer re-checks for cancellation


class SpeakChunk(NamedTuple):
    """A snapshot of a message being spoken (`chunks=True` streams)."""

    msg: Msg
    last: bool


class AppStream:
    """A bounded, ordered stream of one app's events; also a speech sink."""

    def __init__(self, chunks: bool = False, maxsize: int = 256) -> None:
        self.chunks = chunks
        self.maxsize = maxsize
        self.status: Optional[str] = None
        self.high_water = 0  # most items ever buffered (a debug counter)
        self._items: deque = deque()
        self._error: Optional[BaseException] = None
        self._cond = threading.Condition()
        self._calls: "weakref.WeakSet" = weakref.WeakSet()

    # -- producers (any thread) -----------------------------------------------
    def __call__(self, event: speech.SpeakEvent) -> bool:
        # a message that failed mid-stream yields no `last` snapshot (its
        # chunks so far were delivered; the error surfaces where the app
        # raises it), so `last=True` always means "complete"
        if event.error is not None:
            return True
        if self.chunks:
            done = event.last or not event.stream
            self._push(SpeakChunk(event.msg, done), coalesce_id=event.msg.id)
        elif event.last or not event.stream:
            self._push(event.msg)
        return True  # the app shows it; the console stays quiet

    def put(self, obj: Any) -> None:
        self._push(obj)

    def wait_calls(self) -> None:
        """Wait until every remote call the app started has finished."""
        while True:
            pending = [p for p in list(self._calls) if not p.done()]
            if not pending or self.status is not None:
                return
            for placeholder in pending:
                try:
                    placeholder.exception()  # waits; errors were the app's to read
                except Exception:  # pylint: disable=broad-except
                    pass

    def _push(self, item: Any, coalesce_id: Optional[str] = None) -> None:
        with self._cond:
            if self.status in (CANCELLED, TIMEOUT):
                raise StreamCancelledError("the app's consumer stopped reading")
            if self.status is not None:
                return  # stop_stream() ended it: later output is dropped
            if len(self._items) >= self.maxsize:
                tail = self._items[-1]
                if coalesce_id and isinstance(tail, SpeakChunk) and tail.msg.id == coalesce_id and not tail.last:
                    self._items[-1] = item  # keep only the newest snapshot
                    return
                while len(self._items) >= self.maxsize and self.status is None:
                    self._cond.wait(PRODUCER_WAIT_S)
                if self.status in (CANCELLED, TIMEOUT):
                    raise StreamCancelledError("the app's consumer stopped reading")
                if self.status is not None:
                    return  # stopped while waiting: dropped like any later output
            self._items.append(item)
            if len(self._items) > self.high_water:
                self.high_water = len(self._items)
            self._cond.notify_all()

    def stop_stream(self) -> None:
        self.finish()

    def finish(self, error: Optional[BaseException] = None) -> None:
        with self._cond:
            if self.status is None:
                self.status = ERROR if error is not None else COMPLETED
                self._error = error
            self._cond.notify_all()

    # -- consumer ------------------------------------------------------------------
    def cancel(self) -> None:
        with self._cond:
            if self.status is None:
                self.status = CANCELLED
            self._items.clear()
            self._cond.notify_all()
        for placeholder in list(self._calls):
            placeholder.cancel()

    def track(self, placeholder: Any) -> None:
        """Remember a remote call started by the app, to cancel it with the app."""
        if self.status in (CANCELLED, TIMEOUT):
            placeholder.cancel()
        else:
            self._calls.add(placeholder)

    def __iter__(self) -> Iterator[Any]:
        return self.iterate()

    def iterate(self, timeout: Optional[float] = None) -> Iterator[Any]:
        """Yield items until the stream ends; raise its error at that point."""
        while True:
            with self._cond:
                if not self._items and self.status is None:
                    if not self._cond.wait_for(lambda: self._items or self.status is not None, timeout):
                        self.status = TIMEOUT
                        self._cond.notify_all()
                        raise StreamTimeoutError(f"no stream event within {timeout}s")
                if self._items:
                    item = self._items.popleft()
                    self._cond.notify_all()
                elif self.status == ERROR and self._error is not None:
                    raise self._error
                else:
                    return
            yield item


def pipeline(
    func: Optional[Callable] = None,
    *,
    chunks: bool = False,
    maxsize: int = 256,
    timeout: Optional[float] = None,
) -> Any:
    """Decorator: the app function returns a generator of what agents speak."""

    def decorate(app: Callable) -> Callable[..., Iterator[Any]]:
        @functools.wraps(app)
        def start(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return run_app(app, args, kwargs, AppStream(chunks, maxsize), timeout)

        start.__agentscope_pipeline__ = PipelineSpec(app, chunks, maxsize, timeout)  # type: ignore[attr-defined]
        return start

    return decorate(func) if func is not None else decorate


class PipelineSpec(NamedTuple):
    """What `@pipeline` wrapped: the app function and the stream options."""

    app: Callable
    chunks: bool
    maxsize: int
    timeout: Optional[float]


def run_app(
    app: Callable,
    args: tuple,
    kwargs: dict,
    stream: AppStream,
    timeout: Optional[float] = None,
) -> Iterator[Any]:
    """Run `app(*args, **kwargs)` in its own thread, speaking into `stream`.

    The generator yields the stream's items once iteration starts.  Closing
    it early, or `stream.cancel()` from any thread (which ends the iteration
    at once), cancels the app's remote calls.
    """
    ctx = contextvars.copy_context()

    def body() -> None:
        try:
            with speech.bind_sinks(stream):
                if inspect.iscoroutinefunction(app):
                    asyncio.run(app(*args, **kwargs))
                else:
                    app(*args, **kwargs)
            stream.wait_calls()  # what the app started still speaks into the stream
        except BaseException as err:  # pylint: disable=broad-except
            stream.finish(None if isinstance(err, StreamCancelledError) and stream.status == CANCELLED else err)
        else:
            stream.finish()

    thread = threading.Thread(target=ctx.run, args=(body,), name=f"app-{app.__name__}", daemon=True)
    thread.start()
    try:
        yield from stream.iterate(timeout)
    finally:
        if stream.status in (None, TIMEOUT):  # left early: stop the app's work
            stream.cancel()


# -- the runtime stream ------------------------------------------------------------
# Oldest first.  Writers use the newest open stream (a new one after
# stop_stream); readers take the oldest that is open or still holds items, so
# what was put before a stop_stream() is read before the stream ends.
_runtime: deque = deque()
_runtime_lock = threading.Lock()


def _prune_runtime() -> None:
    while _runtime and _runtime[0].status is not None and not _runtime[0]._items:
        _runtime.popleft()


def _runtime_writer() -> AppStream:
    with _runtime_lock:
        _prune_runtime()
        if not _runtime or _runtime[-1].status is not None:
            _runtime.append(AppStream())
        return _runtime[-1]


def _runtime_reader() -> AppStream:
    with _runtime_lock:
        _prune_runtime()
        if not _runtime:
            _runtime.append(AppStream())
        return _runtime[0]


def put_into_stream(obj: Any) -> None:
    """Deliver `obj` into the current app's stream (or the runtime stream)."""
    speech.put_object(obj)


def stop_stream() -> None:
    """End the current app's stream (or the runtime stream)."""
    speech.stop_streams()


def get_runtime_stream(timeout: Optional[float] = None) -> Iterator[Any]:
    """Items given to `put_into_stream` outside apps, until `stop_stream()`.

    Raises `StreamTimeoutError` when nothing arrives within `timeout` seconds.
    """
    return _runtime_reader().iterate(timeout)


speech.set_fallback_stream(_runtime_writer)

__all__ = [
    "pipeline",
    "SpeakChunk",
    "AppStream",
    "PipelineSpec",
    "run_app",
    "put_into_stream",
    "stop_stream",
    "get_runtime_stream",
]
