"""The terminal: the console printer, `console.print()` and a logging handler.

`ConsolePrinter` prints speak events as they grow, one line per message, in
the speaker's colour (12 distinct colours, assigned in order of first
appearance), wrapped at the terminal's width without ever cutting a word.
Events are `speech.SpeakEvent`s, read duck-typed (this module imports
nothing of the speech layer); `show_event` takes the live events of an app
stream (`live_events`: chunk, message, put, tool_call, tool_result, error,
end) the same way, so a game, a transcript replay and a page all share one
vocabulary.  A tool event is one dim line (`⚙ Assistant calls f(x=1)…`,
`⚙ f → result`); when its message is the open line, it appears right there,
and the message goes on after its speaker's name on the next line.  While one
message's line is open, chunks of other messages are held (latest snapshot
only, so memory stays bounded) and printed when the open line ends, so two
agents' partial lines never interleave.  `heading(title)` prints a blank
line and a phase heading.

The console owns the terminal.  A terminal is process-wide, so whether a line
is open, and at which column, is kept here at module level, per output
stream -- two streams on one terminal device (stdout and stderr on a tty)
share it.  `print()` (this module's) and `ConsoleLogHandler` write on a line
of their own even while a streamed line is open; the streamed line then
continues after its speaker's name again.  Hooks that want to print should
use `agentscope_rpc.console.print`; `route_logging()` moves the root
logger's terminal handlers onto the console.

Colour: `color="auto"` (a tty, and no `NO_COLOR` in the environment;
`FORCE_COLOR` forces it), `"always"` or `"never"`.
"""
from __future__ import annotations

import builtins
import itertools
import json
import shutil
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Optional, TextIO

from ._terminal import ConsoleLogHandler, colour_wanted, line_state as _line, print, route_logging
from .message import content_text
from .tools.events import describe_call

COLOURS = (
    "\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[31m",
    "\033[96m", "\033[93m", "\033[92m", "\033[95m", "\033[94m", "\033[91m",
)
"""The ANSI colours speakers' names are printed in: each new speaker takes the next one
(cycling), so one agent keeps its colour for the whole run."""
STYLES = {"bold": "\033[1m", "dim": "\033[2m", "underline": "\033[4m"}
RESET = "\033[0m"
HEADING_STYLE = "\033[1;4m"


class _View:
    """The accumulated message of a live chunk event, as the printer reads it."""

    __slots__ = ("id", "name", "content")

    def __init__(self, msg_id: str, name: str, content: str) -> None:
        self.id, self.name, self.content = msg_id, name, content


class _Chunk:
    """A speak event rebuilt from a live event (same attributes the printer reads)."""

    __slots__ = ("msg", "delta", "stream", "last", "seq", "error")

    def __init__(self, msg: _View, delta: Optional[str], stream: bool, last: bool, seq: int) -> None:
        self.msg, self.delta, self.stream, self.last, self.seq, self.error = msg, delta, stream, last, seq, None


