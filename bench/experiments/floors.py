"""The transport floor: bare gRPC message round trips, no codec, no agent.

    PYTHONPATH=. python -m bench.experiments.floors serve-aio|serve-sync

(prints ``PORT n``; exits when stdin closes)

Servers echo bytes: ``/floor.Echo/Stream`` (bidirectional) and, on the
sync server, ``/floor.Echo/Unary``; ``/floor.Echo/Burst`` answers a count
with that many small messages as fast as the server can send them (what
relayed speech needs of a server stream).  Clients:

* `AioStreamFloor`: one open grpc.aio stream; a round trip is
  ``await write(b); await read()`` timed *inside* the event loop, so no
  Python thread wake but grpc.aio's own (poller thread -> loop).
* `SyncStreamFloor`: one open sync-stack stream; the user thread puts the
  message in the request iterator (a gRPC consumption thread sends it) and
  blocks in ``next(responses)`` (woken by the channel thread).
* `SyncUnaryFloor`: a blocking sync unary call: the calling thread sends and
  polls the completion queue itself — no other Python thread involved.
"""
from __future__ import annotations

import asyncio
import queue
import sys
import time
from concurrent import futures
from typing import AsyncIterator, Iterator

import grpc

from bench.experiments import _procs

PAYLOAD = b"x" * 200  # about a tiny call's frame
CHUNK = b"y" * 64  # about one speech delta's event
STREAM = "/floor.Echo/Stream"
UNARY = "/floor.Echo/Unary"
BURST = "/floor.Echo/Burst"


def _handlers(stream: object, burst: object, unary: object = None) -> grpc.GenericRpcHandler:
    methods = {"Stream": grpc.stream_stream_rpc_method_handler(stream),
               "Burst": grpc.unary_stream_rpc_method_handler(burst)}
    if unary is not None:
        methods["Unary"] = grpc.unary_unary_rpc_method_handler(unary)
    return grpc.method_handlers_generic_handler("floor.Echo", methods)


async def _aio_echo(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    async for message in requests:
        yield message


async def _aio_burst(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(int(request)):
        yield CHUNK


def _sync_burst(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for _ in range(int(request)):
        yield CHUNK


def _sync_echo(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    yield from requests


def _sync_unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    return request


async def _serve_aio() -> None:
    server = grpc.aio.server(handlers=[_handlers(_aio_echo, _aio_burst)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await asyncio.get_running_loop().run_in_executor(None, _procs.serve_until_stdin_closes, port)
    await server.stop(1.0)


def _serve_sync() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[_handlers(_sync_echo, _sync_burst, _sync_unary)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        _procs.serve_until_stdin_closes(port)
    finally:
        server.stop(1.0).wait(5.0)


class AioStreamFloor:
    """Round trips on one grpc.aio stream, timed on the loop (see module docstring)."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._open(port))

    async def _open(self, port: int) -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._stream = self._channel.stream_stream(STREAM)()
        await self._stream.write(PAYLOAD)
        await self._stream.read()

    async def _block(self, n: int) -> list:
        samples = []
        stream = self._stream
        for _ in range(n):
            start = time.perf_counter()
            await stream.write(PAYLOAD)
            if await stream.read() != PAYLOAD:
                raise RuntimeError("the echo server answered something else")
            samples.append(time.perf_counter() - start)
        return samples

    def block(self, n: int) -> list:
        """`n` timed round trips (seconds each)."""
        return self.loop.run_until_complete(self._block(n))

    async def _burst(self, n: int) -> float:
        start = time.perf_counter()
        count = 0
        async for _ in self._channel.unary_stream(BURST)(str(n).encode()):
            count += 1
        if count != n:
            raise RuntimeError(f"{count} of {n} messages arrived")
        return n / (time.perf_counter() - start)

    def burst(self, n: int) -> float:
        """Messages per second of one server stream of `n` small messages, read on the loop."""
        return self.loop.run_until_complete(self._burst(n))

    def close(self) -> None:
        """End the stream and the loop."""
        async def close() -> None:
            await self._stream.done_writing()
            await self._channel.close()

        self.loop.run_until_complete(close())
        self.loop.close()


class SyncStreamFloor:
    """Round trips on one sync-stack stream (see module docstring)."""

    def __init__(self, port: int) -> None:
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._responses = self._channel.stream_stream(STREAM)(iter(self._requests.get, None))

    def one(self) -> None:
        """One round trip."""
        self._requests.put(PAYLOAD)
        if next(self._responses) != PAYLOAD:
            raise RuntimeError("the echo server answered something else")

    def burst(self, n: int) -> float:
        """Messages per second of one server stream of `n` small messages, read on this thread."""
        return _sync_burst_rate(self._channel, n)

    def close(self) -> None:
        """End the stream and the channel."""
        self._requests.put(None)
        self._channel.close()


def _sync_burst_rate(channel: grpc.Channel, n: int) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in channel.unary_stream(BURST)(str(n).encode(), timeout=120))
    if count != n:
        raise RuntimeError(f"{count} of {n} messages arrived")
    return n / (time.perf_counter() - start)


class SyncUnaryFloor:
    """Blocking sync unary round trips (see module docstring)."""

    def __init__(self, port: int) -> None:
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._unary = self._channel.unary_unary(UNARY)

    def one(self) -> None:
        """One round trip."""
        if self._unary(PAYLOAD, timeout=30) != PAYLOAD:
            raise RuntimeError("the echo server answered something else")

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()


def main(argv: list) -> None:
    """``serve-aio`` or ``serve-sync``."""
    if argv == ["serve-aio"]:
        asyncio.run(_serve_aio())
    elif argv == ["serve-sync"]:
        _serve_sync()
    else:
        raise SystemExit("usage: python -m bench.experiments.floors serve-aio|serve-sync")


if __name__ == "__main__":
    main(sys.argv[1:])
