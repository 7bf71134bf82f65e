"""The text protocol for tool calls, for models without native tool calling.

A model that cannot return structured tool calls (the embedded SmolLM2, a
scripted model, an OpenAI-compatible server without a tool parser) is told
in its system prompt to call a tool by writing one tagged JSON block:

    <tool_call>{"name": "get_current_weather", "arguments": {"city": "Tokyo"}}</tool_call>

`TagFilter` reads the model's output delta by delta: text outside the tags
is handed on at once (only a possible beginning of a tag, such as a trailing
`<too`, is held back until the next delta decides it), and what is inside
the tags is kept for parsing, so no tag and none of its JSON ever reaches
`speak`.  `parse_call` turns the inside of one block into a `ToolCall` or
says why it cannot.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Optional

from .toolkit import ToolCall

OPEN = "<tool_call>"
"""The tag that opens a tool call in the model's text."""
CLOSE = "</tool_call>"
"""The tag that closes it."""


def instructions(schemas: Iterable[dict]) -> str:
    """The system-prompt paragraph that teaches the protocol for these tools."""
    lines = ["You can use these tools:"]
    for schema in schemas:
        function = schema["function"]
        params = function.get("parameters", {}).get("properties", {})
        required = set(function.get("parameters", {}).get("required", []))
        args = []
        for name, spec in params.items():
            kind = "|".join(json.dumps(v) for v in spec["enum"]) if "enum" in spec else spec.get("type", "any")
            args.append(f"{name}: {kind}" + ("" if name in required else " (optional)"))
        lines.append(f"- {function['name']}({', '.join(args)}): {function.get('description', '')}".rstrip(": "))
    lines.append(
        f"To use a tool, write {OPEN}{{\"name\": \"TOOL\", \"arguments\": {{...}}}}{CLOSE} and nothing after it. "
        "The tool's result comes back in the next message. "
        "When you need no tool, answer the user directly.",
    )
    return "\n".join(lines)


def parse_call(body: str, call_id: str) -> tuple[Optional[ToolCall], Optional[str]]:
    """(ToolCall, None) from the inside of one tag, or (None, what is wrong with it)."""
    text = body.strip()
    if text.startswith("```"):  # a fenced block inside the tag
        text = text.strip("`")
        text = text[4:] if text.startswith("json") else text
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"the tool call is not valid JSON ({exc})"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        return None, 'a tool call is a JSON object with a "name" and "arguments"'
    arguments = data.get("arguments", data.get("parameters", {}))
    if isinstance(arguments, str):  # arguments as a JSON string, as OpenAI sends them
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return None, f"the arguments are not valid JSON ({exc})"
    if arguments is None:
        arguments = {}
    return ToolCall(call_id, data["name"], arguments, json.dumps(arguments, ensure_ascii=False)), None


class TagFilter:
    """Splits a stream of text deltas into text to show and tool-call blocks.

    `feed(delta)` returns the text that may be shown now; `finish()` returns
    whatever was held back at the end.  `blocks` holds the insides of the
    complete tags seen, `open_block` the inside of a tag not closed yet
    (None when outside any tag).
    """

    def __init__(self) -> None:
        self.blocks: list = []
        self.open_block: Optional[str] = None
        self._held = ""

    @property
    def in_call(self) -> bool:
        """Inside a tag (a call is being written)."""
        return self.open_block is not None

    def feed(self, delta: str) -> str:
        """Take one delta; the text that can be shown now."""
        data = self._held + (delta or "")
        self._held = ""
        shown: list = []
        while data:
            if self.open_block is None:
                at = data.find(OPEN)
                if at < 0:
                    keep = _partial_suffix(data, OPEN)
                    shown.append(data[: len(data) - keep])
                    self._held = data[len(data) - keep:]
                    break
                shown.append(data[:at])
                self.open_block = ""
                data = data[at + len(OPEN):]
            else:
                at = data.find(CLOSE)
                if at < 0:
                    keep = _partial_suffix(data, CLOSE)
                    self.open_block += data[: len(data) - keep]
                    self._held = data[len(data) - keep:]
                    break
                self.blocks.append(self.open_block + data[:at])
                self.open_block = None
                data = data[at + len(CLOSE):]
        return "".join(shown)

    def abandon(self) -> None:
        """Forget the open tag and anything held (its call is written some other way)."""
        self.open_block, self._held = None, ""

    def finish(self) -> str:
        """End of the stream: held-back text outside a tag is shown; an open tag stays in `open_block`."""
        held, self._held = self._held, ""
        if self.open_block is not None:
            self.open_block += held
            return ""
        return held


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def call_schema(schemas: Iterable[dict]) -> dict:
    """The JSON schema of one protocol call to any of these tools (for grammar-constrained generation)."""
    options = []
    for schema in schemas:
        function = schema["function"]
        options.append({
            "type": "object",
            "properties": {"name": {"const": function["name"]}, "arguments": _plain(function["parameters"])},
            "required": ["name", "arguments"],
        })
    return options[0] if len(options) == 1 else {"anyOf": options}


def _plain(schema: Any) -> Any:
    """A schema without descriptions and defaults (they only lengthen the grammar)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):  # its keys are argument names
                out[key] = {name: _plain(sub) for name, sub in value.items()}
            elif key not in ("description", "default", "title"):
                out[key] = _plain(value)
        return out
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


__all__ = ["OPEN", "CLOSE", "TagFilter", "parse_call", "instructions", "call_schema"]
