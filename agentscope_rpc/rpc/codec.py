"""Wire values: payloads, endpoints, placeholder references, capabilities and
the one mapping between errors and gRPC status codes.

A payload is JSON when the value is made only of JSON types, `Msg`s and
placeholders (an unresolved one travels as a `ResultRef`); anything else is
cloudpickled.  A server decodes a pickled payload only for a caller that
holds its token, and never when code shipping is off (`allow_pickle`).

A `ResultRef` names a result on its producing server and carries a
*capability*: an HMAC of the task id under a key derived from that server's
token.  It authorises fetching that one result and nothing else, so a
server handed a placeholder never learns the producer's token.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import threading
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Optional

import cloudpickle
import grpc

from .._environ import TOKEN_ENV  # re-exported: where servers and clients read the auth token from
from .. import exception as exc
from ..message import Msg
from ._proto import agent_server_pb2 as pb

CAPABILITY_METADATA = "x-agentscope-capability"  # "<task id>:<capability>" on a token-less fetch session
MAX_TASK_ID = 64
FORWARDED_DUNDERS = ("__getitem__",)  # special methods a proxy may call (public methods aside)

JSON = pb.Payload.JSON
PICKLE = pb.Payload.PICKLE
NONE = pb.Payload.NONE


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

    def __repr__(self) -> str:  # never print secrets
        return f"Endpoint({self.address}{', tls' if self.root_cert else ''})"


@dataclass(frozen=True, slots=True)
class ResultRef:
    """Where a call's result lives, and the capability to fetch only it.

    A caller's own reference holds the key to make the capability (`key`,
    never sent); `exported()` is the form that travels.
    """

    endpoint: Endpoint  # without token or client identity
    task_id: str
    capability: str = ""
    key: Optional[bytes] = field(default=None, compare=False, repr=False)

    def exported(self) -> "ResultRef":
        """The reference as a consumer gets it: with its capability, without the key."""
        if self.key is None:
            return self
        return ResultRef(self.endpoint, self.task_id, capability(self.key, self.task_id))


# -- capabilities ------------------------------------------------------------------
def capability_key(token: str) -> bytes:
    """The key capabilities of a server with this token are made with."""
    return hmac.new(token.encode(), b"agentscope-rpc/result-capability", hashlib.sha256).digest()


def capability(key: Optional[bytes], task_id: str) -> str:
    """The capability that authorises fetching `task_id` (empty without a key)."""
    if not key:
        return ""
    return hmac.new(key, task_id.encode(), hashlib.sha256).hexdigest()[:32]


def capability_ok(key: Optional[bytes], task_id: str, given: str) -> bool:
    """Constant-time check of a capability; always true for a server without a token."""
    if not key:
        return True
    return hmac.compare_digest(capability(key, task_id), given)


def public(endpoint: Endpoint) -> Endpoint:
    """The endpoint as a reference names it: no token, no client identity."""
    return replace(endpoint, token="", client_cert="", client_key="")


# -- payloads ----------------------------------------------------------------------
class _NotJson(Exception):
    pass


def _jsonable(obj: Any) -> Any:
    """Convert to JSON types exactly, or raise _NotJson."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, Msg):
        data = obj.to_dict()
        data["__type"] = "Msg"
        data["content"] = _jsonable(obj.content)
        data["metadata"] = _jsonable(obj.metadata)
        data["url"] = _jsonable(obj.url)
        return data
    if type(obj) is list:
        return [_jsonable(v) for v in obj]
    if type(obj) is tuple:
        return {"__type": "tuple", "v": [_jsonable(v) for v in obj]}
    if type(obj) is dict:
        if "__type" in obj:
            raise _NotJson  # would be mistaken for a tagged value
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise _NotJson
            out[key] = _jsonable(value)
        return out
    as_ref = getattr(obj, "__agentscope_ref__", None)
    if as_ref is not None:
        value = as_ref()
        if isinstance(value, ResultRef):
            exported = getattr(_exports, "bucket", None)
            if exported is not None:
                exported.append(obj)
            value = value.exported()
            ep = value.endpoint
            return {
                "__type": "Ref",
                "host": ep.host,
                "port": ep.port,
                "root_cert": ep.root_cert,
                "server_name": ep.server_name,
                "task_id": value.task_id,
                "capability": value.capability,
            }
        return _jsonable(value)
    raise _NotJson


_refs_hook = threading.local()  # the `refs` of the decode running on this thread
_exports = threading.local()  # placeholders an encode on this thread sent as references


@contextlib.contextmanager
def collecting_exports() -> Iterator[list]:
    """Within the block, placeholders encoded as references are appended to the list."""
    previous = getattr(_exports, "bucket", None)
    bucket: list = []
    _exports.bucket = bucket
    try:
        yield bucket
    finally:
        _exports.bucket = previous