class ConsolePrinter:
    """Prints speak events (and live events) to a text stream without interleaving lines.

    `out`: the stream (default: sys.stdout at each write).  `color`: "auto",
    "always" or "never" (`colour=True/False` is the older spelling).
    `width`: wrap column (None: the terminal's width on a tty, no wrapping
    elsewhere; 0: never wrap).  `styles`: `{name: "bold" | ANSI code}` for
    speakers that should not take a colour from the palette.
    """

    def __init__(
        self,
        out: Optional[TextIO] = None,
        colour: Optional[bool] = None,
        color: str = "auto",
        width: Optional[int] = None,
        styles: Optional[dict] = None,
    ) -> None:
        self._out = out
        if colour is None:
            colour = colour_wanted(out or sys.stdout, color)
        self._colour = bool(colour)
        self._width = width
        self._styles = {name: STYLES.get(style, style) for name, style in (styles or {}).items()}
        self._lock = threading.RLock()
        self._open_id: Optional[str] = None
        self._open_name = ""
        self._printed: Optional[str] = ""
        self._held: "OrderedDict[Any, Any]" = OrderedDict()
        self._colour_of: dict = {}
        self._word = ""  # the unfinished word at the end of the open line (held for wrapping)
        self._fresh = True
        self._space = ""  # spaces before it, written only if the next word fits
        self._texts: dict = {}  # live events: msg id -> text so far
        self._chunked: set = set()  # live events: ids whose chunks were shown
        self._keys = itertools.count()  # unique keys of held tool lines (and of split held snapshots)

    @property
    def out(self) -> TextIO:
        """The stream written to."""
        return self._out or sys.stdout

    def width(self) -> int:
        """The wrap column now (0: no wrapping)."""
        if self._width is not None:
            return max(0, self._width)
        try:
            return shutil.get_terminal_size().columns if self.out.isatty() else 0
        except (AttributeError, OSError, ValueError):
            return 0

    def colour_of(self, name: str) -> str:
        """The ANSI style of a speaker ('' without colour)."""
        if not self._colour:
            return ""
        if name in self._styles:
            return self._styles[name]
        return self._colour_of.setdefault(name, COLOURS[len(self._colour_of) % len(COLOURS)])

    def _prefix(self, name: str) -> str:
        style = self.colour_of(name)
        return f"{style}{name}{RESET}: " if style else f"{name}: "

    # -- speak events ----------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        """Show one speak event (called by the runtime for unclaimed speech)."""
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

    @staticmethod
    def _ended(event: Any) -> bool:
        return event.last or not event.stream or event.error is not None

    def _show(self, event: Any) -> None:
        msg = event.msg
        if self._open_id is None:
            self._begin(msg.id, msg.name)
        delta = event.delta
        if delta is not None and self._printed is None:
            self._text(delta)  # the line so far is known to be this message's deltas
        elif delta is not None and self._printed == "" and event.seq == 0:
            self._text(delta)
            self._printed = None
        else:  # a snapshot: print what is new, or the whole line again if it was rewritten
            text = content_text(msg.content)
            if self._printed is not None and text.startswith(self._printed):
                self._text(text[len(self._printed):])
            else:
                self._break()
                self._begin(msg.id, msg.name)
                self._text(text)
            self._printed = text
        if event.error is not None:
            self._text(f"  [error: {type(event.error).__name__}]")
        if self._ended(event):
            self._break()

    def _begin(self, msg_id: str, name: str) -> None:
        line = _line(self.out)
        with line.lock:
            if line.column:
                self.out.write("\n")
            prefix = self._prefix(name)
            self.out.write(prefix)
            line.column = len(name) + 2
            line.owner = (self, msg_id)
        self._open_id, self._open_name, self._printed = msg_id, name, ""
        self._word = self._space = ""
        self._fresh = True  # nothing written after the name yet: leading spaces are dropped

    def _text(self, text: str) -> None:
        """Write `text` on the open line, wrapping between words."""
        if not text:
            return
        line = _line(self.out)
        with line.lock:
            if line.owner != (self, self._open_id):  # someone printed in between: continue after the name
                if line.column:
                    self.out.write("\n")
                self.out.write(self._prefix(self._open_name))
                line.column = len(self._open_name) + 2
                line.owner = (self, self._open_id)
                self._space, self._fresh = "", True
            pending = self._word + text
            self._word = ""
            parts = _split_words(pending)
            if parts and not parts[-1].isspace():
                self._word = parts.pop()  # may continue in the next delta
            for part in parts:
                self._part(line, part)

    def _part(self, line: _Line, part: str) -> None:
        out = self.out
        indent = min(len(self._open_name) + 2, 16)
        if part.isspace():
            if "\n" in part:
                out.write("\n" + " " * indent)
                line.column, self._space, self._fresh = indent, "", True
            elif not self._fresh:
                self._space += part
            return
        width = self.width()
        if width and line.column > indent and line.column + len(self._space) + len(part) > width:
            out.write("\n" + " " * indent)
            line.column = indent
        else:
            out.write(self._space)
            line.column += len(self._space)
        self._space, self._fresh = "", False
        out.write(part)
        line.column += len(part)

    def _break(self) -> None:
        """End the open line."""
        line = _line(self.out)
        with line.lock:
            if self._word:
                word, self._word = self._word, ""
                self._part(line, word)
            self.out.write("\n")
            line.column, line.owner = 0, None
        self._open_id, self._printed, self._space = None, "", ""

    def _drain(self) -> None:
        """Show held items in order; while a line is open, only those of its message (tool lines, parts)."""
        while self._held:
            if self._open_id is None:
                key, item = self._held.popitem(last=False)
            else:
                mine = ("of", self._open_id)  # a held part or tool line of the open message
                key = next((k for k in self._held if k == self._open_id or (isinstance(k, tuple) and k[:2] == mine)),
                           None)
                if key is None:
                    return
                item = self._held.pop(key)
            if callable(item) and not hasattr(item, "msg"):
                item()
            else:
                self._show(item)
                if isinstance(key, tuple) and self._open_id == item.msg.id and self._printed is None:
                    self._printed = content_text(item.msg.content)  # a part: more snapshots of it follow

    def _when_free(self, key: Any, func: Callable[[], None]) -> None:
        """Run `func` now, or once the open line ended (in order with held speech)."""
        with self._lock:
            if self._open_id is None:
                func()
            else:
                self._held[key] = func
            self.out.flush()

    # -- lines of their own ------------------------------------------------------------
    def print(self, *args: Any, file: Optional[TextIO] = None) -> None:
        """`console.print` to this printer's stream (or `file`)."""
        print(*args, file=file if file is not None else self.out)

    def heading(self, title: str) -> None:
        """A blank line and a phase heading, after any line still being spoken."""
        def write() -> None:
            text = f"== {title} =="
            print("\n" + (f"{HEADING_STYLE}{text}{RESET}" if self._colour else text), file=self.out)

        self._when_free(("heading", object()), write)

    # -- live events (live_events.py, read duck-typed) ---------------------------------
    def show_event(self, event: Any) -> None:
        """Show one live event of an app stream or a transcript."""
        kind = getattr(event, "type", None)
        if kind == "chunk":
            text = event.text if event.delta is None else self._texts.get(event.id, "") + event.delta
            if event.last:
                self._texts.pop(event.id, None)
            else:
                self._texts[event.id] = text
            self._chunked.add(event.id)
            self(_Chunk(_View(event.id, event.name, text), event.delta, True, event.last, event.seq))
        elif kind == "message":
            msg = event.msg
            if msg.get("id") in self._chunked:
                self._chunked.discard(msg.get("id"))
                return
            text = _labelled(msg)
            self(_Chunk(_View(msg.get("id", ""), msg.get("name", ""), text), text, False, True, 0))
        elif kind == "put":
            self._when_free(("put", object()), lambda: self._show_data(event.data))
        elif kind in ("tool_call", "tool_result"):  # one dim line, inside its message's open line
            data = event.data if isinstance(event.data, dict) else {}
            text = _tool_text(data, kind)
            self._tool_line(str(data.get("msg_id") or ""), f"{STYLES['dim']}{text}{RESET}" if self._colour else text)
        elif kind == "error":
            self._when_free(("error", object()), lambda: print(f"[error: {event.error_type}: {event.message}]",
                                                               file=self.out))
        elif kind == "end" and event.status != "completed":
            self._when_free(("end", object()), lambda: print(f"[stream ended: {event.status}]", file=self.out))

    def _tool_line(self, msg_id: str, text: str) -> None:
        """A tool line: now inside its message's open line, or once another open line ended."""
        with self._lock:
            if msg_id and self._open_id == msg_id:
                self._aside(text)
            elif self._open_id is None:
                print(text, file=self.out)
            else:  # another message's line is open: after it, in order with this message's held speech
                if msg_id and msg_id in self._held:  # what was held so far comes before the tool line
                    part = ("of", msg_id, next(self._keys))
                    self._held = OrderedDict((part if k == msg_id else k, v) for k, v in self._held.items())
                self._held[("of", msg_id, next(self._keys))] = lambda: self._tool_line(msg_id, text)
            self.out.flush()

    def _aside(self, text: str) -> None:
        """A line of its own inside the open message; its next text goes on after the name again."""
        line = _line(self.out)
        with line.lock:
            if self._word and line.owner == (self, self._open_id):
                word, self._word = self._word, ""
                self._part(line, word)
            if line.column:
                self.out.write("\n")
            self.out.write(text + "\n")
            line.column, line.owner = 0, None
        self._space = ""

    def _show_data(self, data: Any) -> None:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "phase":
            self.heading(str(data.get("title", "")))
        elif kind == "cast":
            players = ", ".join(f"{p.get('name')} ({p.get('badge')})" for p in data.get("players", []))
            print(f"{data.get('title', 'Players')}: {players}", file=self.out)
        elif kind == "result":
            print("\n" + str(data.get("title", "")), file=self.out)
        else:
            print(json.dumps(data, ensure_ascii=False, default=str), file=self.out)


