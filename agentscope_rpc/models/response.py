"""`ModelResponse`: what a model wrapper returns.

A response is either complete (`text` known at once) or streamed: the backend
hands over an iterator of text deltas and `stream` turns it into the
AgentScope v0 shape, a generator of `(last, text_so_far)` tuples that
`AgentBase.speak` accepts directly.  A stream can be consumed once; reading
`.text` first consumes it silently.  `tool_calls` and `raw` are lists the
backend may fill while the stream is consumed, so read them after the text.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, Optional

log = logging.getLogger(__name__)


class ModelResponse:
    """Text, optional live stream, raw payload and tool calls of one model call."""

    def __init__(
        self,
        text: Optional[str] = None,
        stream: Optional[Iterator[str]] = None,
        raw: Any = None,
        tool_calls: Optional[list] = None,
    ) -> None:
        if text is not None and stream is not None:
            raise ValueError("a ModelResponse has either text or a stream, not both")
        self._text = text if text is not None else ""
        self._deltas = stream
        self._streamed = stream is not None
        self._lock = threading.Lock()  # guards the hand-over of the deltas
        self._done = threading.Event()  # set once the text is complete
        self._consumer: Optional[int] = None  # thread consuming the deltas
        if stream is None:
            self._done.set()
        self.raw = raw
        self.tool_calls: list = tool_calls if tool_calls is not None else []
        self.parsed: Any = None  # what a parser made of the text (AgentScope 0.1.6's field)
        self._callbacks: list = []

    @property
    def is_stream(self) -> bool:
        """True when the backend produced this response as a stream."""
        return self._streamed

    @property
    def text(self) -> str:
        """The full text; for a stream not yet consumed, consumes it."""
        if not self._done.is_set():
            for _ in self._chunks():
                pass
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        """Replace the text (parsers repair it, as in AgentScope 0.1.6)."""
        if not self._done.is_set():
            for _ in self._chunks():
                pass
        self._text = "" if value is None else str(value)

    def add_done_callback(self, func: Any) -> None:
        """Call `func(response)` once the text is complete (at once if it is)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(func)
                return
        func(self)

    def _finish(self) -> None:
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for func in callbacks:
            try:
                func(self)
            except Exception:  # pylint: disable=broad-except
                log.exception("a model response callback failed")

    @property
    def stream(self) -> Optional[Iterator[tuple[bool, str]]]:
        """A generator of `(last, text_so_far)`, or None when not streaming.

        Every chunk is handed over as soon as the backend produces it, so the
        stream ends with one closing tuple `(True, full_text)` repeating the
        text of the chunk before it.  When the stream was already consumed,
        the generator yields `(True, full_text)` only.
        """
        if not self._streamed:
            return None
        return self._chunks()

    def _chunks(self) -> Iterator[tuple[bool, str]]:
        with self._lock:
            deltas, self._deltas = self._deltas, None
            if deltas is not None:
                self._consumer = threading.get_ident()
        if deltas is None:  # consumed (or being consumed) by someone else
            if not self._done.is_set():
                if self._consumer == threading.get_ident():
                    raise RuntimeError("this response's stream is already being consumed")
                self._done.wait()  # another thread is consuming it
            yield True, self._text
            return
        text = ""
        try:
            for delta in deltas:
                if delta:  # each chunk goes out at once: no look-ahead latency
                    text += delta
                    self._text = text
                    yield False, text
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()  # releases the backend (model lock, HTTP stream)
            self._finish()
        yield True, text  # the closing event: same text, `last` set

    def __repr__(self) -> str:
        state = f"text={self._text!r:.80}" if self._done.is_set() else "stream"
        return f"ModelResponse({state}, tool_calls={len(self.tool_calls)})"


def merge_tool_call_deltas(tool_calls: list, deltas: Optional[list]) -> None:
    """Accumulate streamed OpenAI-style tool-call deltas into `tool_calls`.

    Deltas carry an `index`; the first delta of a call brings its `id`,
    `type` and function `name`, later ones append to `function.arguments`.
    """
    for delta in deltas or ():
        index = delta.get("index", len(tool_calls))
        while len(tool_calls) <= index:
            tool_calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call = tool_calls[index]
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function") or {}
        if function.get("name") and not call["function"]["name"]:
            call["function"]["name"] = function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]


__all__ = ["ModelResponse", "merge_tool_call_deltas"]
