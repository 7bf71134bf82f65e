"""The gRPC servicer: thin methods that decode, call the host, encode.

Errors leave through `context.abort` with the status that
`rpc.codec.status_for` assigns; a malformed request never stops the server.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any, AsyncIterator, Callable

import grpc

from ..exception import AgentScopeRpcError
from ..rpc import codec
from ..rpc._proto import agent_server_pb2 as pb
from ..rpc._proto import agent_server_pb2_grpc as pb_grpc
from .actor import CallTask
from .host import AgentHost
from .relay import CallRelay
from .session import ServerSession, relay_events

log = logging.getLogger(__name__)


async def _abort(context: grpc.aio.ServicerContext, err: BaseException) -> None:
    if isinstance(err, PermissionError):
        code = grpc.StatusCode.PERMISSION_DENIED
    elif isinstance(err, AttributeError):
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(err, AgentScopeRpcError):
        code = codec.status_for(err)
    else:
        code = grpc.StatusCode.INVALID_ARGUMENT
    await context.abort(code, f"{type(err).__name__}: {err}")


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


async def _refuse(context: grpc.aio.ServicerContext, request: _Malformed) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed request: {request.error}")


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):
    """Requests that do not parse get INVALID_ARGUMENT (grpc alone says UNKNOWN,
    which clients read as a dead server).  Runs after the token check."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or not method.startswith("/agentscope_rpc.AgentServer/"):
            return handler
        parse = _lenient(handler.request_deserializer)
        if handler.request_streaming:  # Session: it refuses the _Malformed marker itself
            return handler._replace(request_deserializer=parse)
        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            async def unary(request, context):
                if isinstance(request, _Malformed):
                    await _refuse(context, request)
                return await inner_unary(request, context)

            return handler._replace(request_deserializer=parse, unary_unary=unary)
        inner_stream = handler.unary_stream

        async def stream(request, context):
            if isinstance(request, _Malformed):
                await _refuse(context, request)
            async for event in inner_stream(request, context):
                yield event

        return handler._replace(request_deserializer=parse, unary_stream=stream)


def _stop_if_unfinished(task: CallTask, _context: Any = None) -> None:
    """The call's RPC ended before its result: cancel the agent's work."""
    if task.done is None or not task.done.done():
        task.cancelled = True
        task.relay.cancel()


class AgentServicer(pb_grpc.AgentServerServicer):
    """Maps each RPC onto `AgentHost`."""

    def __init__(self, host: AgentHost, on_stop: Callable[[], Any]) -> None:
        self.host = host
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
            await _abort(context, err)

    async def CreateAgent(self, request, context):
        return await self._guard(context, self.host.create_agent, request)

    async def DeleteAgent(self, request, context):
        await self._guard(context, self.host.delete_agent, request.agent_id)
        return pb.Ack(ok=True)

    async def DeleteAllAgents(self, request, context):
        count = self.host.delete_all()
        return pb.Ack(ok=True, detail=f"deleted {count} agents")

    async def Call(self, request: pb.CallRequest, context) -> AsyncIterator[pb.CallEvent]:
        relay = CallRelay(self.host.loop)
        try:
            with codec.collect_refs() as refs:
                args, kwargs = codec.decode_args(request.args)
            task = CallTask(
                task_id=request.task_id,
                method=request.method,
                args=args,
                kwargs=kwargs,
                relay=relay,
                caller_id=request.caller_id,
                seq=request.seq,
                refs=refs,
            )
            if not request.task_id or len(request.task_id) > 64:
                raise ValueError("a call needs a task id of at most 64 characters")
            if self.host.results.finished(request.task_id):
                raise ValueError(f"task id {request.task_id} was already used")
            self.host.submit(task, request.agent_id)
        except Exception as err:  # pylint: disable=broad-except
            await _abort(context, err)
            return
        # The caller going away (cancelled, disconnected) must stop its work.
        # This generator may be suspended at a `yield` when that happens; gRPC
        # then cancels the handler around it without raising in here, so the
        # RPC's done callback is what reliably notices.
        context.add_done_callback(functools.partial(_stop_if_unfinished, task))
        try:
            yield pb.CallEvent(accepted=request.task_id)
            async for items in relay.batches():
                for event in relay_events(items):
                    yield event
            kind, value = await task.done
            if kind == "result":
                yield pb.CallEvent(result=value)
            else:
                yield pb.CallEvent(error=value if isinstance(value, pb.RemoteError) else codec.error_to_pb(value))
        except asyncio.CancelledError:
            _stop_if_unfinished(task)
            raise

    async def Session(self, request_iterator, context):
        """Many calls on one stream; see `server.session`."""
        try:
            await ServerSession(self.host, self.host.config.max_message_bytes).run(context)
        except asyncio.CancelledError:
            pass  # the client left or the server is stopping: its calls were cancelled

    async def FetchResult(self, request, context):
        reply = await self._guard(context, self.host.results.fetch, request.task_id)
        return reply

    async def GetAttribute(self, request, context):
        # encoding inside the guard: a value that cannot travel is a clear
        # INVALID_ARGUMENT, not an UNKNOWN that clients read as a dead server
        return await self._guard(context, lambda: codec.encode(self.host.attribute(request.agent_id, request.name)))

    async def ListAgents(self, request, context):
        return self.host.list_agents()

    async def GetAgentMemory(self, request, context):
        memory = await self._guard(context, self.host.memory, request.agent_id)
        return pb.Payload(kind=pb.Payload.JSON, data=json.dumps([m.to_dict() for m in memory], default=str).encode())

    async def GetServerInfo(self, request, context):
        return self.host.server_info()

    async def StopServer(self, request, context):
        asyncio.get_running_loop().call_soon(self._on_stop)
        return pb.Ack(ok=True, detail="stopping")

