"""Who may talk to a server, decided before any request is read.

Clients send `authorization: Bearer <token>`; the interceptor compares it in
constant time.  A caller without the token may open a `Session` only with a
valid capability for one result in its metadata
(`x-agentscope-capability: <task id>:<capability>`, see `rpc.codec`) — a
peer server fetching a placeholder — and that session can only fetch.
Everyone else gets UNAUTHENTICATED from a handler that never reads the
request: it is a bidirectional handler whatever the method, and it aborts
before asking for the first message, so an unauthenticated caller's body
is never buffered, parsed or unpickled.
"""
from __future__ import annotations

import hmac
from typing import Awaitable, Callable, Optional

import grpc

from ..rpc import codec

SESSION_METHOD = "/agentscope_rpc.AgentServer/Session"


async def _deny(requests, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong agent server token")


_DENY = grpc.stream_stream_rpc_method_handler(_deny)


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Admits the token's holders, and fetch-only sessions carrying a valid capability."""

    def __init__(self, token: str, capability_key: Optional[bytes]) -> None:
        self._expected = f"Bearer {token}".encode()
        self._key = capability_key

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        given = b""
        capability = ""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
            elif key == codec.CAPABILITY_METADATA:
                capability = value if isinstance(value, str) else value.decode(errors="replace")
        if hmac.compare_digest(given, self._expected):
            return await continuation(handler_call_details)
        if capability and handler_call_details.method == SESSION_METHOD:
            task_id, _, mac = capability.partition(":")
            if task_id and mac and codec.capability_ok(self._key, task_id, mac):
                return await continuation(handler_call_details)
        return _DENY
