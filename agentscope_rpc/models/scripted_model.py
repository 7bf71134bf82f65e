"""`model_type="scripted"`: canned responses, for tests and offline demos.

Config keys: `responses` (list of str, returned in order; the last one repeats
when the script runs out, or `cycle: true` starts over), `stream` (False).
Streamed responses are delivered word by word.  Every call's prompt is kept
in `wrapper.calls`, so a test can check what the agent sent.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Iterator, Optional

from .model import ModelWrapperBase
from .response import ModelResponse


class ScriptedModelWrapper(ModelWrapperBase):
    """Answers with the next canned response."""

    model_type = "scripted"

    def __init__(
        self,
        config_name: str,
        responses: Optional[list] = None,
        cycle: bool = False,
        stream: bool = False,
        generate_args: Optional[dict] = None,
        **unknown: Any,
    ) -> None:
        super().__init__(config_name, stream=stream, generate_args=generate_args, **unknown)
        self.responses = [str(r) for r in (responses or [""])]
        self.cycle = bool(cycle)
        self.calls: list[dict] = []  # {"messages": [...], "stream": bool, "kwargs": {...}}
        self._lock = threading.Lock()

    def _next(self) -> str:
        with self._lock:
            index = len(self.calls) - 1
            if self.cycle:
                return self.responses[index % len(self.responses)]
            return self.responses[min(index, len(self.responses) - 1)]

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        with self._lock:
            self.calls.append({"messages": messages, "stream": stream, "kwargs": kwargs})
        text = self._next()
        if stream:
            return ModelResponse(stream=_words(text), raw=text)
        return ModelResponse(text=text, raw=text)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _words(text: str) -> Iterator[str]:
    yield from re.findall(r"\s*\S+|\s+$", text)


__all__ = ["ScriptedModelWrapper"]
