"""`Connection`: one runtime's channel to one agent server, and its session.

Owned by a `Runtime` (one per endpoint, built through `runtime.service`), so
it needs no import of the runtime: it is handed the one it belongs to.
Agent creations, calls and fetches go out on the current `ClientSession`
(a new one once the last has died); management reads are unary RPCs with
deadlines, retried while the server is unreachable.  A connection opened to
fetch results by capability (`peer=True`) carries no token: it can only
fetch the results it holds capabilities for.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Optional

import grpc

from ..message import new_id
from . import codec, retry_strategy
from ._proto import agent_server_pb2 as pb
from ._proto import agent_server_pb2_grpc as pb_grpc
from .call_events import CallEvents
from .client_session import WINDOW, ClientSession
from .pending import PendingCall, PendingCreate, PendingFetch
from .placeholder import AsyncResult

MANAGEMENT_DEADLINE = 10.0  # seconds; unary management RPCs
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a gRPC message (one frame, or one management reply)
DEFAULT_MAX_REQUEST = 32 * 1024 * 1024  # until the server's Hello says its own
SESSION_METHOD = "/agentscope_rpc.AgentServer/Session"

# Liveness: a ping every 1.5 s, a dead or frozen peer noticed 1.5 s after a
# ping goes unanswered.  (grpc's keepalive_timeout alone does not bound the wait
# for a ping's ack; ping_timeout does.)  A busy server still answers pings:
# gRPC's transport threads need no Python code to run.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 1_500),
    ("grpc.keepalive_timeout_ms", 1_500),
    ("grpc.http2.ping_timeout_ms", 1_500),
    ("grpc.http2.min_time_between_pings_ms", 1_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
]




class Connection:
    """See the module docstring."""

    def __init__(self, runtime: Any, endpoint: codec.Endpoint, peer: bool = False) -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.peer = peer
        self.retry: retry_strategy.RetryBase = retry_strategy.DEFAULT
        self.instance_id = ""  # the server process this connection last talked to
        self.capability_key = codec.capability_key(endpoint.token) if endpoint.token else None
        self._public = codec.public(endpoint)  # what references to results made here name
        self._lock = threading.Lock()
        self._session: Optional[ClientSession] = None
        self._channel: Optional[grpc.aio.Channel] = None
        self._stub: Optional[pb_grpc.AgentServerStub] = None
        self._metadata = (("authorization", f"Bearer {endpoint.token}"),) if endpoint.token else ()
        self._peer_capability = ""  # peer sessions open with the capability of a result they fetch
        self.max_request_bytes = DEFAULT_MAX_REQUEST

    def __repr__(self) -> str:
        return f"Connection({self.endpoint.address}{', peer' if self.peer else ''})"

    # -- channel (on the loop) -------------------------------------------------------------
    def stub(self) -> pb_grpc.AgentServerStub:
        if self._stub is None:
            ep = self.endpoint
            options = list(CHANNEL_OPTIONS)
            if ep.root_cert:
                if ep.server_name:
                    options.append(("grpc.ssl_target_name_override", ep.server_name))
                cert, key = (ep.client_cert, ep.client_key) if ep.client_cert else self.runtime.fetch_identity
                creds = grpc.ssl_channel_credentials(
                    root_certificates=ep.root_cert.encode(),
                    private_key=key.encode() or None,
                    certificate_chain=cert.encode() or None,
                )
                self._channel = grpc.aio.secure_channel(ep.address, creds, options=options)
            else:
                self._channel = grpc.aio.insecure_channel(ep.address, options=options)
            self._stub = pb_grpc.AgentServerStub(self._channel)
        return self._stub

    def open_session_stream(self) -> Any:
        metadata = self._metadata
        if self.peer and self._peer_capability:
            metadata = ((codec.CAPABILITY_METADATA, self._peer_capability),)
        self.stub()
        # frames are written as bytes, assembled from items serialized once (rpc.frames)
        session = self._channel.stream_stream(  # type: ignore[union-attr]
            SESSION_METHOD, request_serializer=None, response_deserializer=pb.ServerFrame.FromString,
        )
        return session(metadata=metadata)

    # -- sessions --------------------------------------------------------------------------
    def _send(self, pending: Any) -> ClientSession:
        with self._lock:
            session = self._session
            if session is None or not session.send(pending):
                session = self._session = ClientSession(self)
                session.send(pending)
            return session

    def greeted(self, session: ClientSession, hello: pb.Hello) -> None:
        """A session's first item: which server process answers."""
        self.instance_id = hello.instance_id

    def session_ended(self, session: ClientSession) -> None:
        with self._lock:
            if self._session is session:
                self._session = None

    def resend(self, requests: list, error: BaseException) -> None:
        """Requests the server never saw (or idempotent ones) go out again, together and in order, after a backoff."""
        if not requests:
            return
        attempt = max(request.attempt for request in requests)
        delays = list(self.retry.delays())
        if attempt >= len(delays):
            for request in requests:
                self._fail(request, error)
            return
        for request in requests:
            request.attempt = attempt + 1
        asyncio.get_running_loop().call_later(delays[attempt], self._send_all, requests)

    def _send_all(self, requests: list) -> None:
        for request in requests:
            self._send(request)

    @staticmethod
    def _fail(pending: Any, error: BaseException) -> None:
        if isinstance(pending, PendingCall):
            pending.events.settle(None, error)
        elif isinstance(pending, PendingCreate):
            pending.ready._set_exception(error)  # pylint: disable=protected-access
        else:
            pending.placeholder._set_exception(error)  # pylint: disable=protected-access

    def outstanding(self) -> list:
        """Requests sent or queued and not yet answered."""
        session = self._session
        return list(session.requests.values()) if session is not None else []

    # -- requests (any thread) -----------------------------------------------------------------
    def call(self, agent_id: str, method: str, args: tuple, kwargs: dict, sinks: tuple = (), owner: Any = None,
             on_result: Optional[Callable[[Any], Any]] = None, timeout: Optional[float] = None,
             allow_pickle: bool = True, after_observes: bool = False) -> AsyncResult:
        """Start a call; returns its placeholder at once."""
        task_id = new_id()
        placeholder = AsyncResult(
            codec.ResultRef(self._public, task_id, key=self.capability_key), on_loop=self.runtime.in_loop_thread,
        )
        item = pb.ClientItem()
        call = item.call
        call.task_id, call.agent_id, call.method, call.window = task_id, agent_id, method, WINDOW
        with codec.collecting_exports() as handed_on:
            call.args.CopyFrom(codec.encode_args(args, kwargs, allow_pickle))
        events = CallEvents(self.runtime, self.endpoint, placeholder, sinks, agent_id, owner, on_result, after_observes)
        pending = PendingCall(task_id, item.SerializeToString(), events, timeout, method)
        if handed_on:  # its events wait for those of the calls whose results it was given
            pending.hold_until([p for p in handed_on if isinstance(p._handle, PendingCall)], self.runtime)
        placeholder._set_handle(pending)  # pylint: disable=protected-access
        self._send(pending)
        return placeholder

    def create(self, request: pb.CreateRequest, defines: tuple = ()) -> AsyncResult:
        """Queue an agent creation; the returned placeholder settles with its `Created` reply."""
        request.request_id = request.request_id or new_id()
        ready = AsyncResult(on_loop=self.runtime.in_loop_thread)
        self._send(PendingCreate(request, ready, defines))
        return ready

    def fetch(self, ref: codec.ResultRef, placeholder: AsyncResult) -> None:
        """Fetch a result by reference into `placeholder` (retried while the server is unreachable)."""
        if self.peer:
            self._peer_capability = f"{ref.task_id}:{ref.capability}"
        request = pb.FetchRequest(request_id=new_id(), task_id=ref.task_id, capability=ref.capability)
        self._send(PendingFetch(request, placeholder))

    # -- management (unary) --------------------------------------------------------------------
    async def unary(self, method: str, request: Any, deadline: float = MANAGEMENT_DEADLINE,
                    idempotent: bool = True) -> Any:
        """Call a management RPC; idempotent ones retry with backoff while the server is unreachable."""
        delays = iter(self.retry.delays() if idempotent else ())
        while True:
            try:
                return await getattr(self.stub(), method)(request, metadata=self._metadata, timeout=deadline)
            except grpc.aio.AioRpcError as err:
                delay = next(delays, None) if err.code() == grpc.StatusCode.UNAVAILABLE else None
                if delay is None:
                    raise codec.error_from_rpc(err, self.endpoint) from None
                await asyncio.sleep(delay)  # backoff before retrying an idempotent request

    def run(self, method: str, request: Any, deadline: float = MANAGEMENT_DEADLINE, idempotent: bool = True) -> Any:
        """`unary` from a plain thread."""
        return self.runtime.run_sync(self.unary(method, request, deadline, idempotent), deadline + 30)

    async def close(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()


def connection_for(runtime: Any, endpoint: codec.Endpoint, peer: bool = False) -> Connection:
    """The runtime's connection to `endpoint` (built on first use)."""
    key = ("peer", endpoint.host, endpoint.port, endpoint.root_cert) if peer else ("conn", endpoint)
    return runtime.service(key, lambda: Connection(runtime, endpoint, peer))


def ref_placeholder(runtime: Any, ref: codec.ResultRef) -> AsyncResult:
    """A placeholder for a result named by reference: fetched from its producer when first needed."""
    def start(placeholder: AsyncResult) -> None:
        connection_for(runtime, ref.endpoint, peer=True).fetch(ref, placeholder)

    return AsyncResult(ref, fetch=start, on_loop=runtime.in_loop_thread)
