"""Raw requests to an agent server, straight from the generated proto stubs.

The security, duplicate-id and fuzz tests must send requests the public
client never would (pickles to a `--no-code-shipping` server, a reused task
id, tokenless oversized bodies, garbage).  Every such request is built here
and nowhere else, so that when the wire format changes (issue 10: one
multiplexed Session stream for calls, creations, fetches and cancels; unary
RPCs for management and health only; request ids instead of tokens) only
this module needs adapting:

- `CALL_TRANSPORTS`: the ways a call can travel ("call": its own `Call`
  stream; "session": a frame on a `Session`).  Tests parametrize over it.
- `call`, `start_call`, `create`, `fetch`, `manage`: one operation each,
  answered by an `Outcome` (a gRPC status, or the call's result / error).
- `fetch_with_ref`, `ref_credentials`, `wire_form`: what a placeholder
  reference carries and lets its holder do.
- `raw_rpc`: any method by name with an arbitrary byte body (fuzz, size).
- `auth_metadata`: how a caller presents its token.
- `RawSession`, `Outcome` (from tests/raw_session.py): the Session stream.
- `json_args`, `pickle_payload`, `marker_pickle`: argument payloads.
"""
from __future__ import annotations

import itertools
import os
import queue
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import grpc

from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc._proto import agent_server_pb2_grpc as pb_grpc
from raw_session import Outcome, RawSession, apply_event, from_rpc_error

SERVICE = "agentscope_rpc.AgentServer"
CALL_TRANSPORTS = ("call", "session")
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.enable_retries", 0),
]
_ids = itertools.count()


def rpc_methods() -> dict:
    """name -> (kind, request class) for every RPC of the service, read from the proto.

    kind is "unary", "server_stream", "client_stream" or "bidi".
    """
    service = pb.DESCRIPTOR.services_by_name["AgentServer"]
    kinds = {(False, False): "unary", (False, True): "server_stream", (True, False): "client_stream",
             (True, True): "bidi"}
    methods = {}
    for method in service.methods:
        request = getattr(pb, method.input_type.name)
        methods[method.name] = (kinds[(method.client_streaming, method.server_streaming)], request)
    return methods


def auth_metadata(token: Optional[str]) -> tuple:
    """The metadata that presents `token` (none when token is None or empty)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def new_task_id() -> str:
    """A fresh task id of the kind the client makes."""
    return f"raw{os.getpid():x}{secrets.token_hex(6)}{next(_ids):06x}"


@dataclass
class Target:
    """One server as seen by raw requests: address plus the token to present."""

    host: str
    port: int
    token: Optional[str] = None
    _channel: Optional[grpc.Channel] = field(default=None, repr=False)

    @classmethod
    def of(cls, server: Any, token: Any = "default") -> "Target":
        """A target for a conftest `ServerHandle`; `token=None` presents none."""
        return cls(server.host, server.port, server.token if token == "default" else token)

    def channel(self) -> grpc.Channel:
        """A plain channel with large message limits (made once)."""
        if self._channel is None:
            self._channel = grpc.insecure_channel(f"{self.host}:{self.port}", options=CHANNEL_OPTIONS)
        return self._channel

    def stub(self) -> pb_grpc.AgentServerStub:
        return pb_grpc.AgentServerStub(self.channel())

    @property
    def metadata(self) -> tuple:
        return auth_metadata(self.token)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


# -- payloads ---------------------------------------------------------------------------
def json_args(*args: Any, **kwargs: Any) -> pb.Payload:
    """Call / constructor arguments as the client sends them when JSON can carry them."""
    payload = codec.encode_args(args, kwargs)
    assert payload.kind == pb.Payload.JSON, "json_args takes JSON-able values only"
    return payload


def wire_form(value: Any) -> bytes:
    """The bytes a client puts on the wire for `value` as a call's only argument."""
    return codec.encode_args((value,), {}).data


def pickle_payload(data: bytes) -> pb.Payload:
    """A payload that claims to be a pickle, with these bytes."""
    return pb.Payload(kind=pb.Payload.PICKLE, data=data)