def _object_hook(data: dict) -> Any:
    kind = data.get("__type")
    if kind is None:
        return data
    if kind == "Msg":
        return Msg.from_dict(data)
    if kind == "tuple":
        return tuple(data["v"])
    if kind == "Ref":
        ref = ResultRef(
            Endpoint(str(data["host"]), int(data["port"]), root_cert=data.get("root_cert") or "",
                     server_name=data.get("server_name") or ""),
            str(data["task_id"]),
            str(data.get("capability") or ""),
        )
        refs = getattr(_refs_hook, "refs", None)
        return refs(ref) if refs is not None else ref
    return data


_DECODER = json.JSONDecoder(object_hook=_object_hook)  # one decoder: building one costs more than a small call


def _loads(text: str, refs: Optional[Callable[[ResultRef], Any]]) -> Any:
    if refs is None:
        return _DECODER.decode(text)
    previous = getattr(_refs_hook, "refs", None)
    _refs_hook.refs = refs
    try:
        return _DECODER.decode(text)
    finally:
        _refs_hook.refs = previous


def encode(value: Any, allow_pickle: bool = True) -> pb.Payload:
    """A payload for `value`: JSON when it can be, else cloudpickle."""
    if value is None:
        return pb.Payload(kind=NONE)
    try:
        text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
        return pb.Payload(kind=JSON, data=text.encode())
    except _NotJson:
        pass
    if not allow_pickle:
        raise TypeError(f"a {type(value).__name__} cannot travel as JSON (code shipping is off)")
    return pb.Payload(kind=PICKLE, data=cloudpickle.dumps(value))


def decode(payload: pb.Payload, refs: Optional[Callable[[ResultRef], Any]] = None, allow_pickle: bool = True) -> Any:
    """The value of a payload; `refs` turns each decoded `ResultRef` into an object."""
    if payload.kind == NONE:
        return None
    if payload.kind == JSON:
        return _loads(payload.data.decode(), refs)
    if payload.kind == PICKLE:
        if not allow_pickle:
            raise PermissionError("pickled payloads are not accepted by this server (code shipping is off)")
        return cloudpickle.loads(payload.data)
    raise ValueError(f"unknown payload kind {payload.kind}")


def dumps(value: Any) -> str:
    """JSON text of a value made of JSON types, tuples and `Msg`s (TypeError otherwise)."""
    try:
        return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    except _NotJson:
        raise TypeError(f"{type(value).__name__} value is not JSON") from None


def loads(text: str, refs: Optional[Callable[[ResultRef], Any]] = None) -> Any:
    """The value of `dumps` text."""
    return _loads(text, refs)


class _LastMsg(threading.local):
    """The last one-message argument list encoded on this thread (a fan-out sends the same Msg on)."""

    key: Optional[tuple] = None
    payload: Optional[pb.Payload] = None


_last_msg = _LastMsg()
_ATOMIC = (str, int, float, bool, type(None))


def _msg_key(msg: Msg) -> Optional[tuple]:
    """What identifies a message's encoding, if all its fields are immutable (else None: encode it)."""
    key = (id(msg), msg.id, msg.name, msg.role, msg.content, msg.url, msg.metadata, msg.timestamp)
    for value in key[4:7]:
        if not isinstance(value, _ATOMIC):
            return None
    return key


def encode_args(args: tuple, kwargs: dict, allow_pickle: bool = True) -> pb.Payload:
    """The payload of a call's arguments.  The same message sent to many agents is encoded once."""
    if len(args) == 1 and not kwargs and type(args[0]) is Msg:
        key = _msg_key(args[0])
        if key is not None:
            last = _last_msg
            old = last.key
            if old is not None and key[0] == old[0] and key[1] is old[1] and key[2] is old[2] and key[3] is old[3] \
                    and key[4] is old[4] and key[5] is old[5] and key[6] is old[6] and key[7] is old[7]:
                return last.payload  # type: ignore[return-value]
            payload = encode({"a": [args[0]], "k": {}}, allow_pickle)
            last.key, last.payload = key, payload
            return payload
    return encode({"a": list(args), "k": dict(kwargs)}, allow_pickle)


def may_hold_refs(payload: pb.Payload) -> bool:
    """Whether a payload can contain placeholder references (pickles are read as if they could)."""
    return payload.kind != JSON or b'"__type":"Ref"' in payload.data


class _LastArgs(threading.local):
    """The last one-message argument payload decoded on this thread (a fan-out receives it again and again)."""

    data: Optional[bytes] = None
    msg: Optional[Msg] = None


_last_args = _LastArgs()


