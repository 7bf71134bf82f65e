"""Serve an `@pipeline` app's stream as Server-Sent Events, with a live page (Starlette).

    python -m agentscope_rpc.sse examples/distributed/streaming_chat.py:chat --port 8000
    python -m agentscope_rpc.sse --replay game.jsonl --port 8000     # a saved transcript

`GET /stream?turns=3` runs the app once per request -- the query parameters
become its keyword arguments, as strings -- and sends its live events
(`agentscope_rpc.live_events`: `chunk`, `message`, `put`, `error`, `end`),
each as `event: <type>` and one `data: <json>` line.  With `chunks=False`
only whole messages are sent.  In replay mode `/stream` sends the
transcript's events instead (`?speed=2` paces them, default as recorded;
`speed=0` at once).

`GET /` is the live page (`agentscope_rpc/web/live.html`, no external
assets, works offline): one card per message in the speaker's colour with a
role badge, text growing as it streams (several at once, in place, by
message id), phase banners, private channels marked, `put` data rendered as
structured data, auto-scroll that pauses while the reader scrolls up, the
connection state and a clear end.

The app runs in its own thread (`streaming.run_app`); the event loop only
waits for the next item in a worker thread.  A client that disconnects
cancels the app and every remote call it started.

Needs the `web` extra (starlette, uvicorn).
"""
from __future__ import annotations

import argparse
import html
import importlib
import importlib.util
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse
from starlette.routing import Route

from . import live_events
from .streaming import AppStream, PipelineSpec, run_app

COMPLETED = "completed"
"""An app stream's status when the app ran to its end (the `end` event's `status`)."""

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def format_event(event: str, data: Any) -> str:
    """One SSE event; JSON never contains a raw newline, so one data line."""
    return f"event: {event}\ndata: {live_events.to_json(data)}\n\n"


def sse_text(event: Any) -> str:
    """A live event as SSE text."""
    return format_event(event.type, event.to_data())


def encode_item(item: Any, encoder: Optional[live_events.EventEncoder] = None) -> Iterator[str]:
    """The SSE texts for one item of an app stream."""
    for event in (encoder or live_events.EventEncoder()).encode(item):
        yield sse_text(event)


class _Exhausted(Exception):
    """`next()` hit the end (StopIteration cannot cross into a future)."""


def _next(items: Iterator[Any]) -> Any:
    try:
        return next(items)
    except StopIteration:
        raise _Exhausted from None


async def app_events(spec: PipelineSpec, kwargs: dict, transcript: Optional[str] = None) -> AsyncIterator[str]:
    """Run the app once; yield its stream as SSE text (and record it to `transcript`)."""
    from .transcript import TranscriptWriter

    stream = AppStream(spec.chunks, spec.maxsize)
    items = run_app(spec.app, (), kwargs, stream, spec.timeout)
    encoder = live_events.EventEncoder()
    writer = TranscriptWriter(transcript) if transcript else None

    def emit(event: Any) -> str:
        if writer is not None:
            writer.write(event)
        return sse_text(event)

    error: Optional[BaseException] = None
    try:
        while True:
            try:
                # abandon_on_cancel: a client leaving must not wait for the
                # next item; stream.cancel() below ends the waiting thread
                item = await anyio.to_thread.run_sync(_next, items, abandon_on_cancel=True)
            except _Exhausted:
                break
            except Exception as err:  # pylint: disable=broad-except
                error = err
                break
            for event in encoder.encode(item):
                yield emit(event)
        for event in encoder.finish(stream.status or COMPLETED, error):
            yield emit(event)
    finally:
        if writer is not None:
            writer.close()
        if stream.status is None:  # the client went away: stop the app's work
            stream.cancel()
        try:
            items.close()
        except ValueError:
            pass  # still inside next() in an abandoned worker; it ends by itself now


async def replay_events(path: str, speed: Optional[float]) -> AsyncIterator[str]:
    """A transcript's events as SSE text, paced by `speed` (None/0: at once)."""
    from .transcript import paced, read_transcript

    events = paced(read_transcript(path), speed)
    while True:
        try:
            event = await anyio.to_thread.run_sync(_next, events, abandon_on_cancel=True)
        except _Exhausted:
            return
        except ValueError as err:  # a broken line: say so, then end
            yield format_event("error", {"type": type(err).__name__, "message": str(err)})
            yield format_event("end", {"status": "error"})
            return
        yield sse_text(event)


