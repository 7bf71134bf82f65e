"""Agent classes that the streaming tests run on real agent servers.

The tests directory is on the servers' import path (child servers inherit
the orchestrator's `sys.path`), so these classes are built by import.
"""
from __future__ import annotations

import threading
import time

from agentscope_rpc import speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.streaming import put_into_stream, stop_stream


def numbered(n: int) -> str:
    """What a `Streamer` of `n` chunks says in the end: "0,1,...,n-1,"."""
    return "".join(f"{i}," for i in range(n))


def _count_post_speak(agent: AgentBase) -> None:
    agent.post_speaks += 1


class Streamer(AgentBase):
    """Speaks `messages` messages of `n` numbered deltas ("0,", "1,", ...) each.

    With `fail_at=k` its generator raises ValueError instead of yielding
    chunk k (1-based), after chunks 1..k-1.  `pause` sleeps between chunks.
    `post_speaks` counts the post_speak hooks run on the server;
    `relay_high_water` is the most chunks its call's relay ever held.
    """

    def __init__(self, name, n=100, fail_at=None, pause=0.0, messages=1):
        super().__init__(name)
        self.n = n
        self.messages = messages
        self.fail_at = fail_at
        self.pause = pause
        self.post_speaks = 0
        self.relay_high_water = -1
        self.register_hook("post_speak", "count", _count_post_speak)

    def _chunks(self):
        for i in range(self.n):
            if self.fail_at is not None and i + 1 == self.fail_at:
                raise ValueError(f"chunk {i + 1} failed on purpose")
            if self.pause:
                time.sleep(self.pause)
            yield f"{i},"

    def reply(self, x=None):
        try:
            for _ in range(self.messages - 1):
                self.speak(self._chunks())
            return self.speak(self._chunks())
        finally:
            relay = speech.current_sinks()[0]
            self.relay_high_water = relay.high_water


class Endless(AgentBase):
    """Speaks "tick " forever (about 1 kHz); records when its generator stops.

    The generator's `finally` sets `stopped` and writes `marker` (a path),
    so a test can see from outside that the remote work ended.
    """

    def __init__(self, name, marker):
        super().__init__(name)
        self.marker = marker
        self.stopped = False
        self.ticks = 0

    def _ticks(self):
        try:
            while True:
                self.ticks += 1
                yield "tick "
                time.sleep(0.001)  # a steady producer, not a busy loop
        finally:
            self.stopped = True
            with open(self.marker, "w", encoding="utf-8") as fh:
                fh.write(f"stopped after {self.ticks} ticks\n")

    def reply(self, x=None):
        return self.speak(self._ticks())


class Relayer(AgentBase):
    """Says something, then asks `inner` (a proxy) and returns its reply."""

    def __init__(self, name, inner):
        super().__init__(name)
        self.inner = inner

    def reply(self, x=None):
        self.speak(f"{self.name} asks {self.inner.name}")
        answer = self.inner(x)
        return Msg(self.name, f"{self.inner.name} said {answer.content}")


class Putter(AgentBase):
    """Says "before", puts `count` objects into the caller's stream, says "after".

    With `stop=True` it ends the caller's stream after the puts.
    """

    def __init__(self, name, count=3, stop=False):
        super().__init__(name)
        self.count = count
        self.stop = stop

    def reply(self, x=None):
        self.speak("before")
        for i in range(self.count):
            put_into_stream({"from": self.name, "i": i})
        if self.stop:
            stop_stream()
        self.speak(w for w in ("af", "ter"))
        return Msg(self.name, f"put {self.count}")


class Talker(AgentBase):
    """Streams a short answer to what it heard, word by word."""

    def reply(self, x=None):
        heard = "nothing" if x is None else str(x.content)
        words = [f"{self.name}", "heard:", *heard.split()[-3:]]
        return self.speak(w + " " for w in words)


class SpeechLog:
    """Orchestrator-side checker of streamed messages, per msg id.

    Use `log.hook` as a pre_speak hook or `log` itself as a speech sink (or
    `log.chunk` on `SpeakChunk`s).  It keeps only what the checks need: the
    latest content of each message, never every snapshot.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.calls = 0
        self.latest = {}  # msg id -> content seen last
        self.names = {}  # msg id -> set of names
        self.lasts = {}  # msg id -> number of last=True
        self.after_last = []  # msg ids that spoke again after last=True
        self.not_growing = []  # (msg id, previous length, new length) violations
        self.order = []  # msg ids in order of first appearance

    def record(self, msg, last):
        with self._lock:
            self.calls += 1
            msg_id, text = msg.id, msg.content
            previous = self.latest.get(msg_id)
            if previous is None:
                self.order.append(msg_id)
            elif not (len(text) > len(previous) and text.startswith(previous)) and not (
                last and text == previous  # a delta stream's closing event repeats the text
            ):
                self.not_growing.append((msg_id, len(previous), len(text)))
            if self.lasts.get(msg_id):
                self.after_last.append(msg_id)
            self.latest[msg_id] = text
            self.names.setdefault(msg_id, set()).add(msg.name)
            self.lasts[msg_id] = self.lasts.get(msg_id, 0) + int(bool(last))

    def hook(self, agent, msg, stream, last):
        self.record(msg, last)

    def chunk(self, chunk):
        self.record(chunk.msg, chunk.last)

    def __call__(self, event):
        if event.error is None:
            self.record(event.msg, event.last)
        return True

    def assert_clean(self):
        assert self.not_growing == [], self.not_growing[:5]
        assert self.after_last == []
