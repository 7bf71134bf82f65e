"""Server side of the speak relay: agent threads -> the call's gRPC stream.

`CallRelay` is the speech sink bound while a call runs.  Agent code (usually
on a worker thread) pushes speak events; the servicer's stream drains them
as batches of delta chunks.  The buffer is bounded: consecutive chunks of
one message coalesce into one delta, and a producer that gets more than
`max_items` distinct messages ahead of the consumer waits.  Once the call is
cancelled, the next push raises `StreamCancelledError` in the agent's code,
which stops its speak generator.
"""
from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections import deque
from typing import Any, Callable, Optional

from ..exception import StreamCancelledError
from ..message import Msg
from ..rpc._proto import agent_server_pb2 as pb
from ..speech import SpeakEvent

PRODUCER_WAIT_S = 1.0  # re-check cancellation at least this often while blocked


class CallRelay:
    """Bounded, coalescing bridge of one call's speak events."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_items: int = 256) -> None:
        self._loop = loop
        self._max_items = max_items
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._items: deque = deque()
        self._sent_text: dict[str, str] = {}  # msg id -> content already queued
        self._consumer_waiting = False
        self._wakeup = asyncio.Event()
        self._listener: Optional[Callable[[], None]] = None  # session mode, see listen()
        self._notified = False
        self._closed = False
        self.cancelled = False
        self.pushed = 0
        self.high_water = 0  # most items ever queued (a debug counter)
        self._nested: "weakref.WeakSet" = weakref.WeakSet()

    # -- producer side (any thread) --------------------------------------------
    def __call__(self, event: SpeakEvent) -> bool:
        if self.cancelled:
            raise StreamCancelledError("the caller cancelled this call")
        self._push(self._chunk(event))
        return True  # the relay displays it (on the orchestrator), not the console

    def put(self, obj: Any) -> None:
        """`put_into_stream` from agent code: forwarded to the app stream."""
        if self.cancelled:
            raise StreamCancelledError("the caller cancelled this call")
        self._push(("put", obj))

    def stop_stream(self) -> None:
        """`stop_stream` from agent code: ends the caller's app stream."""
        self._push(("stop", None))

    def track(self, placeholder: Any) -> None:
        """A nested call made while serving this one: cancelled with it."""
        if self.cancelled:
            placeholder.cancel()
        else:
            self._nested.add(placeholder)

    def _chunk(self, event: SpeakEvent) -> pb.SpeakChunk:
        msg: Msg = event.msg
        chunk = pb.SpeakChunk(
            msg_id=msg.id,
            seq=event.seq,
            last=event.last,
            stream=event.stream,
            name=str(msg.name),
            role=str(msg.role or ""),
            agent_id=event.agent_id,
        )
        if msg.metadata is not None:
            chunk.metadata_json = json.dumps(msg.metadata, ensure_ascii=False, default=str)
        if event.error is not None:
            chunk.error_type = type(event.error).__name__
        if isinstance(msg.content, str) or msg.content is None:
            text = msg.content or ""
            with self._lock:
                sent = self._sent_text.get(msg.id)
                if sent is not None and text.startswith(sent):
                    chunk.delta = text[len(sent):]
                else:
                    chunk.delta = text
                    chunk.replace = sent is not None
                if chunk.last or not chunk.stream or event.error is not None:
                    self._sent_text.pop(msg.id, None)
                else:
                    self._sent_text[msg.id] = text
        else:
            chunk.content_json = json.dumps(msg.content, ensure_ascii=False, default=str)
            chunk.replace = True
        return chunk

    def _push(self, item: Any) -> None:
        on_loop = self._on_loop_thread()
        with self._lock:
            if len(self._items) < self._max_items:
                self._items.append(item)
            elif not self._merge_into_tail(item):
                while len(self._items) >= self._max_items and not self.cancelled and not on_loop:
                    self._space.wait(PRODUCER_WAIT_S)
                if self.cancelled:
                    raise StreamCancelledError("the caller cancelled this call")
                self._items.append(item)
            self.pushed += 1
            if len(self._items) > self.high_water:
                self.high_water = len(self._items)
            wake = self._consumer_waiting
            self._consumer_waiting = False
            notify = self._listener is not None and not self._notified
            if notify:
                self._notified = True
        if wake:
            if on_loop:
                self._wakeup.set()
            else:
                self._loop.call_soon_threadsafe(self._wakeup.set)
        if notify:
            if on_loop:
                self._loop.call_soon(self._listener)
            else:
                self._loop.call_soon_threadsafe(self._listener)

    def _merge_into_tail(self, item: Any) -> bool:
        """Under backpressure, fold a chunk into the queued chunk of the same message.

        An error chunk is never merged: the text before it must reach the
        caller's pre_speak hooks as a chunk of its own.
        """
        tail = self._items[-1] if self._items else None
        if not (
            isinstance(item, pb.SpeakChunk)
            and isinstance(tail, pb.SpeakChunk)
            and tail.msg_id == item.msg_id
            and tail.stream
            and not (tail.last or tail.error_type or item.error_type or item.content_json or tail.content_json)
        ):
            return False
        if item.replace:
            tail.delta = item.delta
            tail.replace = True
        else:
            tail.delta += item.delta
        tail.seq = item.seq
        tail.last = item.last
        return True

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- consumer side (the servicer, on the loop) ------------------------------
    def close(self) -> None:
        """No more events will come (the call finished); called on the loop."""
        with self._lock:
            self._closed = True
        self._wakeup.set()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._items.clear()
            self._space.notify_all()
        for placeholder in list(self._nested):
            placeholder.cancel()

    def listen(self, callback: Callable[[], None]) -> None:
        """Session mode: `callback()` runs on the loop when items wait to be taken."""
        self._listener = callback

    def take(self) -> tuple[list, bool]:
        """Session mode: all queued items, and whether the call has finished."""
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._notified = False
            self._space.notify_all()
            return items, self._closed

    async def batches(self):
        """Yield lists of queued items until the call has finished."""
        while True:
            with self._lock:
                items = list(self._items)
                self._items.clear()
                closed = self._closed
                if not items and not closed:
                    self._consumer_waiting = True
                    self._wakeup.clear()
                self._space.notify_all()
            if items:
                yield items
                continue
            if closed:
                return
            await self._wakeup.wait()

    def pending(self) -> Optional[int]:
        return len(self._items)
