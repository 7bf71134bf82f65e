"""Agent classes that the distributed-runtime tests run on real servers.

The tests directory is on the servers' import path (child servers inherit
the orchestrator's `sys.path`), so these classes are built by import.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


def text_of(x):
    return "" if x is None else str(x.content)


class Appender(AgentBase):
    """Sleeps `delay` seconds, then replies with the input's text + its name."""

    def __init__(self, name, delay=0.0):
        super().__init__(name)
        self.delay = delay

    def reply(self, x=None):
        time.sleep(self.delay)
        return Msg(self.name, text_of(x) + self.name)


class Failing(AgentBase):
    """Its reply raises ValueError."""

    def reply(self, x=None):
        raise ValueError(f"bad input for {self.name}: {text_of(x)!r}")


class BrokenInit(AgentBase):
    """Its constructor raises."""

    def __init__(self, name):
        super().__init__(name)
        raise RuntimeError("constructor exploded on purpose")


class Recorder(AgentBase):
    """Remembers every observed / replied input; detects overlapping calls."""

    def __init__(self, name, work=0.0):
        super().__init__(name)
        self.work = work
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self._lock = threading.Lock()

    def reply(self, x=None):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.work)
            self.observe(x)
            self.calls += 1
            return Msg(self.name, self.calls)
        finally:
            with self._lock:
                self.active -= 1


class Calculator(AgentBase):
    """Public attribute, private attribute, public methods."""

    def __init__(self, name, start=0):
        super().__init__(name)
        self.counter = start
        self._secret = "hidden"
        self.lock = threading.Lock()  # public, but cannot travel

    def add(self, a, b):
        self.counter += 1
        return a + b

    def pid(self):
        return os.getpid()

    def reply(self, x=None):
        self.counter += 1
        return Msg(self.name, self.counter)


def pattern(size):
    """`size` deterministic characters."""
    block = "".join(chr(ord("a") + i % 26) for i in range(1000))
    return (block * (size // len(block) + 1))[:size]


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


class BigProducer(AgentBase):
    """Speaks "started", sleeps `delay`, then replies with `size` characters."""

    def __init__(self, name, size, delay=0.0):
        super().__init__(name)
        self.size = size
        self.delay = delay

    def reply(self, x=None):
        self.speak("started")
        time.sleep(self.delay)
        return Msg(self.name, pattern(self.size))


class Digest(AgentBase):
    """Replies with the length and sha256 of what it received (and keeps that)."""

    def reply(self, x=None):
        text = text_of(x)
        summary = {"len": len(text), "sha": digest(text), "from": x.name if x is not None else None}
        self.memory.add(Msg(self.name, summary))
        return Msg(self.name, summary)


class Span(AgentBase):
    """Sleeps `delay` seconds; replies with [start, end] of that sleep (time.monotonic, shared by processes)."""

    def __init__(self, name, delay=0.0):
        super().__init__(name)
        self.delay = delay

    def reply(self, x=None):
        start = time.monotonic()
        time.sleep(self.delay)
        return Msg(self.name, [start, time.monotonic()])


class AsyncSpan(AgentBase):
    """`async def reply`: awaits `delay` seconds; replies with [start, end, threads alive in the server]."""

    def __init__(self, name, delay=0.0):
        super().__init__(name)
        self.delay = delay

    async def reply(self, x=None):
        start = time.monotonic()
        await asyncio.sleep(self.delay)
        return Msg(self.name, [start, time.monotonic(), threading.active_count()])


class Fanout(AgentBase):
    """Holds proxies of other agents; its reply calls them all in parallel."""

    def __init__(self, name, workers):
        super().__init__(name)
        self.workers = list(workers)

    def reply(self, x=None):
        results = [worker(x) for worker in self.workers]  # placeholders, at once
        return Msg(self.name, [r.content for r in results])


class ConfigReader(AgentBase):
    """Reports the model configs its server knows and asks its model."""

    def reply(self, x=None):
        from agentscope_rpc.models import get_model_configs

        names = [c["config_name"] for c in get_model_configs()]
        answer = self.model([Msg("user", text_of(x), "user")]).text if self.model else None
        return Msg(self.name, {"configs": names, "answer": answer})


class Tally(AgentBase):
    """Counts the calls that actually ran."""

    def __init__(self, name):
        super().__init__(name)
        self.calls = 0

    def reply(self, x=None):
        self.calls += 1
        return Msg(self.name, self.calls)

    def bump(self):
        self.calls += 1
        return self.calls
