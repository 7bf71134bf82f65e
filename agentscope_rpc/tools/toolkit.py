"""`Toolkit`: the functions an agent may call, their schemas, and how a call is run.

    @tool
    def get_current_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        '''The weather now.

        Args:
            city: Name of the city.
            unit: Temperature unit.
        '''

    kit = Toolkit([get_current_weather])
    kit.schemas()                       # the OpenAI `tools` list
    kit.run_all([ToolCall("c1", "get_current_weather", {"city": "Tokyo"})])

Running a call never raises: an unknown tool, arguments that do not fit the
schema, an exception in the tool and a tool that outlasts its timeout each
come back as a `ToolResult` with `ok=False` and an `error` that tells the
model what went wrong (and is logged).  Several calls run at once, each on
its own thread (daemon threads: a tool that never returns is abandoned
after its timeout, it cannot be killed); the calling context (speech sinks,
app stream) is carried into the tool.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Union

from .schema import enum_parameters, function_schema

log = logging.getLogger(__name__)

DEFAULT_TOOL_TIMEOUT = 30.0
"""Seconds a tool may run before its call is answered with a timeout error."""
MAX_RESULT_CHARS = 8000
"""A tool's result is cut to this many characters before it goes back to the model."""


@dataclass
class ToolCall:
    """One call the model asked for: `name(**arguments)`; `id` pairs it with its result."""

    id: str
    name: str
    arguments: dict = field(default_factory=dict)
    raw_arguments: str = ""


@dataclass
class ToolResult:
    """What running a `ToolCall` gave: `content` (text for the model), `ok`, `error`."""

    call: ToolCall
    content: str
    ok: bool = True
    error: Optional[str] = None
    duration_s: float = 0.0


@dataclass
class Tool:
    """A registered function with its schema, preset arguments and timeout."""

    func: Callable
    schema: dict
    preset: dict = field(default_factory=dict)
    timeout: Optional[float] = None

    @property
    def name(self) -> str:
        """The name the model calls it by."""
        return self.schema["function"]["name"]

    @property
    def parameters(self) -> dict:
        """The JSON schema of its arguments."""
        return self.schema["function"]["parameters"]


def tool(func: Optional[Callable] = None, *, name: Optional[str] = None, description: Optional[str] = None,
         timeout: Optional[float] = None) -> Any:
    """Mark a function as a tool (`@tool` or `@tool(name=..., description=..., timeout=...)`).

    The function is returned unchanged, carrying the options a `Toolkit`
    uses when it is added; an undecorated function can be added too.
    """
    def mark(f: Callable) -> Callable:
        f.__tool_options__ = {"name": name, "description": description, "timeout": timeout}  # type: ignore[attr-defined]
        return f

    return mark(func) if func is not None else mark


class Toolkit:
    """Named tools; `schemas()` for the model, `run_all(calls)` to answer its calls."""

    def __init__(self, tools: Iterable[Union[Callable, Tool]] = (), timeout: float = DEFAULT_TOOL_TIMEOUT) -> None:
        self.timeout = float(timeout)
        self.tools: dict[str, Tool] = {}
        for item in tools:
            if isinstance(item, Tool):
                self.tools[item.name] = item
            else:
                self.add(item)

    # -- registration --------------------------------------------------------------
    def add(self, func: Callable, name: Optional[str] = None, description: Optional[str] = None,
            timeout: Optional[float] = None, **preset: Any) -> Tool:
        """Register `func`; `preset` keyword arguments are bound and hidden from the model."""
        if not callable(func):
            raise TypeError(f"a tool must be callable, not {type(func).__name__}")
        options = dict(getattr(func, "__tool_options__", None) or {})
        name = name or options.get("name")
        description = description if description is not None else options.get("description")
        schema = function_schema(func, name=name, description=description, preset=preset)
        entry = Tool(func, schema, dict(preset), timeout if timeout is not None else options.get("timeout"))
        if entry.name in self.tools and self.tools[entry.name].func is not func:
            log.warning("tool %r replaces an earlier tool of that name", entry.name)
        self.tools[entry.name] = entry
        return entry

    def tool(self, func: Optional[Callable] = None, **options: Any) -> Any:
        """Decorator: `@kit.tool` / `@kit.tool(name=..., timeout=...)` registers the function here."""
        def register(f: Callable) -> Callable:
            self.add(f, **options)
            return f

        return register(func) if func is not None else register

    def remove(self, name: str) -> bool:
        """Unregister tool `name`; False if there was none."""
        return self.tools.pop(name, None) is not None

    @property
    def names(self) -> list:
        """The tools' names, in registration order."""
        return list(self.tools)

    def __len__(self) -> int:
        return len(self.tools)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def schemas(self, names: Optional[Iterable[str]] = None) -> list:
        """The OpenAI `tools` list (of the named tools, or all)."""
        chosen = self.tools if names is None else {n: self.tools[n] for n in names if n in self.tools}
        return [t.schema for t in chosen.values()]

    # -- running calls --------------------------------------------------------------
    def check(self, call: ToolCall) -> tuple[Optional[dict], Optional[str]]:
        """(arguments to call with, None) or (None, what is wrong) for `call`."""
        entry = self.tools.get(call.name)
        if entry is None:
            known = ", ".join(self.tools) or "none"
            return None, f"unknown tool {call.name!r} (tools: {known})"
        return check_arguments(entry.parameters, call.arguments)

    def run(self, call: ToolCall) -> ToolResult:
        """Run one call on this thread (no timeout); never raises."""
        started = time.monotonic()
        arguments, problem = self.check(call)
        if problem is not None:
            return self._failed(call, problem, started)
        entry = self.tools[call.name]
        try:
            for name, enum_type in enum_parameters(entry.func).items():
                if name in arguments:
                    arguments[name] = enum_type(arguments[name])
            value = entry.func(**entry.preset, **arguments)
            if inspect.isawaitable(value):
                value = asyncio.run(_awaited(value))
        except Exception as exc:  # pylint: disable=broad-except
            log.warning("tool %s raised %s: %s", call.name, type(exc).__name__, exc)
            return self._failed(call, f"{type(exc).__name__}: {exc}", started, logged=True)
        ok, content = result_text(value)
        if not ok:
            return self._failed(call, content, started)
        return ToolResult(call, content, True, None, time.monotonic() - started)

    def run_all(self, calls: Iterable[ToolCall], timeout: Optional[float] = None) -> list:
        """Run calls at once, each on its own thread; results in the order of `calls`, never raises."""
        calls = list(calls)
        slots: list = [None] * len(calls)
        threads = []
        for index, call in enumerate(calls):
            context = contextvars.copy_context()

            def work(i: int = index, c: ToolCall = call, ctx: contextvars.Context = context) -> None:
                slots[i] = ctx.run(self.run, c)

            thread = threading.Thread(target=work, name=f"tool-{call.name}", daemon=True)
            threads.append((time.monotonic(), thread))
            thread.start()
        for index, (started, thread) in enumerate(threads):
            call = calls[index]
            entry = self.tools.get(call.name)
            limit = timeout if timeout is not None else (entry.timeout if entry and entry.timeout else self.timeout)
            thread.join(max(0.0, started + limit - time.monotonic()))
            if thread.is_alive() or slots[index] is None:
                log.warning("tool %s did not answer within %.1fs; its thread is abandoned", call.name, limit)
                slots[index] = self._failed(call, f"timed out after {limit:g}s", started, logged=True)
        return slots

    @staticmethod
    def _failed(call: ToolCall, problem: str, started: float, logged: bool = False) -> ToolResult:
        if not logged:
            log.warning("tool call %s failed: %s", call.name, problem)
        return ToolResult(call, f"Error: {problem}", False, problem, time.monotonic() - started)