def marker_pickle(path: str) -> bytes:
    """A pickle whose loading creates directory `path` (proof that it was unpickled)."""
    import pickle

    class _Touch:
        def __reduce__(self):
            return (os.mkdir, (path,))

    return pickle.dumps(_Touch(), protocol=2)


# -- calls --------------------------------------------------------------------------------
def call_request(agent_id: str, method: str = "reply", args: Optional[pb.Payload] = None,
                 task_id: Optional[str] = None, caller_id: str = "", seq: int = 0) -> pb.CallRequest:
    """A call of `agent_id.method(args)`; a fresh task id unless one is given."""
    return pb.CallRequest(agent_id=agent_id, method=method, args=args or json_args(),
                          task_id=task_id or new_task_id(), caller_id=caller_id, seq=seq)


class CallInFlight:
    """A raw call started in the background; `wait()` gives its Outcome."""

    def __init__(self, target: Target, request: pb.CallRequest, via: str, timeout: float) -> None:
        self.request = request
        self._outcome: "queue.Queue[Outcome]" = queue.Queue(1)
        self._session: Optional[RawSession] = None
        if via == "session":
            self._session = RawSession(target, timeout)
            self._session.send(calls=[request])
            threading.Thread(target=self._await_session, args=(timeout,), daemon=True).start()
        elif via == "call":
            threading.Thread(target=self._run_stream, args=(target, timeout), daemon=True).start()
        else:
            raise ValueError(f"unknown transport {via!r}; one of {CALL_TRANSPORTS}")

    def _run_stream(self, target: Target, timeout: float) -> None:
        outcome = Outcome()
        try:
            for event in target.stub().Call(self.request, metadata=target.metadata, timeout=timeout):
                apply_event(outcome, event)
        except grpc.RpcError as err:
            outcome = from_rpc_error(err)
        self._outcome.put(outcome)

    def _await_session(self, timeout: float) -> None:
        assert self._session is not None
        try:
            self._outcome.put(self._session.wait(self.request.task_id, timeout))
        finally:
            self._session.close()

    def wait(self, timeout: float) -> Outcome:
        """The outcome (a DEADLINE_EXCEEDED one if none came within `timeout`)."""
        try:
            return self._outcome.get(timeout=timeout)
        except queue.Empty:
            return Outcome(status=grpc.StatusCode.DEADLINE_EXCEEDED, details="no outcome in time")


def start_call(target: Target, request: pb.CallRequest, via: str, timeout: float = 60.0) -> CallInFlight:
    """Send `request` over transport `via` without waiting for it."""
    return CallInFlight(target, request, via, timeout)


def call(target: Target, request: pb.CallRequest, via: str = "session", timeout: float = 30.0) -> Outcome:
    """Send `request` over `via` and wait for its outcome."""
    return start_call(target, request, via, timeout).wait(timeout + 5)


# -- creations, fetches, management ---------------------------------------------------
def create_request(class_name: str, module: str = "", init_args: Optional[pb.Payload] = None,
                   class_blob: bytes = b"", agent_id: Optional[str] = None) -> pb.CreateAgentRequest:
    """A CreateAgent request (JSON `()` arguments unless given)."""
    return pb.CreateAgentRequest(agent_id=agent_id or f"raw_{class_name}_{new_task_id()}",
                                 class_name=class_name, module=module,
                                 init_args=init_args or json_args(), class_blob=class_blob)


def create(target: Target, request: pb.CreateAgentRequest, via: str = "unary", timeout: float = 30.0) -> Outcome:
    """Create an agent over the unary RPC or as a Creation on a session."""
    if via == "unary":
        try:
            reply = target.stub().CreateAgent(request, metadata=target.metadata, timeout=timeout)
        except grpc.RpcError as err:
            return from_rpc_error(err)
        return Outcome(created=reply, reply=reply, answered=True)
    session = RawSession(target, timeout)
    try:
        ident = new_task_id()
        session.send(creates=[pb.Creation(token=ident, request=request)])
        return session.wait(ident, timeout)
    finally:
        session.close()


