"""Serve an `@pipeline` app's stream as Server-Sent Events (Starlette).

    python -m agentscope_rpc.sse examples/distributed/streaming_chat.py:chat --port 8000

`GET /stream?turns=3` runs the app once per request -- the query parameters
become its keyword arguments, as strings -- and sends what it streams:

    event: chunk    data: {"msg": <Msg.to_dict()>, "last": true|false}
    event: message  data: <Msg.to_dict()>        a message is complete
    event: put      data: <JSON of what put_into_stream got>
    event: error    data: {"type": ..., "message": ...}
    event: end      data: {"status": "completed"|"error"|"cancelled"|"timeout"}

With `chunks=True` each snapshot of a growing message is a `chunk` event and
a completed message is also sent as `message`; with `chunks=False` only
`message` events are sent.  `error` (the app raised) is followed by `end`.
`GET /` is a small page that shows the stream live, one line per message.

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
import json
import os
import sys
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse
from starlette.routing import Route

from .exception import AgentCallError
from .message import Msg
from .app_stream import COMPLETED, AppStream, SpeakChunk
from .streaming import PipelineSpec, run_app

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def format_event(event: str, data: Any) -> str:
    """One SSE event; JSON never contains a raw newline, so one data line."""
    payload = json.dumps(data, ensure_ascii=False, default=_jsonable)
    return f"event: {event}\ndata: {payload}\n\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Msg):
        return value.to_dict()
    return str(value)


def _error_data(err: BaseException) -> dict:
    if isinstance(err, AgentCallError):
        return {"type": err.remote_type, "message": err.remote_message, "remote": True}
    return {"type": type(err).__name__, "message": str(err)}


def encode_item(item: Any) -> Iterator[str]:
    """The SSE events for one item of an app stream."""
    if isinstance(item, SpeakChunk):
        yield format_event("chunk", {"msg": item.msg.to_dict(), "last": item.last})
        if item.last:
            yield format_event("message", item.msg.to_dict())
    elif isinstance(item, Msg):
        yield format_event("message", item.to_dict())
    else:
        yield format_event("put", item)


class _Exhausted(Exception):
    """`next()` hit the end (StopIteration cannot cross into a future)."""


def _next(items: Iterator[Any]) -> Any:
    try:
        return next(items)
    except StopIteration:
        raise _Exhausted from None


async def app_events(spec: PipelineSpec, kwargs: dict) -> AsyncIterator[str]:
    """Run the app once; yield its stream as SSE text."""
    stream = AppStream(spec.chunks, spec.maxsize)
    items = run_app(spec.app, (), kwargs, stream, spec.timeout)
    try:
        while True:
            try:
                # abandon_on_cancel: a client leaving must not wait for the
                # next item; stream.cancel() below ends the waiting thread
                item = await anyio.to_thread.run_sync(_next, items, abandon_on_cancel=True)
            except _Exhausted:
                break
            except Exception as err:  # pylint: disable=broad-except
                yield format_event("error", _error_data(err))
                break
            for text in encode_item(item):
                yield text
        yield format_event("end", {"status": stream.status or COMPLETED})
    finally:
        if stream.status is None:  # the client went away: stop the app's work
            stream.cancel()
        try:
            items.close()
        except ValueError:
            pass  # still inside next() in an abandoned worker; it ends by itself now


class EventStreamResponse(StreamingResponse):
    """A streaming response that always watches for the client leaving.

    (Starlette's own only does so for ASGI spec < 2.4.)  Either way the body
    iterator is closed, so `app_events` cancels the app.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
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


def create_app(app_func: Callable, chunks: bool = True) -> Starlette:
    """A Starlette app serving `app_func`'s stream at `/stream` and a page at `/`.

    `app_func` is a plain app function or an `@pipeline`-decorated one (its
    `maxsize` and `timeout` are kept; `chunks` here decides the mode).
    """
    spec: Optional[PipelineSpec] = getattr(app_func, "__agentscope_pipeline__", None)
    if spec is None:
        spec = PipelineSpec(app_func, chunks, 256, None)
    else:
        spec = spec._replace(chunks=chunks)
    title = html.escape(getattr(spec.app, "__name__", "app"))

    async def stream(request: Request) -> EventStreamResponse:
        kwargs = dict(request.query_params)
        return EventStreamResponse(app_events(spec, kwargs), headers=_HEADERS)

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(_PAGE.replace("{title}", title))

    return Starlette(routes=[Route("/", index), Route("/stream", stream)])


def serve(app_func: Callable, host: str = "127.0.0.1", port: int = 8000, chunks: bool = True) -> None:
    """Serve `app_func` over HTTP until interrupted."""
    import uvicorn

    print(f"serving {getattr(app_func, '__name__', 'app')} on http://{host}:{port}/", flush=True)
    uvicorn.run(create_app(app_func, chunks), host=host, port=port, log_level="warning")


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
    parser = argparse.ArgumentParser(
        prog="python -m agentscope_rpc.sse",
        description="Serve an @pipeline app's stream as Server-Sent Events.",
    )
    parser.add_argument("target", help="module:function or path/to/file.py:function")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--messages", action="store_true", help="whole messages only (no chunk events)")
    args = parser.parse_args(argv)
    serve(load_app(args.target), args.host, args.port, chunks=not args.messages)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - agentscope-rpc</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; }
.line { white-space: pre-wrap; margin: .3em 0; }
.name { font-weight: bold; }
.open::after { content: " \\258D"; color: #999; }
.put { color: #555; font-family: monospace; }
.error { color: #b00; }
.end { color: #888; font-style: italic; }
</style></head>
<body><h1>{title}</h1><div id="log"></div>
<script>
const log = document.getElementById("log");
const lines = {};
function line(id, cls) {
  let el = id ? lines[id] : null;
  if (!el) {
    el = document.createElement("div");
    el.className = "line " + (cls || "");
    log.appendChild(el);
    if (id) lines[id] = el;
  }
  return el;
}
function show(msg, open) {
  const el = line(msg.id);
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = msg.name + ": ";
  const text = typeof msg.content === "string" ? msg.content : JSON.stringify(msg.content);
  el.replaceChildren(name, text);
  el.classList.toggle("open", open);
}
const source = new EventSource("stream" + location.search);
source.addEventListener("chunk", e => { const d = JSON.parse(e.data); show(d.msg, !d.last); });
source.addEventListener("message", e => show(JSON.parse(e.data), false));
source.addEventListener("put", e => { line(null, "put").textContent = "put " + e.data; });
source.addEventListener("error", e => {
  if (e.data) {
    const d = JSON.parse(e.data);
    line(null, "error").textContent = d.type + ": " + d.message;
  } else {
    source.close();  // connection lost: do not start the app again
  }
});
source.addEventListener("end", e => {
  line(null, "end").textContent = "[" + JSON.parse(e.data).status + "]";
  source.close();
});
</script></body></html>
"""

if __name__ == "__main__":
    main()
