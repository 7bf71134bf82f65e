"""App-level streams: the `@pipeline` generator and the runtime stream.

    @pipeline
    def main():
        a, b = Talker("a", to_dist=True), Talker("b", to_dist=True)
        x = a(None)
        b(x)

    for msg in main():          # every message any agent speaks, in order
        print(msg.name, msg.content)

`@pipeline(chunks=True)` yields `SpeakChunk(msg, last)` snapshots as the
message grows instead of only completed messages.  `put_into_stream(obj)`,
called from app code or from any agent (local or remote, nested or not),
delivers `obj` into the same stream.  An exception in the app is raised by
the generator where it happened; leaving the loop early (break, close, a
consumer going away) cancels the app and the remote calls it started.

Outside an app, `put_into_stream` feeds the process's runtime stream, read
with `get_runtime_stream(timeout=...)` and ended by `stop_stream()`.

Streams are bounded: chunks of one message coalesce into the newest snapshot
when the consumer lags, and producers wait when completed items pile up.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from typing import Any, Callable, Iterator, NamedTuple, Optional

from . import runtime, speech
from .app_stream import CANCELLED, TIMEOUT, AppStream, SpeakChunk
from .exception import StreamCancelledError

def pipeline(
    func: Optional[Callable] = None,
    *,
    chunks: bool = False,
    maxsize: int = 256,
    timeout: Optional[float] = None,
) -> Any:
    """Decorator: calling the app function returns a generator of what its agents speak.

    Use it bare (`@pipeline`) or with options (`@pipeline(chunks=True)`).  Each
    call starts the app in its own thread once iteration begins and yields
    every message spoken by the agents it uses, local or remote, in order, and
    whatever is given to `put_into_stream`; the app's return value is dropped.

    * `chunks`: also yield `SpeakChunk(msg, last)` snapshots while a message
      grows (default: only completed messages).
    * `maxsize`: how many completed items may wait for the consumer before
      the producers wait (chunks of one message coalesce instead).
    * `timeout`: seconds to wait for the next item; then the generator raises
      `StreamTimeoutError` and the app is cancelled.  None: no limit.

    An exception in the app is raised by the generator at that point; leaving
    the loop early cancels the app and the remote calls it started.
    """

    def decorate(app: Callable) -> Callable[..., Iterator[Any]]:
        @functools.wraps(app)
        def start(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return run_app(app, args, kwargs, AppStream(chunks, maxsize), timeout)

        start.__agentscope_pipeline__ = PipelineSpec(app, chunks, maxsize, timeout)  # type: ignore[attr-defined]
        return start

    return decorate(func) if func is not None else decorate


class PipelineSpec(NamedTuple):
    """What `@pipeline` wrapped: the app function and the stream options."""

    app: Callable
    chunks: bool
    maxsize: int
    timeout: Optional[float]


def run_app(
    app: Callable,
    args: tuple,
    kwargs: dict,
    stream: AppStream,
    timeout: Optional[float] = None,
) -> Iterator[Any]:
    """Run `app(*args, **kwargs)` in its own thread, speaking into `stream`.

    The generator yields the stream's items once iteration starts.  Closing
    it early, or `stream.cancel()` from any thread (which ends the iteration
    at once), cancels the app's remote calls.
    """
    ctx = contextvars.copy_context()

    def body() -> None:
        try:
            with speech.bind_sinks(stream):
                if inspect.iscoroutinefunction(app):
                    asyncio.run(app(*args, **kwargs))
                else:
                    app(*args, **kwargs)
            stream.wait_calls()  # what the app started still speaks into the stream
        except BaseException as err:  # pylint: disable=broad-except
            stream.finish(None if isinstance(err, StreamCancelledError) and stream.status == CANCELLED else err)
        else:
            stream.finish()

    thread = threading.Thread(target=ctx.run, args=(body,), name=f"app-{app.__name__}", daemon=True)
    thread.start()
    try:
        yield from stream.iterate(timeout)
    finally:
        if stream.status in (None, TIMEOUT):  # left early: stop the app's work
            stream.cancel()


# -- the runtime stream (kept by the current runtime) --------------------------------
def put_into_stream(obj: Any) -> None:
    """Deliver `obj` into the current app's stream (or the runtime stream)."""
    if not speech.put_object(obj):
        runtime.current().runtime_stream_writer().put(obj)


def stop_stream() -> None:
    """End the current app's stream (or the runtime stream)."""
    if not speech.stop_streams():
        runtime.current().runtime_stream_writer().stop_stream()


def get_runtime_stream(timeout: Optional[float] = None) -> Iterator[Any]:
    """Items given to `put_into_stream` outside apps, until `stop_stream()`.

    Raises `StreamTimeoutError` when nothing arrives within `timeout` seconds.
    """
    return runtime.current().runtime_stream_reader().iterate(timeout)


__all__ = [  # run_app / PipelineSpec / AppStream are what agentscope_rpc.sse builds on, not user API
    "pipeline",
    "SpeakChunk",
    "put_into_stream",
    "stop_stream",
    "get_runtime_stream",
]
