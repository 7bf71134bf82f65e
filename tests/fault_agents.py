"""Agent classes for the fault, fuzz and security tests (issue 11).

Servers import them by name: child servers inherit the test process's
`sys.path`, and the namespace lab puts this directory on `PYTHONPATH`.
What a test needs to see from outside the server (how often a call ran,
that a generator stopped) is written to files, so it can be read back even
after the server was killed or stopped.
"""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Iterator, Optional

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


def runs_path(marker_dir: str, name: str) -> str:
    """The file in which agent `name` records each call it starts."""
    return os.path.join(marker_dir, f"{name}.runs")


def stopped_path(marker_dir: str, name: str) -> str:
    """The file that agent `name`'s speech generator writes when it ends."""
    return os.path.join(marker_dir, f"{name}.stopped")


def read_runs(marker_dir: str, name: str) -> list:
    """The labels of the calls agent `name` started, in order ([] if none)."""
    try:
        with open(runs_path(marker_dir, name), encoding="utf-8") as fh:
            return fh.read().split()
    except FileNotFoundError:
        return []


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())  # visible to the test even if the server is killed next


def label_of(x: Any) -> str:
    """The word a call is recorded under: its input's content, or "none"."""
    words = [] if x is None else str(x.content).split()
    return words[0] if words else "none"


class Pingable(AgentBase):
    """`ping()` answers "pong": a call that proves the agent exists (creation may be pipelined)."""

    def ping(self) -> str:
        """Answers "pong"."""
        return "pong"


class RunCounter(Pingable):
    """Records every call it starts in `<marker_dir>/<name>.runs`, says so, then works.

    `mode="sleep"`: speaks "started" and sleeps `hold` seconds.
    `mode="stream"`: speaks a stream of "tick " deltas (about 1 kHz) for
    `hold` seconds; the generator's `finally` writes `<name>.stopped`.
    The reply's content is the call's label (its input's first word).
    """

    def __init__(self, name: str, marker_dir: str, hold: float = 30.0, mode: str = "sleep") -> None:
        super().__init__(name)
        self.marker_dir = marker_dir
        self.hold = hold
        self.mode = mode

    def _ticks(self, label: str) -> Iterator[str]:
        ticks = 0
        try:
            end = time.monotonic() + self.hold
            while time.monotonic() < end:
                ticks += 1
                yield "tick "
                time.sleep(0.001)  # a steady producer, not a busy loop
        finally:
            _append(stopped_path(self.marker_dir, self.name), f"{label}:{ticks}")

    def reply(self, x: Optional[Msg] = None) -> Msg:
        label = label_of(x)
        _append(runs_path(self.marker_dir, self.name), label)
        if self.mode == "stream":
            self.speak(self._ticks(label))
        else:
            self.speak("started")
            time.sleep(self.hold)
        return Msg(self.name, label)


def crunch(seconds: float) -> int:
    """Pure-Python arithmetic for about `seconds` (holds the GIL between switches)."""
    end = time.monotonic() + seconds
    total, rounds = 0, 0
    while time.monotonic() < end:
        for i in range(10_000):
            total = (total + i * i) % 1_000_003
        rounds += 1
    return rounds


class Cruncher(Pingable):
    """A busy but healthy agent: computes in pure Python for `x.content` seconds."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        seconds = float(x.content) if x is not None else 1.0
        return Msg(self.name, {"rounds": crunch(seconds), "seconds": seconds})


def letters(n: int) -> str:
    """What a `Flood` of `n` deltas says in the end."""
    return "".join(chr(97 + i % 26) for i in range(n))


class Flood(Pingable):
    """Speaks `n` one-character deltas as fast as it can; replies with the spoken Msg."""

    def __init__(self, name: str, n: int) -> None:
        super().__init__(name)
        self.n = n

    def _deltas(self) -> Iterator[str]:
        for i in range(self.n):
            yield chr(97 + i % 26)

    def reply(self, x: Optional[Msg] = None) -> Msg:
        return self.speak(self._deltas())


class Abort(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


def _raise(kind: str) -> None:
    if kind == "SystemExit":
        raise SystemExit(3)
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt("raised by agent code")
    if kind == "Abort":
        raise Abort("raised by agent code")
    raise ValueError(f"unknown kind {kind!r}")


class Exiter(Pingable):
    """Agent code that raises BaseExceptions: `reply`/`boom` (sync), `aboom` (async)."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        _raise(str(x.content) if x is not None else "SystemExit")
        return Msg(self.name, "unreachable")

    def boom(self, kind: str) -> str:
        """A sync public method that raises `kind`."""
        _raise(kind)
        return "unreachable"

    async def aboom(self, kind: str) -> str:
        """An async public method that raises `kind`."""
        await asyncio.sleep(0)
        _raise(kind)
        return "unreachable"


class Payload(Pingable):
    """Replies with `size` characters (a large result nobody exports)."""

    def __init__(self, name: str, size: int) -> None:
        super().__init__(name)
        self.size = size

    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, "r" * self.size)

    def tiny(self) -> int:
        """A call that costs nothing: exercises per-call/per-caller state only."""
        return 1


class Box:
    """Wraps a value so it travels pickled and reaches the agent unresolved."""

    def __init__(self, value: Any) -> None:
        self.value = value


class Inspector(Pingable):
    """Reports what it received, pickled (as hex): the argument, and the reference of a boxed placeholder."""

    def inspect(self, box: Box) -> dict:
        """{"arg": the Box as this server holds it, "ref": what its placeholder points with}."""
        import cloudpickle

        ref = getattr(box.value, "ref", None)  # kept after the value arrived
        return {"arg": cloudpickle.dumps(box).hex(), "ref": cloudpickle.dumps(ref).hex()}

    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, label_of(x))
