"""The gRPC servicer: thin methods that decode, call the host, encode.

`Session` hands its stream to a `ServerSession`; the management RPCs map
onto `AgentHost`.  Errors leave through `context.abort` with the status
`rpc.codec.status_for` assigns; a malformed request never stops the server.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any, Callable

import grpc
from grpc_health.v1 import health_pb2_grpc

from ..rpc import codec
from ..rpc._proto import agent_server_pb2 as pb
from ..rpc._proto import agent_server_pb2_grpc as pb_grpc
from .host import AgentHost
from .server_session import ServerSession

log = logging.getLogger(__name__)
SERVICE = "agentscope_rpc.AgentServer"
HEALTH_SERVICE = "grpc.health.v1.Health"


class _Malformed:
    """Stands for a request whose bytes did not parse."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _lenient(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as err:  # pylint: disable=broad-except
            return _Malformed(err)

    return parse


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):
    """Requests that do not parse get INVALID_ARGUMENT (grpc alone says UNKNOWN,
    which clients read as a dead server).  Runs after the token check."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or not method.startswith(("/agentscope_rpc.AgentServer/", "/grpc.health.v1.Health/")):
            return handler
        parse = _lenient(handler.request_deserializer)
        if handler.request_streaming:  # Session: it refuses the _Malformed marker itself
            return handler._replace(request_deserializer=parse)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request, context):
                if isinstance(request, _Malformed):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {request.error}")
                return await inner(request, context)

            return handler._replace(request_deserializer=parse, unary_unary=unary)
        inner_stream = handler.unary_stream  # the health service's Watch

        async def stream(request, context):
            if isinstance(request, _Malformed):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {request.error}")
            replies = inner_stream(request, context)
            if hasattr(replies, "__aiter__"):
                async for reply in replies:
                    yield reply
            else:  # a handler that writes with context.write
                await replies

        return handler._replace(request_deserializer=parse, unary_stream=stream)


def add_to_server(servicer: "AgentServicer", health_servicer: Any, server: grpc.aio.Server) -> None:
    """Register the agent service and the health service on `server`.

    Only as generic handlers: gRPC reads the request of a *registered*
    unary method before any interceptor runs, so a caller without the token
    could make the server buffer its body.  The Session writes frames as
    bytes (`rpc.frames` assembles them).
    """
    handlers = {
        name: handler for name, handler in _generated_handlers(pb_grpc.add_AgentServerServicer_to_server, servicer).items()
        if name != "Session"
    }
    handlers["Session"] = grpc.stream_stream_rpc_method_handler(
        servicer.Session, request_deserializer=pb.ClientFrame.FromString, response_serializer=None,
    )
    health = _generated_handlers(health_pb2_grpc.add_HealthServicer_to_server, health_servicer)
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(SERVICE, handlers),
        grpc.method_handlers_generic_handler(HEALTH_SERVICE, health),
    ))


def _generated_handlers(add_to_server: Callable, servicer: Any) -> dict:
    """The method handlers a generated add_*_to_server function would register."""
    captured: dict = {}

    class _Capture:
        def add_generic_rpc_handlers(self, generic_handlers):
            for handler in generic_handlers:
                captured.update(handler._method_handlers)  # pylint: disable=protected-access

        def add_registered_method_handlers(self, service_name, method_handlers):
            captured.update(method_handlers)

    add_to_server(servicer, _Capture())
    return captured


class AgentServicer(pb_grpc.AgentServerServicer):
    """Maps each RPC onto `AgentHost`."""

    def __init__(self, host: AgentHost, token: str, on_stop: Callable[[], Any]) -> None:
        self.host = host
        self._bearer = f"Bearer {token}".encode() if token else b""
        self._on_stop = on_stop

    async def _guard(self, context: grpc.aio.ServicerContext, func: Callable, *args: Any) -> Any:
        try:
            result = func(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        except asyncio.CancelledError:
            raise
        except Exception as err:  # pylint: disable=broad-except
            await context.abort(codec.status_for(err), f"{type(err).__name__}: {err}")

    def _full_access(self, context: grpc.aio.ServicerContext) -> bool:
        """The caller holds the token (else the interceptor let it in with a capability: fetch only)."""
        if not self._bearer:
            return True
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._bearer)
        return False

    async def Session(self, request_iterator, context):
        if self.host.stopping:  # opened during the stop: nothing on it could be answered
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the agent server is shutting down")
        try:
            await ServerSession(self.host, context, self._full_access(context)).run()
        except asyncio.CancelledError:
            pass  # the caller left or the server is stopping: its calls were cancelled

    async def DeleteAgent(self, request, context):
        await self._guard(context, self.host.delete_agent, request.agent_id)
        return pb.Ack(ok=True)

    async def DeleteAllAgents(self, request, context):
        return pb.Ack(ok=True, detail=f"deleted {self.host.delete_all()} agents")

    async def GetAttribute(self, request, context):
        # encoding inside the guard: a value that cannot travel is a clear
        # INVALID_ARGUMENT, not an UNKNOWN that clients read as a dead server
        return await self._guard(
            context, lambda: codec.encode(self.host.attribute(request.agent_id, request.name), self.host.allow_pickle),
        )

    async def ListAgents(self, request, context):
        return self.host.list_agents()

    async def GetAgentMemory(self, request, context):
        memory = await self._guard(context, self.host.memory, request.agent_id)
        return pb.Payload(kind=pb.Payload.JSON, data=codec.dumps(memory).encode())

    async def GetServerInfo(self, request, context):
        return self.host.server_info()

    async def SetModelConfigs(self, request, context):
        count = await self._guard(context, self.host.set_model_configs, request.configs_json)
        return pb.Ack(ok=True, detail=f"{count} model config(s) registered")

    async def StopServer(self, request, context):
        asyncio.get_running_loop().call_soon(self._on_stop)
        return pb.Ack(ok=True, detail="stopping")
