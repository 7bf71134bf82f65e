"""`FunctionCallAgent`: an agent that calls tools and keeps streaming.

    def get_current_weather(city: str) -> dict:
        '''The weather now in a city.

        Args:
            city: Name of the city.
        '''

    agent = FunctionCallAgent("Assistant", model_config_name="my-gpt", tools=[get_current_weather])
    agent(Msg("user", "Weather in Tokyo?", "user"))

One reply is one spoken message that grows over the tool rounds: every
piece of text meant for the user is spoken as the model produces it, tool
calls never are.  A round asks the model (streaming) with the tools; if it
called some, they run (in parallel, on the agent's own process, with
timeouts), a `ToolCallEvent` and a `ToolResultEvent` go to the viewers for
each, the results go back to the model, and the next round streams on, until
the model answers with text or `max_iters` rounds have called tools.

How the model calls tools:

* `native_tools` backends (`openai_chat`): OpenAI tools in streaming mode —
  `delta.tool_calls` are assembled by index while `delta.content` is spoken.
* Others (the embedded llama.cpp model, `scripted`): the tagged text
  protocol of `agentscope_rpc.tools.protocol`, described in the system
  prompt.  Text before `<tool_call>` streams; the tag and its JSON are never
  spoken.  On llama.cpp the call itself is generated under a grammar built
  from the tools' schemas (once the model opens the tag, or at once when
  `tool_choice` requires a call), so it is always well-formed; a call that
  is still malformed (other backends) is sent back once with the parse
  error, and if the retry is malformed too the reply ends with a note saying
  so (`metadata["fallback"] == "malformed_tool_call"`).

Tool failures (an exception, bad arguments, an unknown tool, a timeout) are
the tool's result, so the model can react; the reply never raises for them.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Iterator, Optional, Union

from .. import runtime, speech
from ..message import Msg, new_id
from ..tools import protocol
from ..tools.events import ToolCallEvent, ToolResultEvent, describe_call
from ..tools.toolkit import DEFAULT_TOOL_TIMEOUT, ToolCall, Toolkit
from .agent import AgentBase

log = logging.getLogger(__name__)

TOOL_CHOICES = ("auto", "required", "none")
"""`tool_choice` values besides a tool's name: the model decides / must call a tool / may not."""


class _Round:
    """What one model call of a reply gave: its text, the calls, what could not be parsed."""

    def __init__(self) -> None:
        self.text = ""  # the user-facing text of this round
        self.calls: list = []  # (ToolCall, problem or None)
        self.blocks: list = []  # protocol: the raw JSON inside each tag
        self.malformed: Optional[str] = None  # protocol: why a call could not be read
        self.native = False