def _labelled(msg: dict) -> str:
    """A message's text; a player's line on a private channel says so."""
    text = content_text(msg.get("content"))
    narration = (msg.get("metadata") or {}).get("narration") if isinstance(msg.get("metadata"), dict) else None
    if isinstance(narration, dict) and narration.get("channel") and not text.startswith("("):
        return f"({narration['channel']} only) {text}"
    return text


def _tool_text(data: dict, kind: str) -> str:
    """`  ⚙ Assistant calls f(x=1)…`, `  ⚙ f → result` or `  ⚙ f failed: why` (one line, cut)."""
    tool = str(data.get("tool", "?"))
    if kind == "tool_call":
        described = _one_line(describe_call(tool, data.get("arguments", {})), 160)
        return f"  ⚙ {data.get('agent', '?')} calls {described}…"
    if data.get("ok", True):
        content = data.get("content", "")
        return f"  ⚙ {tool} → {_one_line(content if isinstance(content, str) else json.dumps(content), 100)}"
    return f"  ⚙ {tool} failed: {_one_line(str(data.get('error') or data.get('content') or 'error'), 100)}"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _split_words(text: str) -> list:
    """Alternating runs of whitespace and non-whitespace."""
    parts: list = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or text[i].isspace() != text[start].isspace():
            parts.append(text[start:i])
            start = i
    return parts


__all__ = ["ConsolePrinter", "ConsoleLogHandler", "print", "route_logging", "colour_wanted", "COLOURS"]
_builtin_print = builtins.print  # the shadowed built-in, for anyone who needs it
