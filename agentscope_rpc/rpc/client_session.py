"""`ClientSession`: one `Session` stream from this runtime to one server.

Callers on any thread append requests (creations, calls, fetches) to an
outbox and register them by request id; one writer task on the loop packs
whatever has queued up into frames (`frames.pack`: an oversized item is
split into parts) and writes them in order, so one caller's requests reach
the server in the order it made them.  One reader task routes the server's
events by request id and never waits on any one call:

* a call's speak/put/stop events go to the runtime's dispatcher lane of its
  consumer (`CallEvents.lane`: the app stream it speaks into, else the called
  agent) — `CallEvents.deliver`; each event handled there returns one
  credit to the server, which sends a call at most `WINDOW` events ahead —
  a slow consumer slows only its own call, and memory stays bounded per call;
* a call's outcome settles its placeholder — at once on the loop when the
  call had no speech and no post_reply hook, else on its lane after the
  speech before it;
* results the caller received and never handed on are released (the server
  forgets them), in the next frame or within `RELEASE_DELAY_S`.

If the stream fails before the server greeted it (`Hello`), nothing was
handled and every request is sent again on a new session, with backoff.
After that, a failure fails every call on it (at-most-once) while fetches,
which are idempotent, are retried.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Optional

import grpc

from .. import exception as exc
from . import codec, frames
from ._proto import agent_server_pb2 as pb
from .pending import PendingCall, PendingCreate, PendingFetch

WINDOW = 16  # speech events the server may send for one call before it needs credit
RELEASE_DELAY_S = 0.05  # releases wait at most this long for a frame to ride on


ENDED_STATUS_WAIT_S = 2.0  # how long a failed write waits for the call's own status


async def ended_call_error(stream: Any, err: BaseException, endpoint: Any) -> BaseException:
    """Why a write on a session failed: the call's own status when it has ended with one.

    A write racing the server's answer (a refused token, a stopping server)
    fails with grpc.aio's INTERNAL "Internal error from Core", or with
    `InvalidStateError` once the call is over; the status the server sent
    is the real reason, so it is waited for (briefly) and used instead.
    """
    if stream is None or isinstance(err, exc.AgentScopeRpcError):
        return err
    try:
        code = await asyncio.wait_for(stream.code(), ENDED_STATUS_WAIT_S)
        details = await stream.details()
    except (asyncio.TimeoutError, grpc.RpcError, asyncio.InvalidStateError):
        return err
    if code is None or code == grpc.StatusCode.OK:
        return err
    return codec.error_for_status(code, details or "", endpoint)


class ClientSession:
    """One Session stream of a `Connection` (see module docstring)."""

    def __init__(self, connection: Any) -> None:
        self.conn = connection
        self.runtime = connection.runtime
        self._lock = threading.Lock()
        self._outbox: list = []
        self._scheduled = False
        self.dead: Optional[BaseException] = None
        self.requests: dict[str, Any] = {}
        self.hello: Optional[pb.Hello] = None
        self._defined: set = set()
        self._credits: dict[str, int] = {}
        self._releases: list = []
        self._release_timer: Optional[asyncio.TimerHandle] = None
        self._wake: Optional[asyncio.Event] = None
        self._stream: Any = None
        self._tasks: list = []
        self._reassembler = frames.Reassembler(pb.ServerItem, 1 << 40)

    # -- any thread --------------------------------------------------------------------
    def send(self, pending: Any) -> bool:
        """Queue a request; False when this session has died (use a new one)."""
        with self._lock:
            if self.dead is not None:
                return False
            self.requests[pending.request_id] = pending
            if isinstance(pending, PendingCall):
                pending.session = self
            self._outbox.append(pending)
            if self._scheduled:
                return True
            self._scheduled = True
        self.runtime.call_soon(self._kick)
        return True

    def cancel(self, request_id: str) -> None:
        self.runtime.call_soon(self._abandon, request_id)

    def release(self, task_id: str) -> None:
        """The caller has the result of `task_id` and never handed it on (any thread)."""
        self.runtime.call_soon(self._queue_release, task_id)

    # -- loop ----------------------------------------------------------------------------
    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
            self._tasks.append(asyncio.ensure_future(self._write_loop()))
        self._wake.set()

    def _queue_release(self, task_id: str) -> None:
        if self.dead is not None:
            return
        self._releases.append(task_id)
        if self._release_timer is None:
            self._release_timer = asyncio.get_running_loop().call_later(RELEASE_DELAY_S, self._kick)

    def _queue_credit(self, request_id: str) -> None:
        if self.dead is not None or request_id not in self.requests:
            return
        self._credits[request_id] = self._credits.get(request_id, 0) + 1
        self._kick()

    def _control_items(self) -> list:
        items = []
        if self._credits:
            for request_id, events in self._credits.items():
                credit = pb.ClientItem(credit=pb.Credit(request_id=request_id, events=events))
                items.append(("", credit.SerializeToString()))
            self._credits = {}
        if self._releases:
            items.append(("", pb.ClientItem(release=pb.Release(task_ids=self._releases)).SerializeToString()))
            self._releases = []
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        return items

    def _items_of(self, batch: list) -> list:
        """(request id, item bytes) to send, in order; requests too large for the server fail here."""
        items = []
        limit = self.hello.max_request_bytes if self.hello is not None else self.conn.max_request_bytes
        for pending in batch:
            if isinstance(pending, bytes):  # a cancel
                items.append(("", pending))
                continue
            if isinstance(pending, PendingCall):
                if pending.events.placeholder.done():
                    self.requests.pop(pending.request_id, None)  # abandoned before it was sent
                    continue
                if pending.timeout is not None and pending.timer is None:
                    pending.timer = asyncio.get_running_loop().call_later(pending.timeout, self._expire, pending)
            elif isinstance(pending, PendingCreate):
                for kind, digest, data in pending.defines:
                    if digest not in self._defined:
                        self._defined.add(digest)
                        define = pb.ClientItem(define=pb.Define(kind=kind, digest=digest, data=data))
                        items.append(("", define.SerializeToString()))
            if len(pending.item) > limit:
                self.requests.pop(pending.request_id, None)
                self._refuse_locally(pending, exc.MessageTooLargeError(
                    f"request of {len(pending.item)} bytes exceeds the limit of {limit} bytes of "
                    f"{self.conn.endpoint.address}"))
                continue
            items.append((pending.request_id, pending.item))
        return items

    def _refuse_locally(self, pending: Any, error: BaseException) -> None:
        if isinstance(pending, PendingCall):
            self._fail_call(pending, error)
        elif isinstance(pending, PendingCreate):
            pending.ready._set_exception(error)  # pylint: disable=protected-access
        else:
            pending.placeholder._set_exception(error)  # pylint: disable=protected-access

    async def _write_loop(self) -> None:
        try:
            self._stream = self.conn.open_session_stream()
            self._tasks.append(asyncio.ensure_future(self._read_loop()))
            while True:
                await self._wake.wait()
                self._wake.clear()
                with self._lock:
                    batch, self._outbox = self._outbox, []
                    self._scheduled = False
                items = self._items_of(batch) + self._control_items()
                for frame in frames.pack(items, pb.ClientItem):
                    await self._stream.write(frame)
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # pylint: disable=broad-except
            self._die(await ended_call_error(self._stream, err, self.conn.endpoint))

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await self._stream.read()
                if frame is grpc.aio.EOF:  # only a stopping server ends a session
                    ep = self.conn.endpoint
                    raise exc.AgentServerNotAliveError(
                        f"agent server {ep.address} closed the session (it is stopping)", ep.host, ep.port,
                    )
                for item in frame.items:
                    kind = item.WhichOneof("item")
                    if kind == "part":
                        item = self._reassembler.feed(item.part)
                        if item is None:
                            continue
                        kind = item.WhichOneof("item")
                    if kind == "event":
                        self._route(item.event)
                    elif kind == "hello":
                        self.hello = item.hello
                        self.conn.greeted(self, item.hello)
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # pylint: disable=broad-except
            self._die(err)

    def _route(self, event: pb.Event) -> None:
        pending = self.requests.get(event.request_id)
        if pending is None:
            return  # abandoned
        kind = event.WhichOneof("event")
        if isinstance(pending, PendingCall):
            if pending.held is not None:  # waiting for the calls it depends on to settle here first
                pending.held.append(event)
                return
            self._call_event(pending, event, kind)
            return
        del self.requests[event.request_id]
        self._other_event(pending, event, kind)

    def _call_event(self, pending: PendingCall, event: pb.Event, kind: str) -> None:
        if kind in ("speak", "put", "stop"):
            pending.lane_used = True
            done = self.runtime.dispatch(pending.events.lane, pending.events.deliver, event)
            done.add_done_callback(lambda _f, rid=event.request_id: self._queue_credit(rid))
            return
        del self.requests[event.request_id]
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.lane_used:
            done = self.runtime.dispatch(pending.events.lane, pending.events.settle, event)
            done.add_done_callback(lambda _f, p=pending: self._after_outcome(p))
        else:
            pending.events.settle(event)
            self._after_outcome(pending)

    def _other_event(self, pending: Any, event: pb.Event, kind: str) -> None:
        if isinstance(pending, PendingCreate):
            if kind == "created":
                instance = self.hello.instance_id if self.hello is not None else ""
                pending.ready._set_result((event.created, instance))  # pylint: disable=protected-access
            else:
                pending.ready._set_exception(self._error_of(event))  # pylint: disable=protected-access
        elif isinstance(pending, PendingFetch):
            if kind == "result":
                try:
                    value = codec.decode(event.result, self.runtime.placeholder_from_ref)
                except Exception as err:  # pylint: disable=broad-except
                    pending.placeholder._set_exception(err)  # pylint: disable=protected-access
                else:
                    pending.placeholder._set_result(value)  # pylint: disable=protected-access
            else:
                pending.placeholder._set_exception(self._error_of(event))  # pylint: disable=protected-access

    def open_gate(self, pending: PendingCall) -> None:
        """(loop) The calls `pending` depends on have settled: its held events go on, in order."""
        held, pending.held = pending.held or [], None
        for event in held:
            if self.requests.get(pending.request_id) is not pending:
                return  # failed or abandoned meanwhile
            self._call_event(pending, event, event.WhichOneof("event"))

    def _after_outcome(self, pending: PendingCall) -> None:
        """Release the result unless a reference to it was handed on."""
        placeholder = pending.events.placeholder
        if not placeholder.exported:  # settled: `exported` can no longer change
            self._queue_release(pending.request_id)

    def _error_of(self, event: pb.Event) -> BaseException:
        kind = event.WhichOneof("event")
        if kind == "error":
            return codec.error_from_pb(event.error)
        if kind == "refused":
            return codec.error_for_status(event.refused.code, event.refused.details, self.conn.endpoint)
        return exc.AgentServerError(f"unexpected {kind!r} answer")

    def _abandon(self, request_id: str) -> None:
        """The caller gave up on a call (cancelled): stop its work on the server."""
        pending = self.requests.pop(request_id, None)
        if pending is None:
            return
        if isinstance(pending, PendingCall):
            if pending.timer is not None:
                pending.timer.cancel()
            self._fail_call(pending, exc.StreamCancelledError(f"call {request_id} cancelled"))
        with self._lock:
            self._outbox.append(pb.ClientItem(cancel=request_id).SerializeToString())
        self._kick()

    def _expire(self, pending: PendingCall) -> None:
        if self.requests.pop(pending.request_id, None) is None:
            return
        self._fail_call(pending, exc.StreamTimeoutError(f"call {pending.request_id} timed out after {pending.timeout}s"))
        with self._lock:
            self._outbox.append(pb.ClientItem(cancel=pending.request_id).SerializeToString())
        self._kick()

    def _fail_call(self, pending: PendingCall, error: BaseException) -> None:
        if pending.lane_used:  # after the speech already queued for it
            self.runtime.dispatch(pending.events.lane, pending.events.settle, None, error)
        else:
            pending.events.settle(None, error)

    def _die(self, err: BaseException) -> None:
        """The stream failed: see the module docstring for what happens to its requests."""
        if isinstance(err, grpc.aio.AioRpcError):
            error: BaseException = codec.error_from_rpc(err, self.conn.endpoint)
        elif isinstance(err, exc.AgentScopeRpcError):
            error = err
        else:
            error = exc.AgentServerError(f"session to {self.conn.endpoint.address} failed: {err!r}")
        with self._lock:
            self.dead = error
            self._outbox = []
            pending = list(self.requests.values())
            self.requests = {}
        if self._release_timer is not None:
            self._release_timer.cancel()
        retry = self.hello is None and isinstance(error, exc.AgentServerNotAliveError)
        again = [request for request in pending if retry or isinstance(request, PendingFetch)]
        self.conn.resend(again, error)  # in the order they were sent
        for request in pending:
            if retry or isinstance(request, PendingFetch):
                continue
            if isinstance(request, PendingCall):
                self._fail_call(request, error)
            elif isinstance(request, PendingCreate):
                request.ready._set_exception(error)  # pylint: disable=protected-access
        if self._stream is not None:
            self._stream.cancel()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self.conn.session_ended(self)
