"""Wire values: payload encoding and the one status <-> exception mapping.

A payload is JSON when the value is made only of JSON types, `Msg`s and
placeholders (which travel as references); anything else is cloudpickled.
Pickled payloads are decoded only by a server that has already checked the
caller's token (see `server.auth`).
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Optional

import cloudpickle
import grpc

from .. import exception as exc
from ..message import Msg
from ._proto import agent_server_pb2 as pb

TOKEN_ENV = "AGENTSCOPE_RPC_TOKEN"  # where servers and clients read the auth token from by default

JSON = pb.Payload.JSON
PICKLE = pb.Payload.PICKLE
NONE = pb.Payload.NONE


@dataclass(frozen=True)
class ResultRef:
    """Where a call's result lives: enough for any server to fetch it."""

    host: str
    port: int
    task_id: str
    token: str = ""
    root_cert: str = ""  # PEM of the producing server's CA, when it uses TLS


class _NotJson(Exception):
    pass


def _jsonable(obj: Any) -> Any:
    """Convert to JSON types exactly, or raise _NotJson."""
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, Msg):
        data = obj.to_dict()
        data["content"] = _jsonable(obj.content)
        data["metadata"] = _jsonable(obj.metadata)
        data["url"] = _jsonable(obj.url)
        return data
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        if "__type" in obj:
            raise _NotJson  # would be mistaken for a tagged value
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise _NotJson
            out[key] = _jsonable(value)
        return out
    ref = getattr(obj, "__agentscope_ref__", None)
    if ref is not None:
        value = ref()
        if isinstance(value, ResultRef):
            return {"__type": "Ref", **asdict(value)}
        return _jsonable(value)
    raise _NotJson


def _object_hook(data: dict) -> Any:
    kind = data.get("__type")
    if kind == "Msg":
        return Msg.from_dict(data)
    if kind == "Ref":
        fields = {k: v for k, v in data.items() if k != "__type"}
        return _ref_decoder(ResultRef(**fields))
    return data


def _default_ref_decoder(ref: ResultRef) -> Any:
    return ref


_ref_decoder = _default_ref_decoder


def set_ref_decoder(func: Any) -> None:
    """Placeholders register how a decoded `ResultRef` becomes an object."""
    global _ref_decoder  # pylint: disable=global-statement
    _ref_decoder = func


def encode(value: Any, allow_pickle: bool = True) -> pb.Payload:
    if value is None:
        return pb.Payload(kind=NONE)
    try:
        text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
        return pb.Payload(kind=JSON, data=text.encode())
    except _NotJson:
        pass
    if not allow_pickle:
        raise TypeError(f"{type(value).__name__} cannot travel as JSON")
    return pb.Payload(kind=PICKLE, data=cloudpickle.dumps(value))


def decode(payload: pb.Payload, allow_pickle: bool = True) -> Any:
    if payload.kind == NONE:
        return None
    if payload.kind == JSON:
        return json.loads(payload.data.decode(), object_hook=_object_hook)
    if payload.kind == PICKLE:
        if not allow_pickle:
            raise exc.AgentServerError("pickled payloads are not accepted here")
        return cloudpickle.loads(payload.data)
    raise exc.AgentServerError(f"unknown payload kind {payload.kind}")


def encode_args(args: tuple, kwargs: dict) -> pb.Payload:
    return encode({"a": list(args), "k": dict(kwargs)})


def decode_args(payload: pb.Payload) -> tuple[tuple, dict]:
    data = decode(payload)
    if data is None:
        return (), {}
    if not isinstance(data, dict) or "a" not in data or "k" not in data:
        raise exc.AgentServerError("malformed call arguments")
    return tuple(data["a"]), dict(data["k"])


# -- remote errors -----------------------------------------------------------
def error_to_pb(error: BaseException) -> pb.RemoteError:
    if isinstance(error, exc.AgentCallError):  # nested: keep the original
        return pb.RemoteError(
            type=error.remote_type,
            message=error.remote_message,
            traceback=error.remote_traceback,
        )
    return pb.RemoteError(
        type=type(error).__name__,
        message=str(error),
        traceback="".join(traceback.format_exception(type(error), error, error.__traceback__)),
    )


def error_from_pb(error: pb.RemoteError, agent_id: Optional[str] = None) -> exc.AgentCallError:
    return exc.AgentCallError(error.type, error.message, error.traceback, agent_id)


# -- gRPC status <-> exception: the one mapping ------------------------------
_STATUS_TO_ERROR = {
    grpc.StatusCode.UNAUTHENTICATED: exc.AuthenticationError,
    grpc.StatusCode.NOT_FOUND: exc.AgentNotFoundError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: exc.MessageTooLargeError,
    grpc.StatusCode.FAILED_PRECONDITION: exc.AgentCreationError,
    grpc.StatusCode.CANCELLED: exc.StreamCancelledError,
    grpc.StatusCode.DEADLINE_EXCEEDED: exc.StreamTimeoutError,
    grpc.StatusCode.DATA_LOSS: exc.ResultExpiredError,
}

_ERROR_TO_STATUS = {
    exc.AuthenticationError: grpc.StatusCode.UNAUTHENTICATED,
    exc.AgentNotFoundError: grpc.StatusCode.NOT_FOUND,
    exc.MessageTooLargeError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    exc.AgentCreationError: grpc.StatusCode.FAILED_PRECONDITION,
    exc.ResultExpiredError: grpc.StatusCode.DATA_LOSS,
}


def status_for(error: BaseException) -> grpc.StatusCode:
    for klass in type(error).__mro__:
        if klass in _ERROR_TO_STATUS:
            return _ERROR_TO_STATUS[klass]
    return grpc.StatusCode.INVALID_ARGUMENT


def error_from_rpc(err: grpc.RpcError, host: str = "", port: int = 0) -> Exception:
    """Turn a failed RPC into the exception our API promises."""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or str(err)
    return error_from_status(code, details, host, port)


def error_from_status(code: Optional[grpc.StatusCode], details: str, host: str = "", port: int = 0) -> Exception:
    """The exception for a call that ended with gRPC status `code`."""
    where = f"{host}:{port}"
    # A server never answers INTERNAL itself; gRPC's core reports a connection
    # that broke mid-call that way ("RST_STREAM", "Internal error from Core").
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
        return exc.AgentServerNotAliveError(
            f"agent server {where} is not reachable: {details}",
            host,
            port,
        )
    klass = _STATUS_TO_ERROR.get(code, exc.AgentServerError)
    if klass is exc.MessageTooLargeError:
        return klass(f"message too large for {where}: {details}")
    return klass(f"{where}: {details}")


# -- collecting placeholders decoded from a payload ---------------------------
_collected: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar(
    "agentscope_rpc_decoded_refs",
    default=None,
)


@contextlib.contextmanager
def collect_refs() -> Iterator[list]:
    """Within the block, placeholders built from refs are appended to a list."""
    bucket: list = []
    token = _collected.set(bucket)
    try:
        yield bucket
    finally:
        _collected.reset(token)


def note_ref(obj: Any) -> None:
    bucket = _collected.get()
    if bucket is not None:
        bucket.append(obj)