class EventStreamResponse(StreamingResponse):
    """A streaming response that always watches for the client leaving.

    (Starlette's own only does so for ASGI spec < 2.4.)  Either way the body
    iterator is closed, so `app_events` cancels the app.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry point: send the body until it ends or the client disconnects.

        Whichever comes first cancels the other; the body iterator is closed in both cases.
        """
        try:
            async with anyio.create_task_group() as group:

                async def respond() -> None:
                    await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(respond)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


def page_html(title: str) -> str:
    """The live page, titled `title`."""
    page = resources.files("agentscope_rpc").joinpath("web/live.html").read_text(encoding="utf-8")
    return page.replace("{{title}}", html.escape(title))


def create_app(
    app_func: Optional[Callable] = None,
    chunks: bool = True,
    replay: Optional[str] = None,
    transcript: Optional[str] = None,
    title: Optional[str] = None,
) -> Starlette:
    """A Starlette app serving `app_func`'s stream (or a `replay` transcript) at `/stream` and the page at `/`.

    `app_func` is a plain app function or an `@pipeline`-decorated one (its
    `maxsize` and `timeout` are kept; `chunks` here decides the mode).
    `transcript`: record each run's events to that file (the latest run).
    """
    if (app_func is None) == (replay is None):
        raise ValueError("give either an app function or a transcript to replay")
    spec: Optional[PipelineSpec] = None
    if app_func is not None:
        spec = getattr(app_func, "__agentscope_pipeline__", None)
        spec = PipelineSpec(app_func, chunks, 256, None) if spec is None else spec._replace(chunks=chunks)
    if replay is not None and not Path(replay).is_file():
        raise ValueError(f"no transcript at {replay}")
    name = title or (getattr(spec.app, "__name__", "app") if spec else Path(replay).stem)

    async def stream(request: Request) -> EventStreamResponse:
        kwargs = dict(request.query_params)
        if spec is None:
            try:
                speed = float(kwargs.get("speed", "1"))
            except ValueError:
                speed = 1.0
            return EventStreamResponse(replay_events(replay, speed), headers=_HEADERS)
        return EventStreamResponse(app_events(spec, kwargs, transcript), headers=_HEADERS)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page_html(name))

    return Starlette(routes=[Route("/", index), Route("/stream", stream)])


def serve(app_func: Optional[Callable], host: str = "127.0.0.1", port: int = 8000, chunks: bool = True,
          replay: Optional[str] = None, transcript: Optional[str] = None, title: Optional[str] = None) -> None:
    """Serve `app_func` (or a `replay` transcript) over HTTP until interrupted."""
    import uvicorn

    app = create_app(app_func, chunks, replay=replay, transcript=transcript, title=title)
    what = replay if replay else getattr(app_func, "__name__", "app")
    print(f"serving {what} on http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def load_app(target: str) -> Callable:
    """`package.module:function` or `path/to/file.py:function`."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise SystemExit(f"expected module:function or file.py:function, got {target!r}")
    if where.endswith(".py") or os.sep in where:
        path = os.path.abspath(where)
        module_name = os.path.splitext(os.path.basename(path))[0]
        # on sys.path, so that child agent servers can import its agent classes
        sys.path.insert(0, os.path.dirname(path))
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(where)
    try:
        return getattr(module, name)
    except AttributeError:
        raise SystemExit(f"{where} has no {name!r}") from None


def main(argv: Optional[list] = None) -> None:
    """`python -m agentscope_rpc.sse module:function | --replay FILE`."""
    parser = argparse.ArgumentParser(
        prog="python -m agentscope_rpc.sse",
        description="Serve an @pipeline app's stream (or a saved transcript) as Server-Sent Events and a live page.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("target", nargs="?", help="module:function or path/to/file.py:function")
    parser.add_argument("--replay", metavar="FILE", help="serve this transcript instead of running an app")
    parser.add_argument("--transcript", metavar="FILE", help="record each run's events to FILE (JSON lines)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8000, help="port to bind")
    parser.add_argument("--messages", action="store_true", help="whole messages only (no chunk events)")
    args = parser.parse_args(argv)
    if (args.target is None) == (args.replay is None):
        parser.error("give an app (module:function) or --replay FILE")
    app = load_app(args.target) if args.target else None
    try:
        serve(app, args.host, args.port, chunks=not args.messages, replay=args.replay, transcript=args.transcript)
    except ValueError as err:
        raise SystemExit(f"sse: {err}") from None


__all__ = ["create_app", "serve", "load_app", "main", "page_html", "format_event", "sse_text", "encode_item",
           "EventStreamResponse"]

if __name__ == "__main__":
    main()
