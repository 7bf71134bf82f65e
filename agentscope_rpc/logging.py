"""Logging as AgentScope 0.1.6 programs use it: `log_msg`, `logger.chat`, run files.

    from agentscope_rpc.logging import log_msg
    log_msg(Msg("Moderator", "Night falls.", "assistant"))   # terminal + logging.chat

Messages go to the terminal through the runtime's console printer, and log
records through `console.ConsoleLogHandler` (so neither lands inside a line
being streamed).  When `init(save_log=True)` opened a run directory, both also
go into its files:

* `logging.log`  — log records and one `name: content` line per message;
* `logging.chat` — one JSON object (`Msg.to_dict()`) per message.

Every message spoken in this process (local agents, and remote agents'
speech relayed here) is recorded once it is complete, as are `log_msg`,
`Msg(..., echo=True)` and loguru's `logger.chat(msg)` — loguru stays
optional: when it is installed, `setup_logger` gives its logger the `chat`
method and routes its output through the console.

(This module is `agentscope_rpc.logging`; inside it, `import logging` is the
standard library's.)
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, Callable, Literal, Optional

from . import runtime, speech
from .console import ConsoleLogHandler, print as console_print, route_logging
from .message import Msg, set_echo_handler

LOG_LEVEL = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
"""The level names `init(logger_level=...)` and `setup_logger` accept (loguru's, as in
AgentScope 0.1.6); with the standard `logging` module TRACE counts as DEBUG and SUCCESS as
INFO.  Any other name raises `ValueError`."""
_STD_LEVELS = {"TRACE": logging.DEBUG, "SUCCESS": logging.INFO}
LOG_FORMAT = "%(asctime)s | %(levelname)-8s | %(name)s - %(message)s"


def std_level(level: Any) -> int:
    """A v0/loguru level name (or a stdlib level) as a stdlib logging level."""
    if isinstance(level, int):
        return level
    name = str(level).upper()
    if name in _STD_LEVELS:
        return _STD_LEVELS[name]
    value = logging.getLevelName(name)
    if not isinstance(value, int):
        raise ValueError(f"unknown logger level {level!r}; expected one of {LOG_LEVEL.__args__}")
    return value


class RunRecorder:
    """The files of one run directory: `logging.log` and `logging.chat`."""

    def __init__(self, run_dir: str, level: int = logging.INFO) -> None:
        os.makedirs(run_dir, exist_ok=True)
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self.log_handler = logging.FileHandler(os.path.join(run_dir, "logging.log"), encoding="utf-8")
        self.log_handler.setLevel(level)
        self.log_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self._chat = open(os.path.join(run_dir, "logging.chat"), "a", encoding="utf-8")  # pylint: disable=consider-using-with

    def record(self, msg: Msg) -> None:
        """Append one finished message to both files."""
        line = json.dumps(msg.to_dict(), ensure_ascii=False, default=str)
        with self._lock:
            if self._chat.closed:
                return
            self._chat.write(line + "\n")
            self._chat.flush()
        self.write_line(msg.formatted_str())

    def write_line(self, text: str) -> None:
        """Append a line of text to `logging.log` (never inside another record's line)."""
        stream = self.log_handler.stream
        if stream is not None:
            with self.log_handler.lock:  # the handler's own lock: log lines never interleave
                stream.write(text if text.endswith("\n") else text + "\n")
                stream.flush()

    def close(self) -> None:
        """Close both files."""
        with self._lock:
            self._chat.close()
        self.log_handler.close()


class RecordingPrinter:
    """A console printer that also records each finished message (`RunRecorder`)."""

    def __init__(self, printer: Optional[Callable[[Any], None]], recorder: RunRecorder) -> None:
        self.printer = printer
        self.recorder = recorder

    def __call__(self, event: Any) -> None:
        """Print `event` (if there is a printer) and record its message once it is complete."""
        if self.printer is not None:
            self.printer(event)
        if event.ended and event.error is None:
            self.recorder.record(event.msg)

    def __getattr__(self, name: str) -> Any:  # the wrapped printer's other methods
        printer = self.__dict__.get("printer")
        if printer is None:
            raise AttributeError(name)
        return getattr(printer, name)


def log_msg(msg: Msg) -> None:
    """Print `msg` on the terminal (as one whole message) and record it in the run's files."""
    if not isinstance(msg, Msg):
        raise TypeError(f"log_msg() takes a Msg, not {type(msg).__name__}")
    runtime.current().show(speech.SpeakEvent(msg, False, True, 0, "", delta=None))


def log_stream_msg(msg: Msg, last: bool = True) -> None:
    """Print one chunk of a streamed message (`msg` holds the text so far); recorded when `last`."""
    if not isinstance(msg, Msg):
        raise TypeError(f"log_stream_msg() takes a Msg, not {type(msg).__name__}")
    runtime.current().show(speech.SpeakEvent(msg, True, last, 0, "", delta=None))


def current_recorder() -> Optional[RunRecorder]:
    """The run recorder `setup_logger` opened in this process, if any."""
    printer = runtime.default().printer
    return printer.recorder if isinstance(printer, RecordingPrinter) else None


def _console_handler(level: int) -> logging.Handler:
    handler = ConsoleLogHandler(sys.stderr, level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.set_name("agentscope_rpc.console")
    return handler


def _setup_loguru(level: LOG_LEVEL, recorder: Optional[RunRecorder]) -> bool:
    """Give loguru's logger `chat` and route its lines; False when loguru is not installed."""
    try:
        from loguru import logger  # optional dependency
    except ImportError:
        return False
    name = str(level).upper()
    logger.remove()
    logger.add(lambda text: console_print(text, end="", file=sys.stderr), level=name, colorize=False)
    if recorder is not None:
        logger.add(recorder.write_line, level=name, colorize=False)
    logger.chat = log_msg  # what 0.1.6 programs call: logger.chat(msg)
    return True


def _route_root(level: int) -> None:
    """Terminal log lines go through the console (on lines of their own)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() in ("agentscope_rpc.console", "agentscope_rpc.run"):
            root.removeHandler(handler)
            handler.close()
    if root.handlers:
        route_logging(root)  # the user's own stream handlers, kept but routed
    else:
        root.addHandler(_console_handler(level))


def setup_logger(path_log: Optional[str] = None, level: LOG_LEVEL = "INFO") -> Optional[RunRecorder]:
    """Configure logging for a run (AgentScope 0.1.6's function; `init()` calls it).

    Log records of level `level` and up go to the terminal through the
    console; with `path_log`, they and every finished message also go to
    `path_log/logging.log`, and the messages to `path_log/logging.chat`.
    Returns the run recorder (None without `path_log`).
    """
    std = std_level(level)
    root = logging.getLogger()
    root.setLevel(std)
    _route_root(std)
    rt = runtime.default()
    printer = rt.printer
    if isinstance(printer, RecordingPrinter):
        printer.recorder.close()
        printer = printer.printer
    recorder = None
    if path_log is not None:
        recorder = RunRecorder(path_log, std)
        recorder.log_handler.set_name("agentscope_rpc.run")
        root.addHandler(recorder.log_handler)
        printer = RecordingPrinter(printer, recorder)
    rt.set_printer(printer)
    _setup_loguru(level, recorder)
    return recorder


set_echo_handler(log_msg)

__all__ = [
    "LOG_LEVEL",
    "RunRecorder",
    "RecordingPrinter",
    "current_recorder",
    "log_msg",
    "log_stream_msg",
    "setup_logger",
    "std_level",
]
