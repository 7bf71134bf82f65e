"""Model usage: calls and tokens per config, and (optionally) every invocation on disk.

Each `ModelWrapperBase` call is counted; token counts are added when the
backend reports them (llama.cpp and OpenAI-compatible servers do, in the
response's `usage`).  `init(save_api_invoke=True)` sets an invocation
directory: each call is then written there as one JSON file once its text
is complete (AgentScope 0.1.6's `invoke/` files).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import uuid
from typing import Any, Optional

log = logging.getLogger(__name__)


def _usage_of(raw: Any) -> dict:
    """The `usage` a backend reported in its raw response (a dict, or the last of a list)."""
    if isinstance(raw, dict):
        return raw.get("usage") or {}
    if isinstance(raw, list):
        for item in reversed(raw):
            if isinstance(item, dict) and item.get("usage"):
                return item["usage"]
    return {}


class ModelUsage:
    """Counts model calls and tokens; writes invocations when given a directory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict = {}  # (config_name, model_type) -> counters
        self.invocation_dir: Optional[str] = None

    def record(self, wrapper: Any, messages: list, kwargs: dict, response: Any) -> None:
        """Count one call of `wrapper`; tokens (and the invocation file) once the text is complete."""
        key = (wrapper.config_name, wrapper.model_type)
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
            row["calls"] += 1
        directory = self.invocation_dir
        started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")

        def done(result: Any) -> None:
            usage = _usage_of(result.raw)
            with self._lock:
                row["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
                row["completion_tokens"] += int(usage.get("completion_tokens") or 0)
            if directory is not None:
                self._write(directory, wrapper, messages, kwargs, result, started, usage)

        response.add_done_callback(done)

    @staticmethod
    def _write(directory: str, wrapper: Any, messages: list, kwargs: dict, response: Any,
               started: str, usage: dict) -> None:
        os.makedirs(directory, exist_ok=True)
        record = {
            "model_class": type(wrapper).__name__,
            "config_name": wrapper.config_name,
            "timestamp": started,
            "arguments": {"messages": messages, **kwargs},
            "response": {"text": response.text, "tool_calls": response.tool_calls},
            "usage": usage,
        }
        name = f"model_{wrapper.config_name}_{started.replace(' ', '_').replace(':', '')}_{uuid.uuid4().hex[:8]}.json"
        try:
            with open(os.path.join(directory, name), "w", encoding="utf-8") as fh:
                json.dump(record, fh, ensure_ascii=False, indent=2, default=str)
        except OSError as exc:
            log.warning("could not write model invocation %s: %s", name, exc)

    def report(self) -> dict:
        """Usage so far, in AgentScope 0.1.6's shape: `{"text_and_embedding": [...], "image": []}`."""
        with self._lock:
            rows = [
                {"config_name": name, "model_type": model_type, **counters,
                 "total_tokens": counters["prompt_tokens"] + counters["completion_tokens"]}
                for (name, model_type), counters in self._rows.items()
            ]
        return {"text_and_embedding": rows, "image": []}

    def reset(self) -> None:
        """Forget the counts."""
        with self._lock:
            self._rows.clear()


_DEFAULT = ModelUsage()


def default_usage() -> ModelUsage:
    """The process's usage counter."""
    return _DEFAULT


def model_usage() -> dict:
    """The process's model usage (see `ModelUsage.report`)."""
    return _DEFAULT.report()


def set_invocation_dir(path: Optional[str]) -> None:
    """Write every later model call to `path` as JSON (None: stop writing)."""
    _DEFAULT.invocation_dir = path


__all__ = ["ModelUsage", "default_usage", "model_usage", "set_invocation_dir"]