async def _awaited(value: Any) -> Any:
    return await value


def result_text(value: Any) -> tuple[bool, str]:
    """(ok, text for the model) of a tool's return value.

    A str is kept; an AgentScope-style `ServiceResponse` (`status`,
    `content`) reports failure by its status; anything else becomes JSON.
    """
    ok = True
    status = getattr(value, "status", None)
    if status is not None and hasattr(value, "content"):
        ok = int(getattr(status, "value", status)) > 0
        value = value.content
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"… [{len(text) - MAX_RESULT_CHARS} more characters cut]"
    return ok, text


_JSON_TYPES = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,), "null": (type(None),),
}


def check_arguments(parameters: dict, arguments: Any) -> tuple[Optional[dict], Optional[str]]:
    """Check (and gently coerce) `arguments` against a tool's parameter schema.

    Numbers given as numeric strings and whole floats for integers are
    coerced, as small models write them; everything else that does not fit
    is reported: (None, "what is wrong").
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, f"arguments must be a JSON object, not {type(arguments).__name__}"
    properties = parameters.get("properties", {})
    missing = [name for name in parameters.get("required", []) if name not in arguments]
    if missing:
        return None, f"missing required argument(s): {', '.join(missing)}"
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        return None, f"unknown argument(s): {', '.join(unknown)} (expected: {', '.join(properties) or 'none'})"
    out = {}
    for name, value in arguments.items():
        if value is None and name not in parameters.get("required", []):
            continue  # an optional argument given as null: the function's default applies
        value, problem = _fit(properties.get(name, {}), value)
        if problem is not None:
            return None, f"argument {name!r}: {problem}"
        out[name] = value
    return out, None


def _fit(schema: dict, value: Any) -> tuple[Any, Optional[str]]:
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            fitted, problem = _fit(option, value)
            if problem is None:
                return fitted, None
        return value, f"{value!r} fits none of the allowed types"
    kind = schema.get("type")
    if kind in ("integer", "number") and isinstance(value, str):
        try:
            value = float(value.strip()) if kind == "number" or "." in value else int(value.strip())
        except ValueError:
            return value, f"expected a {kind}, got {value!r}"
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(kind, str) and kind in _JSON_TYPES:
        allowed = _JSON_TYPES[kind]
        if not isinstance(value, allowed) or (kind in ("integer", "number") and isinstance(value, bool)):
            return value, f"expected a {kind}, got {type(value).__name__} {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return value, f"{value!r} is not one of {schema['enum']}"
    if kind == "array" and "items" in schema:
        fitted = []
        for item in value:
            item, problem = _fit(schema["items"], item)
            if problem is not None:
                return value, f"an item: {problem}"
            fitted.append(item)
        value = fitted
    return value, None


__all__ = ["Tool", "ToolCall", "ToolResult", "Toolkit", "tool", "check_arguments", "result_text",
           "DEFAULT_TOOL_TIMEOUT", "MAX_RESULT_CHARS"]
