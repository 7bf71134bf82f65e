"""Agents that the speech-out tests (test_tts.py) run locally and on real agent servers.

The tests directory is on the servers' import path, so a server builds these by import.
"""
from __future__ import annotations

import re

from agentscope_rpc.agents import AgentBase


def words(text: str):
    """`text` as word deltas ("Hello", " there.", ...), the way a model streams it."""
    return iter(re.findall(r"\s*\S+", text))


def failing(text: str):
    """Word deltas of `text`, then a ValueError (a generator that breaks mid-stream)."""
    yield from words(text)
    raise ValueError("the stream broke on purpose")


class Talker(AgentBase):
    """Says its `script` one message per call: each entry is a text, streamed word by word,
    or `("whole", text)` for one non-streamed message, or `("chunks", [deltas])`."""

    def __init__(self, name: str, script: list) -> None:
        super().__init__(name, use_memory=False)
        self.script = list(script)
        self.turn = 0

    def reply(self, x=None):
        entry = self.script[self.turn % len(self.script)]
        self.turn += 1
        if isinstance(entry, tuple) and entry[0] == "whole":
            return self.speak(entry[1])
        if isinstance(entry, tuple) and entry[0] == "chunks":
            return self.speak(iter(entry[1]))
        return self.speak(words(entry))


class Breaker(AgentBase):
    """Each call speaks `text` word by word, then its generator raises."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(name, use_memory=False)
        self.text = text

    def reply(self, x=None):
        return self.speak(failing(self.text))
