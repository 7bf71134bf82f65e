"""`ClientSession`: the calls of this process to one server, on one stream.

A gRPC stream per call costs more than a small call itself (about 1 ms and
at most ~1,300 calls/s on two cores, measured), so `RpcClient.call` sends
calls that fit in `SESSION_MAX_REQUEST` over one long-lived `Session`
stream: callers append to an outbox from any thread, one writer task sends
whatever has queued up as one frame, one reader task routes the returned
`(task id, event)` pairs.  A call whose only event is its result is
fulfilled right there; a call that speaks (or has a post_reply hook) gets a
consumer task that handles its events in order exactly as a `Call` stream's
consumer does, so a placeholder still resolves only after every speak event
before its result was delivered.  If the stream fails (server gone, wrong
token), every call on it fails with the error a `Call` stream would have
raised, and the next call opens a new session.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable, Optional

import grpc

from .. import exception as exc
from . import _loop, codec
from ._proto import agent_server_pb2 as pb
from .relay import CallEvents

SESSION_MAX_REQUEST = 1 << 20  # bigger calls take a Call stream of their own
FRAME_BYTES = 1 << 20  # one write carries calls of about this many bytes at most
CONSUMER_BACKLOG = 256  # events queued for one call before the reader waits
_STATUS = {code.value[0]: code for code in grpc.StatusCode}


class PendingCall:
    """One call in flight on a session."""

    __slots__ = ("request", "placeholder", "sinks", "on_result", "queue", "consumer", "timer", "timeout")

    def __init__(self, request: pb.CallRequest, placeholder: Any, sinks: tuple,
                 on_result: Optional[Callable[[Any], Any]], timeout: Optional[float]) -> None:
        self.request = request
        self.placeholder = placeholder
        self.sinks = sinks
        self.on_result = on_result
        self.timeout = timeout
        self.queue: Optional[asyncio.Queue] = None
        self.consumer: Optional[asyncio.Task] = None
        self.timer: Optional[asyncio.TimerHandle] = None


class PendingCreate:
    """One CreateAgent in flight on a session; `future` gets the reply."""

    __slots__ = ("token", "request", "future")

    def __init__(self, token: str, request: pb.CreateAgentRequest) -> None:
        self.token = token
        self.request = request
        self.future: concurrent.futures.Future = concurrent.futures.Future()


class PendingFetch:
    """One FetchResult in flight on a session (made on the loop)."""

    __slots__ = ("token", "task_id", "future")

    def __init__(self, token: str, task_id: str) -> None:
        self.token = token
        self.task_id = task_id
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()


class CallHandle:
    """`AsyncResult._task` of a session call: `cancel()` abandons the call."""

    __slots__ = ("_session", "_task_id")

    def __init__(self, session: "ClientSession", task_id: str) -> None:
        self._session = session
        self._task_id = task_id

    def done(self) -> bool:
        return self._task_id not in self._session.calls and not self._session.queued(self._task_id)

    def cancel(self) -> bool:
        _loop.get_loop().call_soon_threadsafe(self._session.abandon, self._task_id)
        return True


class ClientSession:
    """One Session stream of an `RpcClient` (see module docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._outbox: list = []
        self._cancels: list = []
        self._scheduled = False
        self.dead = False
        self.calls: dict[str, PendingCall] = {}
        self._wake: Optional[asyncio.Event] = None
        self._stream: Any = None
        self._tasks: list = []

    # -- any thread ------------------------------------------------------------
    def send(self, pending: PendingCall) -> bool:
        """Queue a call; False when this session has died (use a new one)."""
        with self._lock:
            if self.dead:
                return False
            self._outbox.append(pending)
            if self._scheduled:
                return True
            self._scheduled = True
        if _loop.in_loop_thread():  # a server's agent or a fetch: no self-pipe round trip
            self._kick()
        else:
            _loop.get_loop().call_soon_threadsafe(self._kick)
        return True

    def queued(self, task_id: str) -> bool:
        with self._lock:
            return any(getattr(p.request, "task_id", None) == task_id for p in self._outbox)

    # -- loop --------------------------------------------------------------------
    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._tasks.append(asyncio.ensure_future(self._write_loop()))
        self._wake.set()

    async def _write_loop(self) -> None:
        try:
            client = self._client
            self._stream = client._stub_now().Session(metadata=client._metadata)  # pylint: disable=protected-access
            self._tasks.append(asyncio.ensure_future(self._read_loop()))
            while True:
                await self._wake.wait()
                self._wake.clear()
                with self._lock:
                    batch, self._outbox = self._outbox, []
                    cancels, self._cancels = self._cancels, []
                    self._scheduled = False
                calls: list = []
                creates: list = []
                fetches: list = []
                size = 0
                for pending in batch:
                    if isinstance(pending, PendingCreate):
                        self.calls[pending.token] = pending
                        creates.append(pb.Creation(token=pending.token, request=pending.request))
                        size += pending.request.ByteSize()
                    elif isinstance(pending, PendingFetch):
                        if pending.future.done():
                            continue  # the fetcher gave up
                        self.calls[pending.token] = pending
                        fetches.append(pb.Fetch(token=pending.token, request=pb.FetchRequest(task_id=pending.task_id)))
                    elif not pending.placeholder.done():  # else: abandoned before it was sent
                        self._register(pending)
                        calls.append(pending.request)
                        size += len(pending.request.args.data) + 128
                    if size >= FRAME_BYTES:
                        await self._stream.write(pb.SessionRequest(calls=calls, creates=creates, fetches=fetches))
                        calls, creates, fetches, size = [], [], [], 0
                if calls or creates or fetches or cancels:
                    await self._stream.write(
                        pb.SessionRequest(calls=calls, creates=creates, fetches=fetches, cancel=cancels),
                    )
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # pylint: disable=broad-except
            self._die(err)

    def _register(self, pending: PendingCall) -> None:
        self.calls[pending.request.task_id] = pending
        if pending.timeout is not None:
            pending.timer = asyncio.get_running_loop().call_later(
                pending.timeout, self._expire, pending.request.task_id,
            )

    async def _read_loop(self) -> None:
        try:
            while True:
                reply = await self._stream.read()
                if reply is grpc.aio.EOF:  # only a stopping server ends a session
                    ep = self._client.endpoint
                    raise exc.AgentServerNotAliveError(
                        f"agent server {ep.address} closed the session (it is stopping)", ep.host, ep.port,
                    )
                for event in reply.events:
                    pending = self.calls.get(event.task_id)
                    if pending is not None:
                        await self._route(pending, event)
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # pylint: disable=broad-except
            self._die(err)

    async def _route(self, pending: Any, task_event: pb.TaskEvent) -> None:
        if isinstance(pending, PendingFetch):
            del self.calls[pending.token]
            if pending.future.done():
                return
            event = task_event.event
            if task_event.status:
                pending.future.set_exception(self._status_error(task_event.status, task_event.details))
            elif event.WhichOneof("event") == "error":
                pending.future.set_exception(codec.error_from_pb(event.error))
            else:
                pending.future.set_result(event.result)
            return
        if isinstance(pending, PendingCreate):
            del self.calls[pending.token]
            if task_event.status:
                pending.future.set_exception(self._status_error(task_event.status, task_event.details))
            else:
                pending.future.set_result(task_event.created)
            return
        if task_event.status:
            self._finish(pending, self._status_error(task_event.status, task_event.details))
            return
        event = task_event.event
        kind = event.WhichOneof("event")
        if kind in ("result", "error"):
            self._forget(pending)
            if pending.queue is None and pending.on_result is None:
                self._settle(pending, event)
                return
        elif kind == "accepted":
            return
        if pending.queue is None:
            pending.queue = asyncio.Queue(CONSUMER_BACKLOG)
            pending.consumer = asyncio.ensure_future(self._consume(pending))
        await pending.queue.put(event)

    def _settle(self, pending: PendingCall, event: pb.CallEvent) -> None:
        placeholder = pending.placeholder
        try:
            if event.WhichOneof("event") == "result":
                placeholder._set_result(codec.decode(event.result))
            else:
                placeholder._set_exception(codec.error_from_pb(event.error, pending.request.agent_id))
        except Exception as err:  # pylint: disable=broad-except
            placeholder._set_exception(err)

    def _forget(self, pending: PendingCall) -> None:
        self.calls.pop(pending.request.task_id, None)
        if pending.timer is not None:
            pending.timer.cancel()

    def _finish(self, pending: Any, error: BaseException) -> None:
        """End a call with `error`, after the events already queued for it."""
        if isinstance(pending, (PendingCreate, PendingFetch)):
            if not pending.future.done():
                pending.future.set_exception(error)
            return
        self._forget(pending)
        if pending.queue is None:
            pending.placeholder._set_exception(error)
        else:
            asyncio.ensure_future(pending.queue.put(error))

    async def _consume(self, pending: PendingCall) -> None:
        """The events of one call, in order (what a Call stream's reader does)."""
        placeholder = pending.placeholder
        events = CallEvents(placeholder, pending.sinks, pending.on_result, pending.request.agent_id)
        try:
            while True:
                event = await pending.queue.get()
                if isinstance(event, BaseException):
                    placeholder._set_exception(event)
                    return
                if await events.handle(event):
                    return
        except asyncio.CancelledError:
            placeholder._set_exception(exc.StreamCancelledError(f"call {pending.request.task_id} cancelled"))
            raise
        except Exception as err:  # decoding or a hook failed: surface it, stop the remote work
            placeholder._set_exception(err)
            self.abandon(pending.request.task_id)
        finally:
            await events.close()

    def abandon(self, task_id: str) -> None:
        """The caller gave up on a call (cancelled, failed hook): stop its work."""
        pending = self.calls.get(task_id)
        if pending is None:
            return
        self._forget(pending)
        if pending.consumer is not None and pending.consumer is not asyncio.current_task():
            pending.consumer.cancel()
        pending.placeholder._set_exception(exc.StreamCancelledError(f"call {task_id} cancelled"))
        with self._lock:
            self._cancels.append(task_id)
        self._kick()

    def _expire(self, task_id: str) -> None:
        pending = self.calls.get(task_id)
        if pending is None:
            return
        self._finish(pending, self._status_error(grpc.StatusCode.DEADLINE_EXCEEDED.value[0], "Deadline Exceeded"))
        with self._lock:
            self._cancels.append(task_id)
        self._kick()

    def _status_error(self, status: int, details: str) -> Exception:
        ep = self._client.endpoint
        return codec.error_from_status(_STATUS.get(status, grpc.StatusCode.UNKNOWN), details, ep.host, ep.port)

    def _die(self, err: BaseException) -> None:
        """The stream failed: every call on it fails; the next call opens a new session."""
        if isinstance(err, grpc.aio.AioRpcError):
            error: BaseException = self._client._error(err)  # pylint: disable=protected-access
        elif isinstance(err, exc.AgentScopeRpcError):
            error = err
        else:
            error = exc.AgentServerError(f"session to {self._client.endpoint.address} failed: {err!r}")
        with self._lock:
            self.dead = True
            unsent, self._outbox = self._outbox, []
        for pending in list(self.calls.values()) + unsent:
            self._finish(pending, error)
        if self._stream is not None:
            self._stream.cancel()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

