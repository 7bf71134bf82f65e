"""`RpcClient`: one gRPC channel to one agent server, shared per process.

All RPCs run on the process's bridge loop (`_loop`).  `call` returns an
`AsyncResult` at once and consumes the call's event stream in the
background: speak batches go through the ordered dispatcher (hooks, app
streams, console), then the result fulfils the placeholder — so a
placeholder resolves only after every speak event before its result was
delivered.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

import grpc

from .. import exception as exc
from .. import speech
from . import _loop, codec
from ._proto import agent_server_pb2 as pb
from ._proto import agent_server_pb2_grpc as pb_grpc
from .placeholder import AsyncResult
from .relay import CallEvents
from .session import SESSION_MAX_REQUEST, CallHandle, ClientSession, PendingCall, PendingCreate, PendingFetch

# Deadlines (seconds).  Calls have none of their own: their liveness comes
# from the stream (a dead server fails it) and keepalive pings.
MANAGEMENT_DEADLINE = 10.0
CREATE_DEADLINE = 300.0  # building an agent may load a model
LONG_WAIT_DEADLINE = 24 * 3600.0  # fetches wait as long as the producer runs
RETRY_DELAYS = (0.05, 0.2, 0.6)  # idempotent RPCs on UNAVAILABLE

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
]


@dataclass(frozen=True)
class Endpoint:
    """How to reach one agent server."""

    host: str
    port: int
    token: str = ""
    root_cert: str = ""  # PEM; set to use TLS
    client_cert: str = ""  # PEM; with client_key, mutual TLS
    client_key: str = ""
    server_name: str = ""  # TLS name to verify, when it differs from host

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class RpcClient:
    """Async gRPC client to one agent server; see module docstring."""

    _instances: dict = {}
    _instances_lock = threading.Lock()

    @classmethod
    def get(cls, endpoint: Endpoint) -> "RpcClient":
        with cls._instances_lock:
            client = cls._instances.get(endpoint)
            if client is None:
                client = cls._instances[endpoint] = cls(endpoint)
            return client

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.caller_id = uuid.uuid4().hex
        self._seq: dict[str, int] = {}
        self._seq_lock = threading.Lock()
        self._channel: Optional[grpc.aio.Channel] = None
        self._stub: Optional[pb_grpc.AgentServerStub] = None
        self._session: Optional[ClientSession] = None
        self._metadata = (("authorization", f"Bearer {endpoint.token}"),) if endpoint.token else ()

    # -- channel ---------------------------------------------------------------
    def _stub_now(self) -> pb_grpc.AgentServerStub:
        """The stub; created on the loop thread on first use."""
        if self._stub is None:
            ep = self.endpoint
            options = list(_CHANNEL_OPTIONS)
            if ep.root_cert:
                if ep.server_name:
                    options.append(("grpc.ssl_target_name_override", ep.server_name))
                creds = grpc.ssl_channel_credentials(
                    root_certificates=ep.root_cert.encode(),
                    private_key=ep.client_key.encode() or None,
                    certificate_chain=ep.client_cert.encode() or None,
                )
                self._channel = grpc.aio.secure_channel(ep.address, creds, options=options)
            else:
                self._channel = grpc.aio.insecure_channel(ep.address, options=options)
            self._stub = pb_grpc.AgentServerStub(self._channel)
        return self._stub

    def _error(self, err: grpc.RpcError) -> Exception:
        return codec.error_from_rpc(err, self.endpoint.host, self.endpoint.port)

    async def unary(
        self,
        method: str,
        request: Any,
        deadline: float = MANAGEMENT_DEADLINE,
        idempotent: bool = True,
    ) -> Any:
        """Call a unary RPC; idempotent ones retry with backoff when unreachable."""
        stub = self._stub_now()
        delays = RETRY_DELAYS if idempotent else ()
        attempt = 0
        while True:
            try:
                return await getattr(stub, method)(request, metadata=self._metadata, timeout=deadline)
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE or attempt >= len(delays):
                    raise self._error(err) from None
                # backoff with jitter before retrying an idempotent request
                await asyncio.sleep(delays[attempt] * (0.5 + random.random()))
                attempt += 1

    def run(self, coro: Awaitable[Any], timeout: Optional[float] = None) -> Any:
        return _loop.run_sync(coro, timeout)

    # -- calls -------------------------------------------------------------------
    def call(
        self,
        agent_id: str,
        method: str,
        args: tuple,
        kwargs: dict,
        sinks: tuple = (),
        on_result: Optional[Callable[[Any], Any]] = None,
        timeout: Optional[float] = None,
    ) -> AsyncResult:
        """Start a call; returns its placeholder immediately.

        Calls go over the client's `ClientSession`; one whose arguments are
        larger than `SESSION_MAX_REQUEST` gets a `Call` stream of its own.
        """
        task_id = _task_ids.next()
        ep = self.endpoint
        placeholder = AsyncResult(codec.ResultRef(ep.host, ep.port, task_id, ep.token, ep.root_cert))
        request = pb.CallRequest(
            agent_id=agent_id,
            method=method,
            args=codec.encode_args(args, kwargs),
            task_id=task_id,
            caller_id=self.caller_id,
        )
        with self._seq_lock:  # loop-side start order == sequence order
            request.seq = self._seq.get(agent_id, 0)
            self._seq[agent_id] = request.seq + 1
            if len(request.args.data) > SESSION_MAX_REQUEST:
                placeholder._task = _loop.submit(
                    self._run_call(request, placeholder, sinks, on_result, timeout),
                )
            else:
                pending = PendingCall(request, placeholder, sinks, on_result, timeout)
                placeholder._task = CallHandle(self._send(pending), task_id)
        speech.track_call(placeholder, sinks)
        return placeholder

    async def _run_call(
        self,
        request: pb.CallRequest,
        placeholder: AsyncResult,
        sinks: tuple,
        on_result: Optional[Callable[[Any], Any]],
        timeout: Optional[float],
    ) -> None:
        events = CallEvents(placeholder, sinks, on_result, request.agent_id)
        stream = None
        try:
            stream = self._stub_now().Call(
                request,
                metadata=self._metadata,
                timeout=timeout or LONG_WAIT_DEADLINE,
            )
            async for event in stream:
                await events.handle(event)
            if not placeholder.done():
                placeholder._set_exception(
                    exc.AgentServerError(f"call {request.task_id} ended without a result"),
                )
        except grpc.aio.AioRpcError as err:
            placeholder._set_exception(self._error(err))
        except asyncio.CancelledError:
            placeholder._set_exception(exc.StreamCancelledError(f"call {request.task_id} cancelled"))
            raise
        except Exception as err:  # decoding or a hook failed: surface it
            placeholder._set_exception(err)
        finally:
            if stream is not None and not stream.done():
                stream.cancel()  # tells the server to stop the agent's work
            await events.close()

    def _send(self, pending: Any) -> ClientSession:
        """Queue `pending` on the session (a new one if the last has died)."""
        session = self._session
        if session is None or not session.send(pending):
            session = self._session = ClientSession(self)
            session.send(pending)
        return session

    def create_agent(self, request: pb.CreateAgentRequest) -> pb.CreateAgentReply:
        """CreateAgent, from a plain thread; over the session when it fits.

        A session that cannot reach the server falls back to the unary RPC,
        which retries while the server is unreachable (creation is idempotent:
        an existing agent id of the same class is simply described).
        """
        if request.ByteSize() <= SESSION_MAX_REQUEST:
            pending = PendingCreate(_task_ids.next(), request)
            with self._seq_lock:
                self._send(pending)
            try:
                return pending.future.result(CREATE_DEADLINE)
            except concurrent.futures.TimeoutError:
                raise exc.StreamTimeoutError(f"{self.endpoint.address}: creating an agent timed out") from None
            except exc.AgentServerNotAliveError:
                pass
        return self.run(self.unary("CreateAgent", request, CREATE_DEADLINE))

    # -- placeholders across servers -------------------------------------------
    def start_fetch(self, task_id: str) -> PendingFetch:
        """Send a Fetch on the session now (on the loop); `fetch` awaits its answer."""
        pending = PendingFetch(_task_ids.next(), task_id)
        self._send(pending)
        return pending

    async def fetch(self, task_id: str, timeout: Optional[float] = None,
                    pending: Optional[PendingFetch] = None) -> Any:
        """A call's result by task id (on the loop); over the session when it can."""
        if pending is None:
            pending = self.start_fetch(task_id)
        try:
            payload = await asyncio.wait_for(pending.future, timeout or LONG_WAIT_DEADLINE)
            return codec.decode(payload)
        except asyncio.TimeoutError:
            raise exc.StreamTimeoutError(f"result of task {task_id} not ready after {timeout}s") from None
        except exc.AgentServerNotAliveError:
            pass  # unreachable: the unary RPC retries with backoff
        return await self._fetch_unary(task_id, timeout)

    async def _fetch_unary(self, task_id: str, timeout: Optional[float] = None) -> Any:
        reply = await self.unary(
            "FetchResult",
            pb.FetchRequest(task_id=task_id),
            deadline=timeout or LONG_WAIT_DEADLINE,
        )
        if reply.WhichOneof("outcome") == "error":
            raise codec.error_from_pb(reply.error)
        return codec.decode(reply.result)


