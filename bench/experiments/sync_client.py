"""Variant (b)'s client: public sync stubs, one unary `CallUnary` future per call.

`call()` starts the RPC on the calling thread (`UnaryUnaryMultiCallable.future`)
and returns a placeholder at once; grpc's channel thread runs the done
callback, which decodes the `Event` and settles the placeholder, waking the
waiting user thread — one Python thread wake on this side.

Left out compared with the runtime's client: everything the session stream
carries besides calls (speech, credit, releases — the sync server keeps no
results), hooks and proxies (`DirectAgent`-like bookkeeping only).  Giving
up the session is the point of this variant, and its cost: every call is an
HTTP/2 stream of its own, and calls made one after another can reach their
actor in another order (see sync_server).
"""
from __future__ import annotations

import functools
from typing import Any, Optional

import grpc

from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc.placeholder import AsyncResult

from bench.experiments.direct_session import CHANNEL_OPTIONS, CREATE_TIMEOUT_S, WINDOW, ids, settle
from bench.experiments.sync_server import SERVICE


class UnaryClient:
    """Calls and creations on a prototype sync server, one unary RPC each."""

    def __init__(self, endpoint: codec.Endpoint) -> None:
        self.endpoint = endpoint
        self._public = codec.public(endpoint)
        self._key = codec.capability_key(endpoint.token) if endpoint.token else None
        self._metadata = (("authorization", f"Bearer {endpoint.token}"),) if endpoint.token else ()
        self._channel = grpc.insecure_channel(endpoint.address, options=CHANNEL_OPTIONS)
        self._call = self._channel.unary_unary(
            f"/{SERVICE}/CallUnary", request_serializer=pb.CallRequest.SerializeToString,
            response_deserializer=pb.Event.FromString)
        self._create = self._channel.unary_unary(
            f"/{SERVICE}/CreateUnary", request_serializer=pb.CreateRequest.SerializeToString,
            response_deserializer=pb.Event.FromString)

    def call(self, agent_id: str, method: str, args: tuple = (), kwargs: Optional[dict] = None) -> AsyncResult:
        """Start a call; returns its placeholder at once."""
        task_id = ids.next()
        placeholder = AsyncResult(codec.ResultRef(self._public, task_id, key=self._key))
        request = pb.CallRequest(task_id=task_id, agent_id=agent_id, method=method,
                                 args=codec.encode_args(args, kwargs or {}), window=WINDOW)
        future = self._call.future(request, metadata=self._metadata)
        future.add_done_callback(functools.partial(self._settle, placeholder))
        return placeholder

    def _settle(self, placeholder: AsyncResult, future: Any) -> None:
        try:
            event = future.result()
        except grpc.RpcError as err:
            placeholder._set_exception(codec.error_from_rpc(err, self.endpoint))  # pylint: disable=protected-access
            return
        settle(placeholder, event, self.endpoint)

    def create(self, klass: type, *args: Any, agent_id: Optional[str] = None, **kwargs: Any) -> str:
        """Build `klass(*args, **kwargs)` on the server (by import path); returns its agent id."""
        agent_id = agent_id or f"{klass.__name__}_{ids.next()}"
        request = pb.CreateRequest(request_id=ids.next(), agent_id=agent_id, class_name=klass.__qualname__,
                                   module=klass.__module__, init_args=codec.encode_args(args, kwargs))
        try:
            event = self._create(request, metadata=self._metadata, timeout=CREATE_TIMEOUT_S)
        except grpc.RpcError as err:
            raise codec.error_from_rpc(err, self.endpoint) from None
        ready = AsyncResult()
        settle(ready, event, self.endpoint)
        ready.result(0)
        return agent_id

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()
