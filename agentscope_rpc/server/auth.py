"""Token check in front of every RPC, before any request is deserialised.

Clients send `authorization: Bearer <token>` metadata.  The interceptor
compares it in constant time; on mismatch it answers UNAUTHENTICATED with a
handler whose deserializer is never run, so no payload of an unauthenticated
caller is parsed, let alone unpickled.
"""
from __future__ import annotations

import hmac
from typing import Awaitable, Callable

import grpc

_STREAMING_METHODS = ("/agentscope_rpc.AgentServer/Call", "/grpc.health.v1.Health/Watch")


async def _deny_unary(request: bytes, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong agent server token")


async def _deny_stream(request: bytes, context: grpc.aio.ServicerContext):
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong agent server token")
    yield b""  # pragma: no cover - abort raises


async def _deny_bidi(requests, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong agent server token")


_SESSION_METHOD = "/agentscope_rpc.AgentServer/Session"
_DENY_UNARY = grpc.unary_unary_rpc_method_handler(_deny_unary)
_DENY_BIDI = grpc.stream_stream_rpc_method_handler(_deny_bidi)
_DENY_STREAM = grpc.unary_stream_rpc_method_handler(_deny_stream)


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects RPCs whose bearer token is not the server's."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        given = b""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                break
        if hmac.compare_digest(given, self._expected):
            return await continuation(handler_call_details)
        if handler_call_details.method in _STREAMING_METHODS:
            return _DENY_STREAM
        if handler_call_details.method == _SESSION_METHOD:
            return _DENY_BIDI
        return _DENY_UNARY