class FunctionCallAgent(AgentBase):
    """Answers with its model, calling `tools` as the model asks (see the module docstring).

    * `tools`: functions (see `agentscope_rpc.tools.tool`) or a `Toolkit`;
      `service_toolkit` (AgentScope 0.1.6's name) is the same.
    * `max_iters`: model calls per reply that may call tools; a reply whose
      last allowed round still calls tools ends with a note (`metadata["fallback"]
      == "max_iters"`) instead of an answer.
    * `tool_choice`: first round — "auto" (the model decides), "required"
      (it must call a tool), "none" (it may not), or a tool's name;
      `follow_up_tool_choice`: later rounds ("auto"; "none" suits servers that
      cannot stream an automatic choice, such as llama-cpp-python's).
    * `tool_timeout`: seconds one tool may run before its call is answered
      with a timeout error.
    * `verbose`: show tool calls on the terminal when no app stream takes them.
    * `max_call_tokens`: token budget of a grammar-generated call (llama.cpp).
    """

    def __init__(
        self,
        name: str,
        sys_prompt: Optional[str] = None,
        model_config_name: Optional[str] = None,
        tools: Union[Toolkit, Iterable[Any], None] = None,
        service_toolkit: Optional[Toolkit] = None,
        max_iters: int = 10,
        tool_choice: str = "auto",
        follow_up_tool_choice: str = "auto",
        tool_timeout: float = DEFAULT_TOOL_TIMEOUT,
        verbose: bool = True,
        use_memory: bool = True,
        max_call_tokens: int = 256,
        **kwargs: Any,
    ) -> None:
        from ..models import DEFAULT_MODEL_CONFIG_NAME

        super().__init__(
            name=name,
            sys_prompt=sys_prompt,
            model_config_name=model_config_name or DEFAULT_MODEL_CONFIG_NAME,
            use_memory=use_memory,
            **kwargs,
        )
        if tools is not None and service_toolkit is not None:
            raise TypeError("give tools or service_toolkit, not both")
        given = service_toolkit if service_toolkit is not None else tools
        self.toolkit = given if isinstance(given, Toolkit) else Toolkit(given or (), timeout=tool_timeout)
        self.max_iters = max(1, int(max_iters))
        self.tool_choice = _checked_choice(tool_choice, self.toolkit)
        self.follow_up_tool_choice = _checked_choice(follow_up_tool_choice, self.toolkit)
        self.verbose = verbose
        self.max_call_tokens = int(max_call_tokens)

    @property
    def service_toolkit(self) -> Toolkit:
        """The toolkit (AgentScope 0.1.6's attribute name)."""
        return self.toolkit

    # -- the reply -----------------------------------------------------------------
    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        """Remember `x`, then answer over as many tool rounds as the model needs, speaking as it goes."""
        if self.memory is not None:
            self.memory.add(x)
        msg_id = new_id()
        record: dict = {"tool_calls": []}
        msg = self.speak(self._spoken(x, msg_id, record), msg_id=msg_id)
        meta = {"tool_calls": record["tool_calls"]}
        if record.get("fallback"):
            meta["fallback"] = record["fallback"]
        msg.metadata = meta
        if self.memory is not None:
            self.memory.add(msg)
        return msg

    def _spoken(self, x: Any, msg_id: str, record: dict) -> Iterator[str]:
        """The reply's text deltas, over every round (tools run between them)."""
        exchange: list = []  # this reply's tool rounds, as chat messages
        said = ""
        retried = False
        for index in range(self.max_iters):
            choice = self.tool_choice if index == 0 else self.follow_up_tool_choice
            result = _Round()
            for delta in self._round(self._prompt(x, choice, exchange), choice, result):
                if not said and not delta.strip():
                    continue  # no leading blank text
                if said and not result.text and not said[-1].isspace() and not delta[0].isspace():
                    delta = " " + delta  # a later round continues the sentence
                said += delta
                result.text += delta
                yield delta
            if result.malformed is not None:
                if retried:
                    record["fallback"] = "malformed_tool_call"
                    note = f"(I could not make a valid tool call: {result.malformed})"
                    yield _gap(said) + note
                    return
                retried = True
                log.warning("%s: malformed tool call, asking again: %s", self.name, result.malformed)
                exchange += self._retry_messages(result)
                continue
            if not result.calls:
                return
            if index == self.max_iters - 1:
                record["fallback"] = "max_iters"
                names = ", ".join(call.name for call, _ in result.calls)
                note = (f"(I stopped after {self.max_iters} tool round{'s' if self.max_iters > 1 else ''} "
                        f"without a final answer; the model still wanted: {names})")
                yield _gap(said) + note
                return
            exchange += self._run_calls(result, msg_id, index, record)

    def _round(self, messages: list, choice: str, result: _Round) -> Iterator[str]:
        """One model call: yields the text to speak and fills `result`."""
        native = getattr(self.model, "native_tools", False) and len(self.toolkit) > 0
        use_protocol = not native and choice != "none" and len(self.toolkit) > 0
        result.native = native
        grammar = hasattr(self.model, "complete_tool_call")
        schemas = self.toolkit.schemas([choice] if choice in self.toolkit else None)
        if use_protocol and grammar and choice != "auto":  # a call is required: generate it under the grammar
            result.blocks.append(self._grammar_call(messages, "", schemas))
            self._parse_blocks(result)
            return
        kwargs: dict = {}
        if native and choice != "none":
            kwargs = {"tools": self.toolkit.schemas(), "tool_choice": _native_choice(choice)}
        response = self.model(messages, stream=True, **kwargs)
        chunks = response.stream if response.stream is not None else iter([(True, response.text)])
        tags = protocol.TagFilter()
        raw = ""
        try:
            for _last, text in chunks:
                delta, raw = text[len(raw):] if text.startswith(raw) else text, text
                shown = tags.feed(delta)
                if shown:
                    yield shown
                if tags.in_call and use_protocol and grammar:
                    # the model opened a tag: stop it and let the grammar write the call
                    prefix = raw[: raw.find(protocol.OPEN)] if protocol.OPEN in raw else raw
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
                    tags.abandon()
                    result.blocks.append(self._grammar_call(messages, prefix, schemas))
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        tail = tags.finish()
        if tail:
            yield tail
        result.blocks[:0] = tags.blocks
        if tags.open_block is not None and tags.open_block.strip():
            result.blocks.append(tags.open_block)  # unterminated: parsed as far as it goes
        if native:
            for index, call in enumerate(response.tool_calls):
                result.calls.append(_native_call(call, index))
        self._parse_blocks(result)

    def _grammar_call(self, messages: list, prefix: str, schemas: list) -> str:
        return self.model.complete_tool_call(messages, prefix, protocol.OPEN, protocol.call_schema(schemas),
                                             max_tokens=self.max_call_tokens)

    @staticmethod
    def _parse_blocks(result: _Round) -> None:
        for index, body in enumerate(result.blocks):
            call, problem = protocol.parse_call(body, f"call_{new_id()[:8]}_{index}")
            if call is None:
                result.malformed = problem
            else:
                result.calls.append((call, None))

    # -- prompts -----------------------------------------------------------------------
    def _prompt(self, x: Any, choice: str, exchange: list) -> list:
        native = getattr(self.model, "native_tools", False)
        system = self.sys_prompt or ""
        if not native and choice != "none" and len(self.toolkit) > 0:
            schemas = self.toolkit.schemas([choice] if choice in self.toolkit else None)
            system = (system + "\n\n" if system else "") + protocol.instructions(schemas)
        history = self.memory.get_memory() if self.memory is not None else x
        head = Msg("system", system, role="system") if system else None
        return self.model.format(head, history, speaker=self.name) + exchange

    @staticmethod
    def _retry_messages(result: _Round) -> list:
        raw = result.text + "".join(protocol.OPEN + b + protocol.CLOSE for b in result.blocks)
        return [
            {"role": "assistant", "content": raw},
            {"role": "user", "content": (
                f"Your tool call could not be read: {result.malformed}. Write it again as "
                f'{protocol.OPEN}{{"name": "TOOL", "arguments": {{...}}}}{protocol.CLOSE} with valid JSON, '
                "or answer without a tool.")},
        ]

    # -- running the calls ---------------------------------------------------------------
    def _run_calls(self, result: _Round, msg_id: str, index: int, record: dict) -> list:
        """Run a round's calls (in parallel); the chat messages that tell the model the results."""
        for call, _ in result.calls:
            self._tell(ToolCallEvent(self.name, call.id, call.name, call.arguments, msg_id, index))
        runnable = [call for call, problem in result.calls if problem is None]
        done = {id(r.call): r for r in self.toolkit.run_all(runnable)}
        results = []
        for call, problem in result.calls:
            if problem is not None:
                log.warning("%s: tool call %s rejected: %s", self.name, call.name, problem)
                content, ok, error, took = f"Error: {problem}", False, problem, 0.0
            else:
                answer = done[id(call)]
                content, ok, error, took = answer.content, answer.ok, answer.error, answer.duration_s
            self._tell(ToolResultEvent(self.name, call.id, call.name, content, ok, error, took, msg_id, index))
            record["tool_calls"].append({"tool": call.name, "arguments": call.arguments, "ok": ok,
                                         "content": content[:500]})
            results.append((call, content))
        if result.native:
            return [
                {"role": "assistant", "content": result.text, "tool_calls": [
                    {"id": call.id, "type": "function",
                     "function": {"name": call.name, "arguments": call.raw_arguments or json.dumps(call.arguments)}}
                    for call, _ in result.calls]},
            ] + [{"role": "tool", "tool_call_id": call.id, "name": call.name, "content": content}
                 for call, content in results]
        said = result.text + "".join(protocol.OPEN + b + protocol.CLOSE for b in result.blocks)
        told = "\n".join(f"Result of {describe_call(call.name, call.arguments)}: {content}"
                         for call, content in results)
        return [{"role": "assistant", "content": said},
                {"role": "user", "content": f"{told}\nNow answer the user."}]

    def _tell(self, event: Any) -> None:
        """A tool event to the app stream or the relay; else, if verbose, to the terminal."""
        if speech.put_object(event):
            return
        if self.verbose:
            show_tool_event(event)


