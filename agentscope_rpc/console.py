"""The terminal printer: one per process, per-agent colour, whole lines.

Streamed messages print as they grow.  Events are `speech.SpeakEvent`s
(read duck-typed: this module imports nothing of the speech layer).  While one message's line is open,
chunks of other messages are held (latest snapshot only, so memory stays
bounded) and printed when the open line ends, so two agents' partial lines
never interleave.
"""
from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from typing import Any, Optional, TextIO

from .message import content_text

_COLOURS = ("\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m")
_RESET = "\033[0m"


class ConsolePrinter:
    """Prints speak events to a text stream without interleaving lines."""

    def __init__(self, out: Optional[TextIO] = None, colour: Optional[bool] = None):
        self._out = out
        if colour is None:
            stream = out or sys.stdout
            colour = bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")
        self._colour = colour
        self._lock = threading.RLock()
        self._open_id: Optional[str] = None
        self._printed: Optional[str] = ""
        self._held: "OrderedDict[str, Any]" = OrderedDict()
        self._colour_of: dict[str, str] = {}

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def _prefix(self, name: str) -> str:
        if not self._colour:
            return f"{name}: "
        colour = self._colour_of.setdefault(
            name,
            _COLOURS[len(self._colour_of) % len(_COLOURS)],
        )
        return f"{colour}{name}{_RESET}: "

    def __call__(self, event: Any) -> None:
        with self._lock:
            msg_id = event.msg.id
            if self._open_id is None or self._open_id == msg_id:
                self._show(event)
                if self._open_id is None:
                    self._drain()
            else:
                self._held[msg_id] = event
                self._held.move_to_end(msg_id)
            self.out.flush()

    def _ended(self, event: Any) -> bool:
        return event.last or not event.stream or event.error is not None

    def _show(self, event: Any) -> None:
        out = self.out
        msg = event.msg
        if self._open_id is None:
            out.write(self._prefix(msg.name))
            self._printed = ""
            self._open_id = msg.id
        delta = event.delta
        if delta is not None and self._printed is None:
            out.write(delta)  # the line so far is known to be this message's deltas
        elif delta is not None and self._printed == "" and event.seq == 0:
            out.write(delta)
            self._printed = None
        else:  # a snapshot: print what is new, or the whole line again if it was rewritten
            text = content_text(msg.content)
            if self._printed is not None and text.startswith(self._printed):
                out.write(text[len(self._printed):])
            else:
                out.write("\n" + self._prefix(msg.name) + text)
            self._printed = text
        if event.error is not None:
            out.write(f"  [error: {type(event.error).__name__}]")
        if self._ended(event):
            out.write("\n")
            self._open_id = None
            self._printed = ""

    def _drain(self) -> None:
        while self._open_id is None and self._held:
            _, event = self._held.popitem(last=False)
            self._show(event)
