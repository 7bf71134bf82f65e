"""`CallRelay`: the speech sink bound while a call runs.

Agent code (on a worker thread, or on the loop for async agents) speaks
into it; the call's session takes the queued events as wire events whenever
the caller has granted credit (`take`).  The buffer is a `SpeakBuffer`:
bounded, folding consecutive chunks of one message only once it is full, so
a slow caller costs a bounded amount of memory and a fast one sees every
chunk.  A producer that cannot fold waits for room (a worker thread) — or,
on the loop, where nothing may wait, folds or grows past the bound.  Once
the call is cancelled, the next chunk raises `StreamCancelledError` in the
agent's code, which stops its speak generator.
"""
from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any, Callable, Optional

from ..exception import StreamCancelledError
from ..rpc.speak_codec import MAX_STEPS, SpeakBuffer
from ..speech import SpeakEvent

# A waiting producer is woken by take() or cancel(); the timeout is only a
# safety net against a lost wake-up.
PRODUCER_WAIT_S = 5.0


class CallRelay:
    """Bounded bridge of one call's speech to its session (see module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_steps: int = MAX_STEPS) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._room: Optional[threading.Condition] = None  # made when a producer first has to wait
        self._max_steps = max_steps
        self._buffer: Optional[SpeakBuffer] = None  # made when the call first speaks
        self._listener: Optional[Callable[[], None]] = None
        self._notified = False
        self.cancelled = False
        self.high_water = 0  # most steps ever queued (tests read it)
        self._nested: Optional["weakref.WeakSet"] = None  # nested calls, cancelled with this one

    # -- producer side (any thread) --------------------------------------------------------
    def __call__(self, event: SpeakEvent) -> bool:
        on_loop = self._on_loop()
        with self._lock:
            if self.cancelled:
                raise StreamCancelledError("the caller cancelled this call")
            buffer = self._buffer or self._new_buffer()
            step = buffer.step(event)
            while not buffer.offer(step, fold=True):
                if on_loop:
                    buffer.force(step)
                    break
                if self._room is None:
                    self._room = threading.Condition(self._lock)
                self._room.wait(PRODUCER_WAIT_S)
                if self.cancelled:
                    raise StreamCancelledError("the caller cancelled this call")
            self._queued()
        return True  # the caller displays it, not this server's console

    def put(self, obj: Any) -> None:
        """`put_into_stream(obj)` in agent code: forwarded to the caller's app stream."""
        with self._lock:
            if self.cancelled:
                raise StreamCancelledError("the caller cancelled this call")
            (self._buffer or self._new_buffer()).add_object("put", obj)
            self._queued()

    def stop_stream(self) -> None:
        """`stop_stream()` in agent code: ends the caller's app stream."""
        with self._lock:
            (self._buffer or self._new_buffer()).add_object("stop")
            self._queued()

    def track(self, placeholder: Any) -> None:
        """A nested call made while serving this one: cancelled with it."""
        if self.cancelled:
            placeholder.cancel()
            return
        if self._nested is None:
            self._nested = weakref.WeakSet()
        self._nested.add(placeholder)

    def _new_buffer(self) -> SpeakBuffer:
        self._buffer = SpeakBuffer(self._max_steps)
        return self._buffer

    def _queued(self) -> None:
        """(locked) Tell the session, once per batch, that events wait."""
        size = len(self._buffer)  # type: ignore[arg-type]
        if size > self.high_water:
            self.high_water = size
        if self._listener is not None and not self._notified:
            self._notified = True
            if self._on_loop():
                self._loop.call_soon(self._listener)
            else:
                self._loop.call_soon_threadsafe(self._listener)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- session side (on the loop) ---------------------------------------------------------
    def listen(self, callback: Callable[[], None]) -> None:
        """`callback()` runs on the loop when events wait to be taken."""
        with self._lock:
            self._listener = callback
            pending = self._buffer is not None and len(self._buffer) > 0
            self._notified = pending
        if pending:
            self._loop.call_soon(callback)

    def take(self, encode: Callable[[Any], Any]) -> list:
        """Everything queued, as (kind, value) event parts; producers waiting for room go on."""
        with self._lock:
            items = self._buffer.take(encode) if self._buffer is not None else []
            self._notified = False
            if self._room is not None:
                self._room.notify_all()
        return items

    def pending(self) -> bool:
        buffer = self._buffer
        return buffer is not None and len(buffer) > 0

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._buffer is not None:
                self._buffer.clear()
            if self._room is not None:
                self._room.notify_all()
        for placeholder in list(self._nested or ()):
            placeholder.cancel()
