"""The token gate alone (server/auth.py), in front of a real grpc.aio server.

The holder of the token passes; a caller with a valid capability may open
a Session (and only a Session); everyone else is refused UNAUTHENTICATED by
a handler that never reads the request.
"""
from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest

from agentscope_rpc.exception import AuthenticationError
from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc.client_session import ended_call_error
from agentscope_rpc.server.auth import SESSION_METHOD, TokenInterceptor

TOKEN = "a-token-of-enough-length-123456"
KEY = codec.capability_key(TOKEN)
ECHO = "/agentscope_rpc.AgentServer/GetServerInfo"


async def _echo(request: bytes, context) -> bytes:
    return b"ok:" + request


async def _session(requests, context):
    async for request in requests:
        yield b"got:" + request


class _Handlers(grpc.GenericRpcHandler):
    def service(self, details):
        if details.method == ECHO:
            return grpc.unary_unary_rpc_method_handler(_echo)
        if details.method == SESSION_METHOD:
            return grpc.stream_stream_rpc_method_handler(_session)
        return None


@contextlib.asynccontextmanager
async def _gated():
    """A real grpc.aio server behind the token gate, and a channel to it: yields (channel, port)."""
    server = grpc.aio.server(interceptors=[TokenInterceptor(TOKEN, KEY)])
    server.add_generic_rpc_handlers((_Handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, port
    finally:
        await server.stop(0)


async def _scenario() -> dict:
    results: dict = {}
    async with _gated() as (channel, _port):
        echo = channel.unary_unary(ECHO)
        session = channel.stream_stream(SESSION_METHOD)

        async def unary(name: str, metadata: tuple, body: bytes = b"x") -> None:
            try:
                results[name] = await echo(body, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as err:
                results[name] = err.code()

        async def stream(name: str, metadata: tuple) -> None:
            call = session(metadata=metadata, timeout=10)
            try:
                await call.write(b"frame")
                results[name] = await call.read()
                call.cancel()
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                # a write racing the refusal fails as INTERNAL "Internal error from
                # Core" (or InvalidStateError once the call is over): the call's own
                # status is the answer, as the runtime's session reads it
                results[name] = await call.code()

        good_cap = f"task-1:{codec.capability(KEY, 'task-1')}"
        await unary("token", (("authorization", f"Bearer {TOKEN}"),))
        await unary("wrong token", (("authorization", "Bearer nope"),))
        await unary("no token", ())
        await unary("no token, big body", (), b"z" * (3 << 20))  # refused without being read
        await unary("capability on a unary method", ((codec.CAPABILITY_METADATA, good_cap),))
        await stream("token session", (("authorization", f"Bearer {TOKEN}"),))
        await stream("capability session", ((codec.CAPABILITY_METADATA, good_cap),))
        await stream("forged capability", ((codec.CAPABILITY_METADATA, "task-1:" + "0" * 32),))
        await stream("capability of another task", ((codec.CAPABILITY_METADATA, good_cap.replace("task-1", "task-2")),))
        await stream("no token session", ())
    return results


def test_who_may_talk_to_a_server():
    results = asyncio.run(_scenario())
    denied = grpc.StatusCode.UNAUTHENTICATED
    assert results["token"] == b"ok:x"
    assert results["token session"] == b"got:frame"
    assert results["capability session"] == b"got:frame"  # a peer fetching one result
    for name in ("wrong token", "no token", "no token, big body", "capability on a unary method",
                 "forged capability", "capability of another task", "no token session"):
        assert results[name] == denied, name


@pytest.mark.parametrize("given", ["", "Bearer", "Bearer a-token-of-enough-length-12345", "bearer " + TOKEN])
def test_near_misses_are_refused(given):
    async def scenario():
        async with _gated() as (channel, _port):
            try:
                await channel.unary_unary(ECHO)(b"x", metadata=(("authorization", given),), timeout=10)
            except grpc.aio.AioRpcError as err:
                return err.code()
        return None

    assert asyncio.run(scenario()) == grpc.StatusCode.UNAUTHENTICATED


async def _write_after_refusal() -> tuple:
    async with _gated() as (channel, port):
        call = channel.stream_stream(SESSION_METHOD)(metadata=(), timeout=10)
        await call.code()  # refused: the call is over
        try:
            await call.write(b"frame")
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as err:
            failed = err
        else:
            raise AssertionError("a write on an ended call succeeded")
        return failed, await ended_call_error(call, failed, codec.Endpoint("127.0.0.1", port))


def test_a_write_that_fails_because_the_session_was_refused_reports_the_refusal():
    # what the runtime's session does when its write loses the race with the server's answer
    failed, error = asyncio.run(_write_after_refusal())
    assert not isinstance(failed, AuthenticationError)  # grpc says nothing useful ...
    assert isinstance(error, AuthenticationError) and "token" in str(error)  # ... the call's status does
