"""Server end of a `Session`: many calls of one client on one gRPC stream.

The client sends batches of calls (and cancellations); each call is checked,
decoded and queued on its actor exactly as `Call` does, and its events go
back as `(task id, event)` pairs, batched with those of other calls into as
few writes as possible.  Per call, the order is that of `Call`: speak
batches (drained from the call's relay whenever it has something), then the
result or error.  No task per call: the relay and the call's `done` future
call back into `_pump`.

Backpressure: while more than `HIGH_WATER_BYTES` wait to be written (a slow
client), calls with speech are parked and their relays fill up, which
coalesces deltas and then blocks the speaking agent (see `CallRelay`).
"""
from __future__ import annotations

import asyncio
import functools
from collections import deque
from typing import Any, Optional

import grpc

from ..rpc import codec
from ..rpc._proto import agent_server_pb2 as pb
from .actor import CallTask
from .relay import CallRelay

FRAME_BYTES = 1 << 20  # a write carries events of about this many bytes at most
HIGH_WATER_BYTES = 4 << 20  # more than this unwritten: park speaking calls
_EVENT_OVERHEAD = 64


def status_of(err: BaseException) -> grpc.StatusCode:
    """The status a refused call ends with (the same as `Call`'s abort)."""
    if isinstance(err, PermissionError):
        return grpc.StatusCode.PERMISSION_DENIED
    return codec.status_for(err)


def relay_events(items: list) -> list:
    """Relay items -> CallEvents: consecutive chunks share one SpeakBatch."""
    events: list = []
    chunks: list = []
    for item in items:
        if isinstance(item, tuple):  # ("put", obj) / ("stop", None)
            if chunks:
                events.append(pb.CallEvent(speak=pb.SpeakBatch(chunks=chunks)))
                chunks = []
            if item[0] == "put":
                events.append(pb.CallEvent(put=codec.encode(item[1])))
            else:
                events.append(pb.CallEvent(stop=pb.Empty()))
        else:
            chunks.append(item)
    if chunks:
        events.append(pb.CallEvent(speak=pb.SpeakBatch(chunks=chunks)))
    return events


def _size(event: pb.CallEvent) -> int:
    kind = event.WhichOneof("event")
    if kind == "result" or kind == "put":
        payload = event.result if kind == "result" else event.put
        return len(payload.data) + _EVENT_OVERHEAD
    if kind == "speak":
        return sum(len(c.delta) + len(c.content_json) + 2 * _EVENT_OVERHEAD for c in event.speak.chunks)
    return event.ByteSize() + _EVENT_OVERHEAD


