"""Server end of a `Session`: one caller's requests and their events, on one stream.

Items are handled in the order they arrive: definitions (class blobs, model
configs) are kept for the session, creations and calls are queued on their
actors (so each caller's calls reach an agent in the order it made them),
fetches wait for their result, cancellations stop their call, releases let
the result store forget.  Every answer goes back as an `Event` keyed by
request id, many per frame, a large one in parts (`frames`).

Per call, speech is sent only while the caller has granted credit: a call
may be `window` events ahead of its consumer, then its relay fills, folds
and finally holds up the speaking agent — never another call.  A call's
outcome follows the speech before it.  While more than `HIGH_WATER_BYTES`
wait to be written (a slow network), no call's speech is taken.

A caller without the server's token (a peer server fetching a placeholder)
gets a fetch-only session: any other item ends it with PERMISSION_DENIED,
and each fetch must carry the capability of its result.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

import grpc

from .._version import __version__
from ..exception import AgentCreationError, MessageTooLargeError
from ..rpc import codec, frames
from ..rpc._proto import agent_server_pb2 as pb
from .call_runner import Call
from .relay import CallRelay

DEFAULT_WINDOW = 16
HIGH_WATER_BYTES = 8 << 20
MAX_DEFINED_BYTES = 256 << 20  # class blobs and model configs one session may define
MAX_FAILED_REMEMBERED = 10_000


class _CallState:
    __slots__ = ("call", "relay", "credit", "outcome")

    def __init__(self, relay: CallRelay, credit: int) -> None:
        self.call: Optional[Call] = None
        self.relay = relay
        self.credit = credit
        self.outcome: Optional[tuple] = None


class ServerSession:
    """One caller's Session stream (see module docstring)."""

    def __init__(self, host: Any, context: grpc.aio.ServicerContext, full_access: bool) -> None:
        self.host = host
        self.loop: asyncio.AbstractEventLoop = host.loop
        self.context = context
        self.full_access = full_access
        self.calls: dict[str, _CallState] = {}
        self.blobs: dict[str, bytes] = {}
        self._blob_bytes = 0
        self._failed: dict[str, str] = {}  # agent id -> why its creation failed (calls behind it fail too)
        self._tasks: set = set()  # fetches in progress
        self._creating = 0
        self._out: list = []
        self._out_bytes = 0
        self._parked: set = set()  # call ids with speech waiting for the outbox to drain
        self._wake = asyncio.Event()
        self._reading = True
        self._closing = False
        self._fatal: Optional[tuple] = None  # (status code, details): end the stream with it
        self._reassembler = frames.Reassembler(pb.ClientItem, host.config.max_message_bytes)
        self._max_result = host.config.max_message_bytes
        host.session_opened(self)

    async def run(self) -> None:
        hello = pb.ServerItem(hello=pb.Hello(
            instance_id=self.host.instance_id, max_request_bytes=self.host.config.max_message_bytes,
            version=__version__,
        ))
        self._emit("", hello.SerializeToString())
        reader = self.loop.create_task(self._read())
        try:
            await self._write()
        finally:
            reader.cancel()
            self.host.session_closed(self)
            for task in list(self._tasks):
                task.cancel()
            for state in self.calls.values():  # the caller is gone: stop its work
                if state.call is not None:
                    state.call.cancelled = True
                state.relay.cancel()
            self.calls.clear()

    def close(self) -> None:
        """The server is stopping: end the stream once every request is answered."""
        self._closing = True
        self._wake.set()

    def end(self, code: grpc.StatusCode, details: str) -> None:
        """End the stream now with `code`: its caller fails whatever is still unanswered."""
        self._fatal = (code, details)
        self._wake.set()

    # -- incoming ---------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            while True:
                frame = await self.context.read()
                if frame is grpc.aio.EOF:
                    break
                if not isinstance(frame, pb.ClientFrame):  # the lenient parser's marker
                    self._fatal = (grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {getattr(frame, 'error', frame)}")
                    break
                for item in frame.items:
                    if not self._handle(item):
                        return
        finally:
            self._reading = False
            self._wake.set()

    def _handle(self, item: pb.ClientItem) -> bool:
        kind = item.WhichOneof("item")
        if kind == "part":
            try:
                item = self._reassembler.feed(item.part)
            except frames.PartTooLarge as err:
                self._refuse(err.request_id, MessageTooLargeError(str(err)))
                return True
            if item is None:
                return True
            kind = item.WhichOneof("item")
        if not self.full_access and kind != "fetch":
            self._fatal = (grpc.StatusCode.PERMISSION_DENIED, "this session may only fetch results (no token)")
            return False
        if kind == "call":
            self._start_call(item.call)
        elif kind == "credit":
            state = self.calls.get(item.credit.request_id)
            if state is not None:
                state.credit += item.credit.events
                self._pump(item.credit.request_id)
        elif kind == "release":
            self.host.results.release(list(item.release.task_ids))
        elif kind == "fetch":
            self._start_fetch(item.fetch)
        elif kind == "create":
            self._create(item.create)
        elif kind == "define":
            self._define(item.define)
        elif kind == "cancel":
            self._cancel(item.cancel)
        return True

    def _define(self, define: pb.Define) -> None:
        if define.digest in self.blobs:
            return
        if codec.digest(define.data) != define.digest:
            self._fatal = (grpc.StatusCode.INVALID_ARGUMENT, "a definition does not match its digest")
            return
        if self._blob_bytes + len(define.data) > MAX_DEFINED_BYTES:
            self._fatal = (grpc.StatusCode.RESOURCE_EXHAUSTED, "too many class blobs / model configs on one session")
            return
        self.blobs[define.digest] = define.data
        self._blob_bytes += len(define.data)

    def _create(self, request: pb.CreateRequest) -> None:
        request_id, agent_id = request.request_id, request.agent_id
        self._failed.pop(agent_id, None)

        def done(created: Optional[pb.Created], error: Optional[BaseException]) -> None:
            self._creating -= 1
            if error is None:
                self._emit_event(request_id, "created", created)
                return
            if len(self._failed) >= MAX_FAILED_REMEMBERED:
                self._failed.pop(next(iter(self._failed)))
            self._failed[agent_id] = str(error)
            if not isinstance(error, (AgentCreationError, PermissionError)):
                error = AgentCreationError(str(error))
            self._refuse(request_id, error)

        self._creating += 1
        try:
            self.host.create(request, self.blobs, done)
        except Exception as err:  # pylint: disable=broad-except
            done(None, err)

    def _start_call(self, request: pb.CallRequest) -> None:
        task_id = request.task_id
        state = _CallState(CallRelay(self.loop), request.window or DEFAULT_WINDOW)
        try:
            if task_id in self.calls:
                raise FileExistsError(f"request id {task_id} is already running")
            self.calls[task_id] = state  # before submitting: the actor may settle the call at once
            state.call = self.host.submit(request, state.relay, self._on_outcome)
        except Exception as err:  # pylint: disable=broad-except
            if self.calls.get(task_id) is state:
                del self.calls[task_id]
            why = self._failed.get(request.agent_id)
            if why is not None:
                err = AgentCreationError(f"{request.agent_id} could not be created: {why}")
            self._refuse(task_id, err)
            return
        state.relay.listen(lambda: self._pump(task_id))

    def _on_outcome(self, call: Call, outcome: tuple) -> None:
        self.host.results.finish(call.task_id, outcome)
        state = self.calls.get(call.task_id)
        if state is not None and state.relay is call.relay:
            state.outcome = outcome
            self._pump(call.task_id)

    def _cancel(self, task_id: str) -> None:
        state = self.calls.pop(task_id, None)
        self._parked.discard(task_id)
        if state is not None:  # stop its work; the caller has already failed its placeholder
            if state.call is not None:
                state.call.cancelled = True
            state.relay.cancel()

    def _start_fetch(self, request: pb.FetchRequest) -> None:
        task = self.loop.create_task(self._fetch(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, request: pb.FetchRequest) -> None:
        try:
            if not self.full_access and not codec.capability_ok(
                    self.host.capability_key, request.task_id, request.capability):
                raise PermissionError("the capability does not match this result")
            kind, value = await self.host.results.fetch(request.task_id)
        except Exception as err:  # pylint: disable=broad-except
            self._refuse(request.request_id, err)
            return
        self._emit_event(request.request_id, kind, value)

    # -- outgoing ---------------------------------------------------------------------------
    def _refuse(self, request_id: str, error: BaseException) -> None:
        self._emit_event(request_id, "refused", codec.refusal(error))

    def _emit_event(self, request_id: str, kind: str, value: Any) -> None:
        """Queue one `Event` (serialized once, here)."""
        item = pb.ServerItem()
        event = item.event
        event.request_id = request_id
        getattr(event, kind).CopyFrom(value)
        self._emit(request_id, item.SerializeToString())

    def _emit(self, request_id: str, data: bytes) -> None:
        self._out.append((request_id, data))
        self._out_bytes += len(data)
        self._wake.set()

    def _pump(self, task_id: str) -> None:
        """Send what the call may: its speech while it has credit, then its outcome."""
        state = self.calls.get(task_id)
        if state is None:
            return
        if state.credit > 0 and state.relay.pending():
            if self._out_bytes > HIGH_WATER_BYTES:
                self._parked.add(task_id)
                return
            for kind, value in state.relay.take(self._encode_put):
                self._emit_event(task_id, kind, value)
                state.credit -= 1
        if state.outcome is None or state.relay.pending():
            return
        del self.calls[task_id]
        kind, value = state.outcome
        if kind == "result" and len(value.data) > self._max_result:
            self._refuse(task_id, MessageTooLargeError(
                f"the result of {len(value.data)} bytes exceeds this server's message size"))
            return
        self._emit_event(task_id, kind, value)

    def _encode_put(self, obj: Any) -> pb.Payload:
        try:
            return codec.encode(obj, self.host.allow_pickle)
        except Exception as err:  # pylint: disable=broad-except
            return codec.encode(f"<{type(obj).__name__} that cannot travel: {err}>")

    def _answered(self) -> bool:
        return not self.calls and not self._tasks and self._creating == 0

    async def _write(self) -> None:
        context = self.context
        while True:
            if not self._out:
                if self._fatal is not None:
                    await context.abort(*self._fatal)
                if (self._closing or not self._reading) and self._answered():
                    return  # the caller closed its side (or the server stops) and everything is answered
                self._wake.clear()
                await self._wake.wait()
                continue
            items, self._out, self._out_bytes = self._out, [], 0
            for frame in frames.pack(items, pb.ServerItem):
                await context.write(frame)
            if self._parked and self._out_bytes <= HIGH_WATER_BYTES // 2:
                parked, self._parked = self._parked, set()
                for task_id in parked:
                    self._pump(task_id)
