"""`AppStream`: a bounded, ordered stream of one app's events (also a speech sink).

Used by `@pipeline` apps (`agentscope_rpc.streaming`) and, as the runtime
stream, by `put_into_stream` outside apps.  Chunks of one message coalesce
into the newest snapshot when the consumer lags, and producers wait when
completed items pile up, so memory stays bounded.  Ends are explicit: a
stream finishes as completed, error (raised to the consumer where it
happened), cancelled or timeout.
"""
from __future__ import annotations

import threading
import weakref
from collections import deque
from typing import Any, Iterator, NamedTuple, Optional

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
        """As a speech sink: a completed message (or, with `chunks`, each snapshot) joins the stream."""
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
        """`put_into_stream(obj)`: `obj` joins the stream."""
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

    def pending(self) -> int:
        """Items waiting to be read."""
        with self._cond:
            return len(self._items)

    def stop_stream(self) -> None:
        """`stop_stream()`: the stream ends (completed) after what it holds."""
        self.finish()

    def finish(self, error: Optional[BaseException] = None) -> None:
        """End the stream: completed, or with `error` raised to the consumer after what it holds."""
        with self._cond:
            if self.status is None:
                self.status = ERROR if error is not None else COMPLETED
                self._error = error
            self._cond.notify_all()

    # -- consumer ------------------------------------------------------------------
    def cancel(self) -> None:
        """The consumer left: end the stream at once and cancel the remote calls the app started."""
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


__all__ = ["AppStream", "SpeakChunk", "COMPLETED", "ERROR", "CANCELLED", "TIMEOUT"]
