"""Variant (a): the calling thread writes its request straight into the session.

Today a call is appended to the session's outbox and the client's event loop
is woken to write it (docs/architecture.md, hop 1); the reply is read on the
loop (after grpc.aio's own poller thread woke it) and the user thread is
woken from there (hop 4).  `DirectSession` keeps the same wire — one
`Session` stream per server, `ClientFrame`s of `ClientItem`s, the server's
`Event`s — but drives the stream the way grpc's synchronous channel drives
its calls internally:

* `call()` encodes the request and, on the calling thread, starts the send
  on the gRPC call (`IntegratedCall.operate`); while a send is in flight,
  later requests queue and go out together in the next frame, started by
  the completion of the previous send — no loop, no writer thread;
* the replies are handled on the channel's completion thread (the one
  grpc's sync stack polls with): it decodes the result and settles the
  placeholder there, and only the waiting user thread is woken.

So a call costs one Python thread wake on this side (completion thread ->
user thread) instead of three (user -> loop, aio poller -> loop, loop ->
user).  The server is unchanged: today's agent server.

What it leaves out compared with `agentscope_rpc/rpc/client_session.py`, and
whether that matters for the speed measured here:

* speech: a call whose agent speaks fails with NotImplementedError.  In the
  runtime its events would go to the dispatcher lane exactly as today (a
  call with speech already takes the slow path); not on the fast path.
* per-call credit, cancellation, per-call timeouts, creation `Define`s,
  fetches, the resend-before-Hello retry: none are on the path of a
  no-speech call; not essential.
* the 50 ms release timer: releases ride the next frame only (a real
  client must also flush them when idle); not on the path.
* proxies and hooks: `DirectAgent` does what `RemoteAgent.reply` does when
  no hook is registered (one `has_hooks`-like check is a few attribute
  reads); not essential.

It depends on grpc's private modules (`grpc._channel`,
`grpc._cython.cygrpc`): adopting it means pinning grpcio and testing every
upgrade.  Public sync stubs cannot do this — a sync stream's requests are
always sent from a gRPC-owned consumption thread.
"""
from __future__ import annotations

import itertools
import threading
import uuid
from collections import deque
from typing import Any, Optional

import grpc
from grpc import _channel as grpc_channel  # private: see the module docstring
from grpc import _common as grpc_common
from grpc._cython import cygrpc

from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc.placeholder import AsyncResult

from bench.experiments import _frames

SESSION_METHOD = b"/agentscope_rpc.AgentServer/Session"
WINDOW = 16  # speech events a call may be ahead of its consumer (the server's credit)
CREATE_TIMEOUT_S = 60.0
CHANNEL_OPTIONS = [  # the runtime's channel settings (rpc/connection.py)
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 2_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.http2.ping_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
]
_OP = cygrpc.OperationType
_NO_FLAGS = 0