def fetch_message(task_id: str, ident: Optional[str] = None) -> pb.Fetch:
    """A Fetch for a session frame; answered under `ident` (fresh unless given)."""
    return pb.Fetch(token=ident or new_task_id(), request=pb.FetchRequest(task_id=task_id))


def fetch(target: Target, task_id: str, via: str = "unary", timeout: float = 30.0) -> Outcome:
    """Read a call's result by task id, presenting `target`'s token."""
    if via == "unary":
        try:
            reply = target.stub().FetchResult(pb.FetchRequest(task_id=task_id), metadata=target.metadata,
                                              timeout=timeout)
        except grpc.RpcError as err:
            return from_rpc_error(err)
        outcome = Outcome(reply=reply, answered=True)
        if reply.WhichOneof("outcome") == "error":
            outcome.error = reply.error
        else:
            outcome.result = reply.result
        return outcome
    session = RawSession(target, timeout)
    try:
        message = fetch_message(task_id)
        session.send(fetches=[message])
        return session.wait(message.token, timeout)
    finally:
        session.close()


def ref_credentials(ref: Any) -> list:
    """Every non-empty string a placeholder reference carries (whatever authorises its fetch)."""
    import dataclasses

    if dataclasses.is_dataclass(ref):
        values = [getattr(ref, f.name) for f in dataclasses.fields(ref)]
    else:
        values = list(vars(ref).values())
    return [v for v in values if isinstance(v, str) and v]


def fetch_with_ref(ref: Any, task_id: Optional[str] = None, via: str = "unary", timeout: float = 30.0) -> Outcome:
    """Fetch `task_id` (default: the ref's own) presenting what a server holding `ref` would present."""
    target = Target(ref.host, ref.port, ref.token)
    try:
        return fetch(target, task_id or ref.task_id, via=via, timeout=timeout)
    finally:
        target.close()


def manage(target: Target, method: str, request: Any = None, timeout: float = 10.0) -> Outcome:
    """A management RPC (ListAgents, GetServerInfo, ...) by name."""
    kind, request_class = rpc_methods()[method]
    assert kind == "unary", f"{method} is not a unary RPC"
    try:
        reply = getattr(target.stub(), method)(request or request_class(), metadata=target.metadata,
                                               timeout=timeout)
    except grpc.RpcError as err:
        return from_rpc_error(err)
    return Outcome(reply=reply, answered=True)


def server_info(target: Target) -> pb.ServerInfo:
    """GetServerInfo, which must succeed."""
    outcome = manage(target, "GetServerInfo")
    assert outcome.ok, f"GetServerInfo failed: {outcome}"
    return outcome.reply


# -- any method, any bytes ---------------------------------------------------------------
def raw_rpc(target: Target, method: str, bodies: Iterable[bytes], timeout: float = 10.0,
            service: str = SERVICE, kind: Optional[str] = None) -> Outcome:
    """Send byte `bodies` to `/service/method` (one body unless the method streams requests)."""
    kind = kind or rpc_methods()[method][0]
    path = f"/{service}/{method}"
    channel = target.channel()
    bodies = list(bodies)
    try:
        if kind == "unary":
            reply = channel.unary_unary(path)(bodies[0], metadata=target.metadata, timeout=timeout)
            return Outcome(reply=reply, answered=True)
        if kind == "server_stream":
            replies = list(channel.unary_stream(path)(bodies[0], metadata=target.metadata, timeout=timeout))
            return Outcome(reply=replies, answered=True)
        if kind == "client_stream":
            reply = channel.stream_unary(path)(iter(bodies), metadata=target.metadata, timeout=timeout)
            return Outcome(reply=reply, answered=True)
        replies = list(channel.stream_stream(path)(iter(bodies), metadata=target.metadata, timeout=timeout))
        return Outcome(reply=replies, answered=True)
    except grpc.RpcError as err:
        return from_rpc_error(err)
