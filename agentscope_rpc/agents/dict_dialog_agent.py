"""`DictDialogAgent`: the model must answer with a JSON object.

Small models often don't.  The answer is parsed robustly (plain JSON, a
```json block, junk around the braces, trailing commas); when parsing or the
required-keys check fails, the error is fed back to the model and it tries
again, up to `max_retries` more times.  After that the agent replies with a
defined fallback instead of raising: bad model output never crashes a game.
(A failing model *call*, `ModelCallError`, still propagates.)

The reply is `Msg(name, content=<the dict>, metadata=...)`.  What is spoken
is the value of `speak_key` (default "speak") when the dict has it, else the
whole dict; the spoken message and the reply share one id.  Metadata records
`attempts` and, on fallback, `parse_failed`, `parse_error` and `raw`.

With `json_mode=True` (default) the agent asks backends that can constrain
their output for a JSON object (`ModelWrapperBase.json_mode_args`): the
embedded llama.cpp model then follows a grammar with the required keys.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Union

from ..exception import ResponseParsingError
from ..message import Msg
from ..parsers import JsonObjectParser
from .dialog_agent import DialogAgent

PARSE_ERROR_KEY = "_parse_error"


class DictDialogAgent(DialogAgent):
    """Replies with a dict parsed from the model's JSON answer."""

    def __init__(
        self,
        name: str,
        sys_prompt: Optional[str] = None,
        model_config_name: Optional[str] = None,
        use_memory: bool = True,
        required_keys: Optional[Iterable[str]] = None,
        max_retries: int = 3,
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
        self.parser = JsonObjectParser(required_keys)
        self.max_retries = max(0, int(max_retries))
        self.fallback = dict(fallback) if fallback is not None else None
        self.speak_key = speak_key
        self.format_instruction = format_instruction or self.parser.format_instruction
        self.json_mode = json_mode

    @property
    def required_keys(self) -> list:
        return self.parser.required_keys

    def prompt(self, x: Union[Msg, list, None] = None) -> list:
        instruction = "\n\n".join(p for p in (self.sys_prompt, self.format_instruction) if p)
        system = Msg("system", instruction, role="system")
        history = self.memory.get_memory() if self.memory is not None else x
        return self.model.format(system, history, speaker=self.name)

    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        if self.memory is not None:
            self.memory.add(x)
        messages = self.prompt(x)
        error: Optional[ResponseParsingError] = None
        text = ""
        attempts = 0
        extra = self.model.json_mode_args(self.required_keys) if self.json_mode else {}
        for attempts in range(1, self.max_retries + 2):
            text = self.model(messages, stream=False, **extra).text
            try:
                parsed = self.parser.parse(text)
            except ResponseParsingError as exc:
                error = exc
                messages = messages + [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": self._feedback(exc)},
                ]
                continue
            return self._answer(parsed, {"attempts": attempts})
        assert error is not None
        return self._answer(
            self._fallback_content(error),
            {"attempts": attempts, "parse_failed": True, "parse_error": str(error), "raw": text},
        )

    def _feedback(self, error: ResponseParsingError) -> str:
        return f"Your answer could not be used: {error}. {self.format_instruction}"

    def _fallback_content(self, error: ResponseParsingError) -> dict:
        if self.fallback is not None:
            return dict(self.fallback)
        content: dict = {key: None for key in self.required_keys}
        content[PARSE_ERROR_KEY] = str(error)
        return content

    def _answer(self, content: dict, metadata: dict) -> Msg:
        said = content.get(self.speak_key) if self.speak_key else None
        spoken = self.speak(Msg(self.name, content if said is None else said, role="assistant"))
        msg = Msg(self.name, content, role="assistant", metadata=metadata, id=spoken.id)
        if self.memory is not None:
            self.memory.add(msg)
        return msg


__all__ = ["DictDialogAgent", "PARSE_ERROR_KEY"]