def show_tool_event(event: Any) -> None:
    """Show a tool event on the current runtime's terminal (when no app stream took it)."""
    show = getattr(runtime.current().printer, "show_event", None)
    if show is not None:
        show(event)  # a tool event reads like its live event (`type`, `data`)


def _gap(said: str) -> str:
    """A space before a note, unless the text so far ends with one (or is empty)."""
    return " " if said and not said[-1].isspace() else ""


def _checked_choice(choice: str, toolkit: Toolkit) -> str:
    if choice in TOOL_CHOICES or choice in toolkit:
        return choice
    raise ValueError(f"tool_choice {choice!r} is none of {TOOL_CHOICES} nor a tool ({', '.join(toolkit.names)})")


def _native_choice(choice: str) -> Any:
    if choice in TOOL_CHOICES:
        return choice
    return {"type": "function", "function": {"name": choice}}


def _native_call(call: dict, index: int) -> tuple:
    """(ToolCall, problem) from an OpenAI-style tool call; bad JSON arguments are the problem."""
    function = call.get("function") or {}
    raw = function.get("arguments") or ""
    call_id = call.get("id") or f"call_{new_id()[:8]}_{index}"
    name = function.get("name") or ""
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return ToolCall(call_id, name, {}, raw), f"the arguments are not valid JSON ({exc}): {raw[:200]!r}"
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, raw), "the arguments must be a JSON object"
    return ToolCall(call_id, name, arguments, raw), None


class ReActAgent(FunctionCallAgent):
    """AgentScope 0.1.6's `ReActAgent(name, model_config_name, service_toolkit, sys_prompt, max_iters, verbose)`.

    A `FunctionCallAgent` with 0.1.6's positional order; `{name}` in the
    system prompt is replaced by the agent's name.
    """

    def __init__(
        self,
        name: str,
        model_config_name: Optional[str] = None,
        service_toolkit: Optional[Toolkit] = None,
        sys_prompt: str = "You're a helpful assistant named {name}.",
        max_iters: int = 10,
        verbose: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name=name,
            sys_prompt=sys_prompt.replace("{name}", name) if sys_prompt else sys_prompt,
            model_config_name=model_config_name,
            service_toolkit=service_toolkit if service_toolkit is not None else Toolkit(),
            max_iters=max_iters,
            verbose=verbose,
            **kwargs,
        )


__all__ = ["FunctionCallAgent", "ReActAgent", "TOOL_CHOICES", "show_tool_event"]