class ServerSession:
    """One client's Session stream (see module docstring)."""

    def __init__(self, host: Any, max_message_bytes: int) -> None:
        self.host = host
        self.loop: asyncio.AbstractEventLoop = host.loop
        self.tasks: dict[str, CallTask] = {}
        self._max_result = max_message_bytes - 4096
        self._out: deque = deque()  # (TaskEvent, size)
        self._out_bytes = 0
        self._parked: dict[str, CallTask] = {}
        self._wake = asyncio.Event()
        self._reading = True
        self._creating: set = set()  # creations and fetches in progress
        self._malformed: Optional[str] = None
        self._closing = False
        host.sessions.add(self)

    async def run(self, context: grpc.aio.ServicerContext) -> None:
        reader = self.loop.create_task(self._read(context))
        try:
            await self._write(context)
        finally:
            reader.cancel()
            for creating in list(self._creating):
                creating.cancel()
            self._cancel_all()

    def close(self) -> None:
        """The server is stopping: end the stream once every call is answered."""
        self._closing = True
        self._wake.set()

    # -- incoming ---------------------------------------------------------------
    async def _read(self, context: grpc.aio.ServicerContext) -> None:
        try:
            while True:
                frame = await context.read()
                if frame is grpc.aio.EOF:
                    break
                if not isinstance(frame, pb.SessionRequest):  # the lenient parser's marker
                    self._malformed = f"malformed request: {getattr(frame, 'error', frame)}"
                    break
                for creation in frame.creates:
                    self._creating.add(self.loop.create_task(self._create(creation)))
                for fetch in frame.fetches:
                    self._creating.add(self.loop.create_task(self._fetch(fetch)))
                for request in frame.calls:
                    self._start(request)
                for task_id in frame.cancel:
                    self._cancel(task_id)
        finally:
            self._reading = False
            self._wake.set()

    def _start(self, request: pb.CallRequest) -> None:
        task_id = request.task_id
        try:
            with codec.collect_refs() as refs:
                args, kwargs = codec.decode_args(request.args)
            task = CallTask(
                task_id=task_id,
                method=request.method,
                args=args,
                kwargs=kwargs,
                relay=CallRelay(self.loop),
                caller_id=request.caller_id,
                seq=request.seq,
                refs=refs,
            )
            if not task_id or len(task_id) > 64:
                raise ValueError("a call needs a task id of at most 64 characters")
            if task_id in self.tasks or self.host.results.finished(task_id):
                raise ValueError(f"task id {task_id} was already used")
            self.host.submit(task, request.agent_id)
        except Exception as err:  # pylint: disable=broad-except
            code = status_of(err)
            self._emit(pb.TaskEvent(task_id=task_id, status=code.value[0], details=f"{type(err).__name__}: {err}"), 0)
            return
        self.tasks[task_id] = task
        task.relay.listen(functools.partial(self._pump, task))
        task.done.add_done_callback(lambda _f, t=task: self._pump(t))

    async def _create(self, creation: pb.Creation) -> None:
        """CreateAgent on the session: answered by `created` or a status."""
        try:
            reply = await self.host.create_agent(creation.request)
            self._emit(pb.TaskEvent(task_id=creation.token, created=reply), _EVENT_OVERHEAD + 1024)
        except Exception as err:  # pylint: disable=broad-except
            code = status_of(err)
            self._emit(pb.TaskEvent(task_id=creation.token, status=code.value[0], details=f"{type(err).__name__}: {err}"), 0)
        finally:
            self._creating.discard(asyncio.current_task())

    async def _fetch(self, fetch: pb.Fetch) -> None:
        """FetchResult on the session: answered by a result/error event or a status."""
        try:
            reply = await self.host.results.fetch(fetch.request.task_id)
            if reply.WhichOneof("outcome") == "error":
                event = pb.CallEvent(error=reply.error)
            else:
                event = pb.CallEvent(result=reply.result)
            self._emit(pb.TaskEvent(task_id=fetch.token, event=event), _size(event))
        except Exception as err:  # pylint: disable=broad-except
            code = status_of(err)
            self._emit(pb.TaskEvent(task_id=fetch.token, status=code.value[0], details=f"{type(err).__name__}: {err}"), 0)
        finally:
            self._creating.discard(asyncio.current_task())

    def _cancel(self, task_id: str) -> None:
        task = self.tasks.pop(task_id, None)
        self._parked.pop(task_id, None)
        if task is not None:  # as when a Call stream is cancelled: stop its work
            task.cancelled = True
            task.relay.cancel()

    def _cancel_all(self) -> None:
        for task_id in list(self.tasks):
            self._cancel(task_id)

    # -- outgoing ---------------------------------------------------------------
    def _pump(self, task: CallTask) -> None:
        """Move what the call has produced (speech, then its outcome) to the outbox."""
        task_id = task.task_id
        if self.tasks.get(task_id) is not task:
            return  # cancelled or already finished
        if self._out_bytes > HIGH_WATER_BYTES:
            self._parked[task_id] = task
            return
        items, closed = task.relay.take()
        for event in relay_events(items):
            self._emit(pb.TaskEvent(task_id=task_id, event=event), _size(event))
        if not (closed and task.done.done()):
            return
        del self.tasks[task_id]
        kind, value = task.done.result()
        if kind == "result":
            if len(value.data) > self._max_result:
                details = f"MessageTooLargeError: result of {len(value.data)} bytes exceeds the server's message size"
                self._emit(pb.TaskEvent(task_id=task_id, status=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], details=details), 0)
                return
            event = pb.CallEvent(result=value)
        else:
            event = pb.CallEvent(error=value if isinstance(value, pb.RemoteError) else codec.error_to_pb(value))
        self._emit(pb.TaskEvent(task_id=task_id, event=event), _size(event))

    def _emit(self, event: pb.TaskEvent, size: int) -> None:
        size = size or _EVENT_OVERHEAD + len(event.details)
        self._out.append((event, size))
        self._out_bytes += size
        self._wake.set()

    def _frame(self) -> pb.SessionReply:
        events = []
        taken = 0
        while self._out and (not events or taken + self._out[0][1] <= FRAME_BYTES):
            event, size = self._out.popleft()
            events.append(event)
            taken += size
        self._out_bytes -= taken
        return pb.SessionReply(events=events)

    async def _write(self, context: grpc.aio.ServicerContext) -> None:
        while True:
            if not self._out:
                if self._malformed is not None:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, self._malformed)
                if (self._closing or not self._reading) and not self.tasks and not self._creating:
                    return  # the client closed its side (or the server stops) and every call is answered
                self._wake.clear()
                await self._wake.wait()
                continue
            await context.write(self._frame())
            if self._parked and self._out_bytes <= HIGH_WATER_BYTES // 2:
                parked, self._parked = self._parked, {}
                for task in parked.values():
                    self._pump(task)