def decode_args(payload: pb.Payload, refs: Optional[Callable[[ResultRef], Any]] = None,
                allow_pickle: bool = True) -> tuple[tuple, dict]:
    """A call's (args, kwargs).  The same one-message payload received again is decoded once
    (every call still gets a message object of its own)."""
    if payload.kind == JSON and refs is None:
        last = _last_args
        if last.data is not None and payload.data == last.data:
            return (copy.copy(last.msg),), {}
    data = decode(payload, refs, allow_pickle)
    if data is None:
        return (), {}
    if not isinstance(data, dict) or not isinstance(data.get("a"), (list, tuple)) or not isinstance(data.get("k"), dict):
        raise ValueError("malformed call arguments")
    args = tuple(data["a"])
    if payload.kind == JSON and refs is None and not data["k"] and len(args) == 1 and type(args[0]) is Msg \
            and _msg_key(args[0]) is not None:
        _last_args.data, _last_args.msg = payload.data, copy.copy(args[0])
    return args, dict(data["k"])


def digest(data: bytes) -> str:
    """The content address of a Define'd blob."""
    return hashlib.sha256(data).hexdigest()


# -- remote errors -------------------------------------------------------------------
def error_to_pb(error: BaseException) -> pb.RemoteError:
    if isinstance(error, exc.AgentCallError):  # nested: keep the original
        return pb.RemoteError(type=error.remote_type, message=error.remote_message, traceback=error.remote_traceback)
    return pb.RemoteError(
        type=type(error).__name__,
        message=str(error),
        traceback="".join(traceback.format_exception(type(error), error, error.__traceback__)),
    )


def error_from_pb(error: pb.RemoteError, agent_id: Optional[str] = None) -> exc.AgentCallError:
    return exc.AgentCallError(error.type, error.message, error.traceback, agent_id)


# -- gRPC status <-> exception: the one mapping ------------------------------------------
_STATUS_TO_ERROR = {
    grpc.StatusCode.UNAUTHENTICATED: exc.AuthenticationError,
    grpc.StatusCode.NOT_FOUND: exc.AgentNotFoundError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: exc.MessageTooLargeError,
    grpc.StatusCode.FAILED_PRECONDITION: exc.AgentCreationError,
    grpc.StatusCode.CANCELLED: exc.StreamCancelledError,
    grpc.StatusCode.DEADLINE_EXCEEDED: exc.StreamTimeoutError,
    grpc.StatusCode.DATA_LOSS: exc.ResultExpiredError,
}
_ERROR_TO_STATUS = [  # most specific first
    (exc.AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionError, grpc.StatusCode.PERMISSION_DENIED),
    (exc.AgentNotFoundError, grpc.StatusCode.NOT_FOUND),
    (exc.MessageTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (exc.AgentCreationError, grpc.StatusCode.FAILED_PRECONDITION),
    (exc.ResultExpiredError, grpc.StatusCode.DATA_LOSS),
    (FileExistsError, grpc.StatusCode.ALREADY_EXISTS),  # a request id already used
    (exc.StreamCancelledError, grpc.StatusCode.CANCELLED),
    (exc.StreamTimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
]
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def status_for(error: BaseException) -> grpc.StatusCode:
    """The status a server answers a refused request with (INVALID_ARGUMENT by default)."""
    for klass, code in _ERROR_TO_STATUS:
        if isinstance(error, klass):
            return code
    return grpc.StatusCode.INVALID_ARGUMENT


def refusal(error: BaseException) -> pb.Refused:
    return pb.Refused(code=status_for(error).value[0], details=f"{type(error).__name__}: {error}")


def error_for_status(code: Any, details: str, endpoint: Optional[Endpoint] = None) -> Exception:
    """The exception a request that ended with gRPC status `code` raises (int or StatusCode)."""
    if isinstance(code, int):
        code = _CODES.get(code, grpc.StatusCode.UNKNOWN)
    host, port = (endpoint.host, endpoint.port) if endpoint is not None else ("", 0)
    where = f"{host}:{port}"
    # A server never answers INTERNAL itself; gRPC's core reports a connection
    # that broke mid-call that way ("RST_STREAM", "Internal error from Core").
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
        return exc.AgentServerNotAliveError(f"agent server {where} is not reachable: {details}", host, port)
    klass = _STATUS_TO_ERROR.get(code, exc.AgentServerError)
    if klass is exc.MessageTooLargeError:
        return klass(f"message too large for {where}: {details}")
    return klass(f"{where}: {details}")


def error_from_rpc(err: grpc.RpcError, endpoint: Optional[Endpoint] = None) -> Exception:
    """Turn a failed RPC into the exception our API promises."""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or str(err)
    return error_for_status(code, details, endpoint)