class _Ids:
    """Unique request ids: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:20]
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):012x}"


ids = _Ids()


class DirectSession:
    """One Session stream whose frames the calling thread writes (see module docstring)."""

    def __init__(self, endpoint: codec.Endpoint) -> None:
        self.endpoint = endpoint
        self.hello: Optional[pb.Hello] = None
        self.dead: Optional[BaseException] = None
        self._public = codec.public(endpoint)
        self._key = codec.capability_key(endpoint.token) if endpoint.token else None
        self._lock = threading.Lock()
        self._waiting: dict[str, AsyncResult] = {}  # request id -> its placeholder
        self._items: list = []  # queued behind the send in flight
        self._outgoing: deque = deque()  # serialized frames of the items being sent
        self._releases: list = []  # results received and never handed on: ride the next frame
        self._sending = False
        self._status_seen = False
        self._reassembler = _frames.Reassembler(pb.ServerItem, 1 << 40)
        self._channel = grpc.insecure_channel(endpoint.address, options=CHANNEL_OPTIONS)
        metadata = (("authorization", f"Bearer {endpoint.token}"),) if endpoint.token else ()
        start = grpc_channel._channel_managed_call_management(self._channel._call_state)  # pylint: disable=protected-access
        ops = (
            (cygrpc.SendInitialMetadataOperation(metadata, _NO_FLAGS), cygrpc.ReceiveStatusOnClientOperation(_NO_FLAGS)),
            (cygrpc.ReceiveInitialMetadataOperation(_NO_FLAGS),),
        )
        with self._lock:  # the completion thread may report before `_call` is set
            self._due = {_OP.send_initial_metadata, _OP.receive_status_on_client, _OP.receive_initial_metadata}
            self._call = start(cygrpc.PropagationConstants.GRPC_PROPAGATE_DEFAULTS, SESSION_METHOD, None, None,
                               metadata, None, ops, self._on_event, cygrpc.build_census_context(), None)
            self._receive_locked()

    # -- requests (any thread) ------------------------------------------------------------
    def call(self, agent_id: str, method: str, args: tuple = (), kwargs: Optional[dict] = None) -> AsyncResult:
        """Start a call; returns its placeholder at once (the request is on its way)."""
        task_id = ids.next()
        placeholder = AsyncResult(codec.ResultRef(self._public, task_id, key=self._key))
        request = pb.CallRequest(task_id=task_id, agent_id=agent_id, method=method,
                                 args=codec.encode_args(args, kwargs or {}), window=WINDOW)
        self._send(task_id, placeholder, pb.ClientItem(call=request))
        return placeholder

    def create(self, klass: type, *args: Any, agent_id: Optional[str] = None, **kwargs: Any) -> str:
        """Build `klass(*args, **kwargs)` on the server (by import path); returns its agent id."""
        agent_id = agent_id or f"{klass.__name__}_{ids.next()}"
        request = pb.CreateRequest(request_id=ids.next(), agent_id=agent_id, class_name=klass.__qualname__,
                                   module=klass.__module__, init_args=codec.encode_args(args, kwargs))
        ready = AsyncResult()
        self._send(request.request_id, ready, pb.ClientItem(create=request))
        ready.result(timeout=CREATE_TIMEOUT_S)
        return agent_id

    def close(self) -> None:
        """End the stream (pending calls fail) and close the channel."""
        with self._lock:
            if self._status_seen:
                call = None
            else:
                call = self._call
        if call is not None:
            call.cancel(cygrpc.StatusCode.cancelled, "the client closed the session")
        self._channel.close()

    def _send(self, request_id: str, placeholder: AsyncResult, item: pb.ClientItem) -> None:
        with self._lock:
            if self.dead is not None:
                raise self.dead
            self._waiting[request_id] = placeholder
            self._items.append(item)
            if not self._sending:
                self._start_send_locked()

    # -- the gRPC call (lock held) ------------------------------------------------------------
    def _start_send_locked(self) -> None:
        if not self._outgoing and self._items:
            items, self._items = self._items, []
            if self._releases:
                items.append(pb.ClientItem(release=pb.Release(task_ids=self._releases)))
                self._releases = []
            self._outgoing.extend(_frames.pack(items, pb.ClientFrame))
        if not self._outgoing:
            self._sending = False
            return
        self._sending = True
        self._due.add(_OP.send_message)
        if not self._call.operate((cygrpc.SendMessageOperation(self._outgoing.popleft(), _NO_FLAGS),), self._on_event):
            self._due.discard(_OP.send_message)
            self._sending = False  # the call is over: its status fails what waits

    def _receive_locked(self) -> None:
        self._due.add(_OP.receive_message)
        if not self._call.operate((cygrpc.ReceiveMessageOperation(_NO_FLAGS),), self._on_event):
            self._due.discard(_OP.receive_message)

    # -- the channel's completion thread ------------------------------------------------------
    def _on_event(self, event: Any) -> bool:
        """grpc calls this for every finished batch; True once the call is over."""
        received: list = []
        status: Optional[tuple] = None
        with self._lock:
            for op in event.batch_operations:
                kind = op.type()
                self._due.discard(kind)
                if kind == _OP.send_message:
                    if event.success and (self._items or self._outgoing):
                        self._start_send_locked()
                    else:
                        self._sending = False
                elif kind == _OP.receive_message:
                    data = op.message()
                    if data is not None:
                        received.append(data)
                        self._receive_locked()
                elif kind == _OP.receive_status_on_client:
                    self._status_seen = True
                    status = (op.code(), op.details())
            over = self._status_seen and not self._due
        for data in received:
            self._route(pb.ServerFrame.FromString(data))
        if status is not None:
            self._die(status)
        return over

    def _route(self, frame: pb.ServerFrame) -> None:
        for item in frame.items:
            kind = item.WhichOneof("item")
            if kind == "part":
                item = self._reassembler.feed(item.part)
                if item is None:
                    continue
                kind = item.WhichOneof("item")
            if kind == "event":
                self._settle(item.event)
            elif kind == "hello":
                self.hello = item.hello

    def _settle(self, event: pb.Event) -> None:
        rid = event.request_id
        with self._lock:
            placeholder = self._waiting.pop(rid, None)
        if placeholder is None:
            return
        if not settle(placeholder, event, self.endpoint):
            self._send_cancel(rid)  # it spoke: this prototype carries no speech
        elif event.WhichOneof("event") == "result" and not placeholder.exported:
            with self._lock:
                self._releases.append(rid)

    def _send_cancel(self, rid: str) -> None:
        with self._lock:
            self._items.append(pb.ClientItem(cancel=rid))
            if not self._sending and self.dead is None:
                self._start_send_locked()

    def _die(self, status: tuple) -> None:
        code, details = status
        grpc_code = grpc_common.CYGRPC_STATUS_CODE_TO_STATUS_CODE.get(code, grpc.StatusCode.UNKNOWN)
        error = codec.error_for_status(grpc_code, details or "the session ended", self.endpoint)
        with self._lock:
            self.dead = error
            waiting, self._waiting = self._waiting, {}
            self._items, self._outgoing = [], deque()
        for placeholder in waiting.values():
            placeholder._set_exception(error)  # pylint: disable=protected-access


def settle(placeholder: AsyncResult, event: pb.Event, endpoint: codec.Endpoint) -> bool:
    """Settle `placeholder` with a request's outcome event; False for a speech event (not carried here)."""
    kind = event.WhichOneof("event")
    # pylint: disable=protected-access
    if kind == "result":
        try:
            value = codec.decode(event.result)
        except Exception as err:  # pylint: disable=broad-except
            placeholder._set_exception(err)
        else:
            placeholder._set_result(value)
    elif kind == "created":
        placeholder._set_result(event.created)
    elif kind == "error":
        placeholder._set_exception(codec.error_from_pb(event.error))
    elif kind == "refused":
        placeholder._set_exception(codec.error_for_status(event.refused.code, event.refused.details, endpoint))
    else:  # speak / put / stop
        placeholder._set_exception(NotImplementedError("the prototypes carry no speech"))
        return False
    return True


class DirectAgent:
    """A minimal proxy: `agent(x)` calls the remote `reply` through a `DirectSession`."""

    def __init__(self, session: DirectSession, agent_id: str) -> None:
        self.session = session
        self.agent_id = agent_id

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self.session.call(self.agent_id, "reply", args, kwargs)
