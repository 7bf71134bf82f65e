"""`DictDialogAgent`: the model must answer in a structured form (JSON by default)."""
from __future__ import annotations

import logging
from typing import Any, Iterable, Optional, Union

from ..exception import ResponseParsingError
from ..message import Msg
from ..models.response import ModelResponse
from ..parsers import JsonObjectParser, parse_json_object
from .dialog_agent import DialogAgent

log = logging.getLogger(__name__)
PARSE_ERROR_KEY = "_parse_error"


class DictDialogAgent(DialogAgent):
    """Replies with what a parser made of the model's answer, which must be structured (JSON by default).

    Small models often don't answer that way.  The answer is parsed
    forgivingly (plain JSON, a ```json block, junk around the braces, trailing
    commas); when parsing or a check fails, the error is fed back to the model
    and it tries again, up to `max_retries` more times.  After that the agent replies with a defined
    fallback instead of raising: bad model output never crashes a game.  (A
    failing model *call*, `ModelCallError`, still propagates.)

    Two ways to say what the answer must look like:

    * AgentScope 0.1.6's: `agent.set_parser(parser)` with a parser from
      `agentscope_rpc.parsers` (e.g. `MarkdownJsonDictParser(content_hint=...,
      required_keys=[...], keys_to_content="speak", keys_to_memory="speak",
      keys_to_metadata=["vote"])`).  The reply's content is
      `parser.to_content(parsed)`, its metadata `parser.to_metadata(parsed)`,
      and the agent remembers `parser.to_memory(parsed)`.  Fallback: the keys
      the model did produce, missing ones None (or `fallback=` if given); a
      content that would be None is the model's raw text; the metadata (a dict)
      gets `_parse_error`.
    * The seed's: `required_keys=[...]` and no parser.  The reply's content is
      the dict, its metadata `{"attempts": n}`; on fallback the content is
      `fallback` (or the required keys set to None plus `_parse_error`) and the
      metadata records `parse_failed`, `parse_error` and `raw`.

    What is spoken is the reply's content (the seed way: the value of
    `speak_key`, default "speak", when the dict has it); the spoken message and
    the reply share one id.  With `json_mode=True` (default) a JSON parser asks
    backends that can constrain their output for a JSON object with the
    required keys (the embedded llama.cpp model then follows a grammar).

    Arguments beyond `DialogAgent`'s: `max_retries` (default 3), `required_keys`,
    `fallback`, `speak_key`, `json_mode`, as above, and `format_instruction`,
    which replaces the parser's instruction to the model (None: the parser's).
    """

    def __init__(
        self,
        name: str,
        sys_prompt: Optional[str] = None,
        model_config_name: Optional[str] = None,
        use_memory: bool = True,
        max_retries: Optional[int] = 3,
        required_keys: Optional[Iterable[str]] = None,
        fallback: Optional[dict] = None,
        speak_key: Optional[str] = "speak",
        format_instruction: Optional[str] = None,
        json_mode: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            name=name,
            sys_prompt=sys_prompt,
            model_config_name=model_config_name,
            use_memory=use_memory,
            **kwargs,
        )
        self.parser: Any = JsonObjectParser(required_keys)
        self._v0_parser = False
        self.max_retries = max(0, int(3 if max_retries is None else max_retries))
        self.fallback = dict(fallback) if fallback is not None else None
        self.speak_key = speak_key
        self._format_instruction = format_instruction
        self.json_mode = json_mode

    def set_parser(self, parser: Any) -> None:
        """Use `parser` (from `agentscope_rpc.parsers`) for the next replies (AgentScope 0.1.6)."""
        if not callable(getattr(parser, "parse", None)):
            raise TypeError(f"set_parser() takes a parser with a parse() method, not {type(parser).__name__}")
        self.parser = parser
        self._v0_parser = not isinstance(parser, JsonObjectParser)

    @property
    def required_keys(self) -> list:
        """The keys the answer must have (the parser's)."""
        return list(getattr(self.parser, "required_keys", None) or [])

    @property
    def format_instruction(self) -> str:
        """What the model is told about the answer's format."""
        if self._format_instruction is not None:
            return self._format_instruction
        try:
            return self.parser.format_instruction or ""
        except ValueError:  # a RegexTaggedContentParser given no instruction
            return ""

    @format_instruction.setter
    def format_instruction(self, value: Optional[str]) -> None:
        self._format_instruction = value

    def prompt(self, x: Union[Msg, list, None] = None) -> list:
        """The chat messages for the next answer: system prompt + format instruction, then memory."""
        instruction = "\n\n".join(p for p in (self.sys_prompt, self.format_instruction) if p)
        system = Msg("system", instruction, role="system") if instruction else None
        history = self.memory.get_memory() if self.memory is not None else x
        return self.model.format(system, history, speaker=self.name)

    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        """Ask the model, parse its answer (retrying with feedback), reply with the result."""
        if self.memory is not None:
            self.memory.add(x)
        messages = self.prompt(x)
        error: Optional[ResponseParsingError] = None
        text = ""
        attempts = 0
        keys = getattr(self.parser, "json_mode_keys", None)
        extra = self.model.json_mode_args(keys) if self.json_mode and keys is not None else {}
        for attempts in range(1, self.max_retries + 2):
            text = self.model(messages, stream=False, **extra).text
            try:
                parsed = self._parse(text)
            except ResponseParsingError as exc:
                error = exc
                messages = messages + [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": self._feedback(exc)},
                ]
                continue
            return self._answer(parsed, attempts, None, text)
        assert error is not None
        log.warning("%s: no usable answer after %d attempt(s) (%s); replying with the fallback",
                    self.name, attempts, error)
        return self._answer(self._fallback_content(error, text), attempts, error, text)

    def _parse(self, text: str) -> Any:
        if isinstance(self.parser, JsonObjectParser):
            return self.parser.parse(text)
        return self.parser.parse(ModelResponse(text=text)).parsed

    def _feedback(self, error: ResponseParsingError) -> str:
        return f"Your answer could not be used: {error}. {self.format_instruction}".strip()

    def _fallback_content(self, error: ResponseParsingError, text: str) -> Any:
        if self.fallback is not None:
            return dict(self.fallback)
        if not self._v0_parser:
            content: dict = {key: None for key in self.required_keys}
            content[PARSE_ERROR_KEY] = str(error)
            return content
        try:
            partial = parse_json_object(text)
        except ResponseParsingError:
            partial = {}
        for key in self.required_keys:
            partial.setdefault(key, None)
        return partial

    def _answer(self, parsed: Any, attempts: int, error: Optional[ResponseParsingError], raw: str) -> Msg:
        if self._v0_parser:
            content, memory, metadata = self._filtered(parsed, error, raw)
            said = content
        else:
            content, memory = parsed, None
            metadata = {"attempts": attempts}
            if error is not None:
                metadata.update(parse_failed=True, parse_error=str(error), raw=raw)
            said = content.get(self.speak_key) if self.speak_key and isinstance(content, dict) else None
            said = content if said is None else said
        spoken = self.speak(Msg(self.name, said, role="assistant"))
        msg = Msg(self.name, content, role="assistant", metadata=metadata, id=spoken.id)
        if self.memory is not None:
            if not self._v0_parser:
                self.memory.add(msg)
            elif memory is not None:  # keys_to_memory=False: nothing to remember
                self.memory.add(Msg(self.name, memory, role="assistant"))
        return msg

    def _filtered(self, parsed: Any, error: Optional[ResponseParsingError], raw: str) -> tuple:
        """(content, memory content, metadata) of a parsed answer, as the parser filters them."""
        if not isinstance(parsed, dict) or not callable(getattr(self.parser, "to_content", None)):
            return parsed, parsed, None
        lenient = error is not None
        content = self.parser.to_content(parsed, allow_missing=lenient)
        memory = self.parser.to_memory(parsed, allow_missing=lenient)
        metadata = self.parser.to_metadata(parsed, allow_missing=lenient)
        if lenient:
            fallback_text = raw.strip()
            content = fallback_text if content is None else content
            memory = fallback_text if memory is None else memory
            if metadata is None or isinstance(metadata, dict):
                metadata = {**(metadata or {}), PARSE_ERROR_KEY: str(error)}
        return content, memory, metadata


__all__ = ["DictDialogAgent", "PARSE_ERROR_KEY"]
