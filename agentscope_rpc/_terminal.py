"""The terminal's shared line state, `print()` and the logging handler (see `console`).

A terminal is process-wide, so whether a line is open, and at which column,
is kept here at module level, per output stream -- two streams on one
terminal device (stdout and stderr on a tty) share it.  `print()` and
`ConsoleLogHandler` write on a line of their own even while a streamed line
is open; `console.ConsolePrinter` then continues that line after its
speaker's name again.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from typing import Any, Optional, TextIO

class _Line:
    """What is on the current line of one terminal (or one plain stream)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.column = 0
        self.owner: Any = None  # (printer, msg id) whose text the line ends with


_BY_DEVICE: dict = {}
_BY_STREAM: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_STATE_LOCK = threading.Lock()


def line_state(out: TextIO) -> _Line:
    """The shared line state of `out` (one per terminal device, else per stream)."""
    device = None
    try:
        if out.isatty():
            device = os.fstat(out.fileno()).st_rdev
    except (AttributeError, OSError, ValueError):
        device = None
    with _STATE_LOCK:
        if device is not None:
            return _BY_DEVICE.setdefault(device, _Line())
        try:
            return _BY_STREAM.setdefault(out, _Line())
        except TypeError:  # a stream that takes no weak reference
            return _BY_DEVICE.setdefault(("id", id(out)), _Line())


def print(*args: Any, sep: str = " ", end: str = "\n", file: Optional[TextIO] = None, flush: bool = True) -> None:
    """Like the built-in `print`, but on a line of its own while a streamed line is open.

    Use it from hooks and app code that share the terminal with live speech.
    """
    out = file if file is not None else sys.stdout
    line = line_state(out)
    text = sep.join(str(a) for a in args) + end
    with line.lock:
        if line.column:
            out.write("\n")
        out.write(text)
        line.column = len(text) - (text.rfind("\n") + 1)
        line.owner = None
        if flush:
            out.flush()


class ConsoleLogHandler(logging.Handler):
    """A logging handler that writes through `console.print` (never into a streamed line)."""

    def __init__(self, stream: Optional[TextIO] = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record and print it on a line of its own."""
        try:
            print(self.format(record), file=self.stream if self.stream is not None else sys.stderr)
        except Exception:  # pylint: disable=broad-except
            self.handleError(record)


def route_logging(logger: Optional[logging.Logger] = None) -> None:
    """Replace `logger`'s (default: root's) stdout/stderr handlers by `ConsoleLogHandler`s.

    Level and formatter are kept; calling it twice changes nothing more.
    """
    logger = logger or logging.getLogger()
    for handler in list(logger.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                and getattr(handler, "stream", None) in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            routed = ConsoleLogHandler(handler.stream, handler.level)
            routed.setFormatter(handler.formatter)
            logger.removeHandler(handler)
            logger.addHandler(routed)


def colour_wanted(out: TextIO, color: str = "auto") -> bool:
    """Whether to colour `out`: "always", "never" or "auto" (tty, NO_COLOR, FORCE_COLOR)."""
    if color not in ("auto", "always", "never"):
        raise ValueError(f"color must be auto, always or never, not {color!r}")
    if color != "auto":
        return color == "always"
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(getattr(out, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


__all__ = ["print", "ConsoleLogHandler", "route_logging", "colour_wanted", "line_state"]
