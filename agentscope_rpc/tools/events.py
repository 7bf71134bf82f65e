"""Tool events: what a function-calling agent tells its viewers besides its text.

A `FunctionCallAgent` speaks only the text meant for the user; around it, it
emits one `ToolCallEvent` when it is about to run a tool and one
`ToolResultEvent` when the tool has answered.  Both are plain picklable
records: inside an `@pipeline` app (or while an agent server serves a call)
they join the app stream in order with the speech, become the live events
`tool_call` and `tool_result` (`agentscope_rpc.live_events`) on SSE, in
transcripts and on the page, and are shown as one dim line on the terminal
otherwise.  `msg_id` is the id of the message being spoken around the call,
so a viewer can place "calling get_current_weather(city='Tokyo')…" inside
that message's card.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional


class _ReadsLikeLiveEvent:
    """`type` and `data`, as the live event a tool event becomes (the console reads either)."""

    def to_data(self) -> dict:  # pragma: no cover - each event says
        raise NotImplementedError

    @property
    def data(self) -> dict:
        """The live event's JSON payload (as `to_data()`)."""
        return self.to_data()


@dataclass
class ToolCallEvent(_ReadsLikeLiveEvent):
    """An agent is about to run `tool` with `arguments` (already parsed and checked)."""

    agent: str
    call_id: str
    tool: str
    arguments: dict = field(default_factory=dict)
    msg_id: str = ""
    round: int = 0

    kind = "tool_call"
    type = "tool_call"  # read like the live event it becomes (`live_events`), e.g. by the console

    def to_data(self) -> dict:
        """The live event's JSON payload."""
        return {"agent": self.agent, "call_id": self.call_id, "tool": self.tool,
                "arguments": self.arguments, "msg_id": self.msg_id, "round": self.round}

    def describe(self) -> str:
        """`get_current_weather(city='Tokyo')` — how a viewer names the call."""
        return describe_call(self.tool, self.arguments)


@dataclass
class ToolResultEvent(_ReadsLikeLiveEvent):
    """A tool answered (`ok`) or failed (`error`); `content` is what the model is told."""

    agent: str
    call_id: str
    tool: str
    content: str
    ok: bool = True
    error: Optional[str] = None
    duration_s: float = 0.0
    msg_id: str = ""
    round: int = 0

    kind = "tool_result"
    type = "tool_result"  # read like the live event it becomes (`live_events`), e.g. by the console

    def to_data(self) -> dict:
        """The live event's JSON payload."""
        data = {"agent": self.agent, "call_id": self.call_id, "tool": self.tool, "content": self.content,
                "ok": self.ok, "duration_s": round(self.duration_s, 4), "msg_id": self.msg_id,
                "round": self.round}
        if self.error is not None:
            data["error"] = self.error
        return data


TOOL_EVENT_TYPES = (ToolCallEvent, ToolResultEvent)
"""The classes of tool events (what `isinstance` checks use)."""


def describe_call(tool: str, arguments: Any, limit: int = 80) -> str:
    """A short, readable `name(arg=value, ...)` for a call (values as JSON, cut at `limit`)."""
    if isinstance(arguments, dict):
        parts = []
        for key, value in arguments.items():
            text = json.dumps(value, ensure_ascii=False, default=str)
            if isinstance(value, str):
                text = "'" + value.replace("'", "\\'") + "'"
            parts.append(f"{key}={text}")
        inner = ", ".join(parts)
    else:
        inner = json.dumps(arguments, ensure_ascii=False, default=str)
    if len(inner) > limit:
        inner = inner[: limit - 1] + "…"
    return f"{tool}({inner})"


__all__ = ["ToolCallEvent", "ToolResultEvent", "TOOL_EVENT_TYPES", "describe_call"]
