"""Orchestrator side of the speak relay.

Chunks arrive as deltas; `SpeakAssembler` rebuilds the accumulated `Msg`
(same id, growing content), runs the hooks of the proxy that stands for the
speaking agent (object and class level, in this process) and publishes the
event to the sinks captured when the call was made.

Everything runs on one dispatcher thread, in arrival order: user hooks never
run on the event loop and never run concurrently, and a stream is read no
faster than its events are delivered (backpressure reaches the server
through gRPC flow control).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import weakref
from typing import Any, Callable, Iterable, Optional

from .. import runtime, speech
from ..agents.hooks import run_post_speak, run_pre_speak
from ..exception import StreamCancelledError
from ..message import Msg

_dispatcher = concurrent.futures.ThreadPoolExecutor(
    max_workers=1,
    thread_name_prefix="agentscope-rpc-dispatch",
)

# agent id -> the live proxy in this process whose hooks see that agent's speech
_proxies: "weakref.WeakValueDictionary[str, Any]" = weakref.WeakValueDictionary()


def register_proxy(agent_id: str, proxy: Any) -> None:
    _proxies[agent_id] = proxy


def proxy_for(agent_id: str) -> Optional[Any]:
    return _proxies.get(agent_id)


async def dispatch(func: Callable[..., Any], *args: Any) -> Any:
    """Run `func` on the dispatcher thread, in submission order."""
    return await asyncio.get_running_loop().run_in_executor(_dispatcher, func, *args)


class RemoteSpeakError(Exception):
    """Stands for an exception raised by a remote speak generator."""


class SpeakAssembler:
    """Rebuilds accumulated messages from the delta chunks of one call."""

    def __init__(self, sinks: tuple) -> None:
        self._sinks = sinks
        # msg id -> [text so far, last seq, agent id, name, role]
        self._open: dict[str, list] = {}

    def open_messages(self) -> list[str]:
        return list(self._open)

    def feed(self, chunks: Iterable[Any]) -> None:
        for chunk in chunks:
            self._feed_one(chunk)

    def _feed_one(self, chunk: Any) -> None:
        msg_id = chunk.msg_id
        state = self._open.get(msg_id)
        if state is not None and chunk.seq <= state[1]:
            return  # duplicate: never deliver a chunk twice
        text = chunk.delta if chunk.replace or state is None else state[0] + chunk.delta
        content: Any = json.loads(chunk.content_json) if chunk.content_json else text
        metadata = json.loads(chunk.metadata_json) if chunk.metadata_json else None
        msg = Msg(chunk.name, content, chunk.role or "assistant", metadata=metadata, id=msg_id)
        error = RemoteSpeakError(chunk.error_type) if chunk.error_type else None
        if chunk.last or not chunk.stream or error is not None:
            self._open.pop(msg_id, None)
            self._deliver(msg, chunk.stream, chunk.last, chunk.seq, chunk.agent_id, error, True)
        else:
            self._open[msg_id] = [text, chunk.seq, chunk.agent_id, chunk.name, chunk.role]
            self._deliver(msg, chunk.stream, False, chunk.seq, chunk.agent_id, None, False)

    def _deliver(
        self,
        msg: Msg,
        stream: bool,
        last: bool,
        seq: int,
        agent_id: str,
        error: Optional[BaseException],
        done: bool,
    ) -> None:
        owner = proxy_for(agent_id)
        shown = msg
        if owner is not None and error is None:
            shown = run_pre_speak(owner, msg, stream, last)
        try:
            event = speech.SpeakEvent(shown, stream, last, seq, agent_id, error)
            if not speech.publish(event, self._sinks):
                runtime.default().show(event)
        except StreamCancelledError:
            pass  # the consumer is gone (the call is being cancelled with it)
        if done and owner is not None:
            run_post_speak(owner)

    def abort(self, error: Optional[BaseException]) -> None:
        """The stream ended while messages were open: end each with an error."""
        for msg_id, (text, seq, agent_id, name, role) in list(self._open.items()):
            del self._open[msg_id]
            msg = Msg(name, text, role or "assistant", id=msg_id)
            self._deliver(msg, True, False, seq, agent_id, error or RemoteSpeakError("stream ended"), True)


def _put(obj: Any, sinks: tuple) -> None:
    if not speech.put_object(obj, sinks):
        runtime.default().runtime_stream_writer().put(obj)


def _stop(sinks: tuple) -> None:
    if not speech.stop_streams(sinks):
        runtime.default().runtime_stream_writer().stop_stream()


def _same(value: Any) -> Any:
    return value


class CallEvents:
    """What one call's events do in this process, whichever stream carries them.

    Speech goes through the dispatcher (hooks, sinks); the result fulfils the
    placeholder only after the speech before it was delivered.
    """

    def __init__(self, placeholder: Any, sinks: tuple, on_result: Optional[Callable[[Any], Any]], agent_id: str):
        self.placeholder = placeholder
        self.sinks = sinks
        self.on_result = on_result
        self.agent_id = agent_id
        self.assembler: Optional[SpeakAssembler] = None

    async def handle(self, event: Any) -> bool:
        """Act on one CallEvent; True once the call is settled."""
        from . import codec  # codec imports the generated modules; keep this module light

        kind = event.WhichOneof("event")
        if kind == "speak":
            if self.assembler is None:
                self.assembler = SpeakAssembler(self.sinks)
            await dispatch(self.assembler.feed, event.speak.chunks)
        elif kind == "put":
            await dispatch(_put, codec.decode(event.put), self.sinks)
        elif kind == "stop":
            await dispatch(_stop, self.sinks)
        elif kind == "result":
            value = codec.decode(event.result)
            if self.on_result is not None or self.assembler is not None:
                value = await dispatch(self.on_result or _same, value)
            self.placeholder._set_result(value)
            return True
        elif kind == "error":
            self.placeholder._set_exception(codec.error_from_pb(event.error, self.agent_id))
            return True
        return False

    async def close(self) -> None:
        """End messages left open (the stream broke off) with the call's error."""
        if self.assembler is not None and self.assembler.open_messages():
            done = self.placeholder.done()
            await dispatch(self.assembler.abort, self.placeholder.exception(0) if done else None)