class _TaskIds:
    """Unique task ids without a system call each: a random per-process prefix
    and a counter (uuid4 calls os.urandom, which releases the GIL: measured
    ~28 us per call under load).  Ids need to be unique, not secret: every
    RPC that names one is authenticated."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)  # a forked child must not repeat ids

    def reseed(self) -> None:
        self._prefix = uuid.uuid4().hex[:20]
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):012x}"


_task_ids = _TaskIds()



# The certificate this process presents when it fetches a placeholder from a
# TLS server (an agent server uses its own; needed under mutual TLS).
_fetch_identity: tuple = ("", "")


def set_fetch_identity(cert_pem: str, key_pem: str) -> None:
    global _fetch_identity  # pylint: disable=global-statement
    _fetch_identity = (cert_pem, key_pem)


def endpoint_of_ref(ref: codec.ResultRef) -> Endpoint:
    cert, key = _fetch_identity if ref.root_cert else ("", "")
    return Endpoint(ref.host, ref.port, ref.token, ref.root_cert, cert, key)


def fetch_into(placeholder: AsyncResult) -> None:
    """Start fetching a ref-backed placeholder's value from its producer."""
    ref = placeholder.ref
    assert ref is not None
    client = RpcClient.get(endpoint_of_ref(ref))

    async def run(pending: Optional[PendingFetch] = None) -> None:
        try:
            placeholder._set_result(await client.fetch(ref.task_id, pending=pending))
        except Exception as err:  # pylint: disable=broad-except
            placeholder._set_exception(err)

    if _loop.in_loop_thread():  # a server decoding a call: the Fetch leaves at once
        placeholder._task = _LoopTask(asyncio.get_running_loop().create_task(run(client.start_fetch(ref.task_id))))
    else:
        placeholder._task = _loop.submit(run())


class _LoopTask:
    """`AsyncResult._task` for a task made on the loop: cancel() from any thread."""

    __slots__ = ("_task",)

    def __init__(self, task: asyncio.Task) -> None:
        self._task = task

    def done(self) -> bool:
        return self._task.done()

    def cancel(self) -> bool:
        _loop.get_loop().call_soon_threadsafe(self._task.cancel)
        return True
