"""Transcripts: every live event of an app stream as JSON lines, and replay.

    {"t": 0.412, "event": "chunk", "data": {"id": "...", "name": "Alice", "delta": " I", ...}}

one line per event (`live_events` for the types), `t` in seconds since the
transcript began.  `record(items, path)` writes a stream while passing it
on; `read_transcript(path)` yields `(t, event)` back; `replay_to_terminal`
prints it as the live run did, and `agentscope_rpc.sse` serves it to the
page (`python -m agentscope_rpc.sse --replay FILE`).

    python -m agentscope_rpc.transcript FILE [--speed 2] [--color always]

A line that is not a valid event stops reading with a `TranscriptError`
naming the file and line (nothing before it is lost).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

from . import live_events
from .exception import AgentScopeRpcError


class TranscriptError(AgentScopeRpcError, ValueError):
    """A transcript file that cannot be read as events."""


class TranscriptWriter:
    """Appends events to a JSON-lines file, flushed per line (a crash keeps what was written)."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self._file = self.path.open("w", encoding="utf-8")
        self._start = time.monotonic()
        self._lock = threading.Lock()

    def write(self, event: Any) -> None:
        """Record one live event."""
        line = live_events.to_json({"t": round(time.monotonic() - self._start, 3), "event": event.type,
                                    "data": event.to_data()})
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file (later writes are dropped)."""
        with self._lock:
            self._file.close()

    def __enter__(self) -> "TranscriptWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def record(items: Iterable[Any], path: Union[str, Path]) -> Iterator[Any]:
    """Pass an app stream's items through, writing their live events to `path`.

    The stream's end (or its error, re-raised) is recorded too.
    """
    encoder = live_events.EventEncoder()
    with TranscriptWriter(path) as writer:
        status, error = "completed", None
        try:
            for item in items:
                for event in encoder.encode(item):
                    writer.write(event)
                yield item
        except GeneratorExit:
            status = "cancelled"
            raise
        except BaseException as err:
            status, error = "error", err
            raise
        finally:
            for event in encoder.finish(status, error if isinstance(error, Exception) else None):
                writer.write(event)


def read_transcript(path: Union[str, Path]) -> Iterator[tuple]:
    """`(t, event)` for each line of a transcript file."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as err:
        raise TranscriptError(f"cannot read transcript {path}: {err.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                yield float(entry.get("t", 0.0)), live_events.from_data(entry["event"], entry.get("data"))
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise TranscriptError(f"{path}:{number}: not a transcript event ({err})") from None


def paced(entries: Iterable[tuple], speed: Optional[float]) -> Iterator[Any]:
    """Events at their recorded pace divided by `speed` (None or 0: at once)."""
    start = time.monotonic()
    for t, event in entries:
        if speed:
            wait = start + t / speed - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 5.0))  # replay pacing (not coordination); long gaps shortened
        yield event


def replay_to_terminal(path: Union[str, Path], printer: Any = None, speed: Optional[float] = None) -> int:
    """Print a transcript as the live run showed it; returns the number of events."""
    if printer is None:
        from .console import ConsolePrinter

        printer = ConsolePrinter()
    count = 0
    for event in paced(read_transcript(path), speed):
        printer.show_event(event)
        count += 1
    return count


def main(argv: Optional[list] = None) -> int:
    """`python -m agentscope_rpc.transcript FILE`: replay to the terminal."""
    from .console import ConsolePrinter

    parser = argparse.ArgumentParser(prog="python -m agentscope_rpc.transcript",
                                     description="Replay a transcript (JSON lines of live events) to the terminal.")
    parser.add_argument("file", help="the transcript")
    parser.add_argument("--speed", type=float, default=0.0, help="1: recorded pace, 2: twice as fast; 0: at once")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="terminal colours")
    args = parser.parse_args(argv)
    try:
        replay_to_terminal(args.file, ConsolePrinter(color=args.color), args.speed)
    except TranscriptError as err:
        print(f"transcript: {err}", file=sys.stderr)
        return 2
    return 0


__all__ = ["TranscriptWriter", "TranscriptError", "record", "read_transcript", "paced", "replay_to_terminal"]

if __name__ == "__main__":
    sys.exit(main())
