"""`DialogAgent`: a chat agent -- system prompt + memory in, one reply out.

Small chat models imitate the `Name: ` prefixes of the conversation they are
shown and start their reply with one; a leading `Name:` naming a speaker of
the conversation is cut off (while streaming too, by holding back the first
few characters until the prefix is decided).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Optional, Union

from ..message import Msg
from .agent import AgentBase


class DialogAgent(AgentBase):
    """Replies with its model, speaking the answer as it streams.

    `model_config_name=None` uses the embedded default model (SmolLM2 run by
    llama.cpp, config "smollm2"); the model is loaded on first use.
    """

    def __init__(
        self,
        name: str,
        sys_prompt: Optional[str] = None,
        model_config_name: Optional[str] = None,
        use_memory: bool = True,
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

    def prompt(self, x: Union[Msg, list, None] = None) -> list:
        """The chat messages sent to the model for the next reply."""
        system = Msg("system", self.sys_prompt, role="system") if self.sys_prompt else None
        history = self.memory.get_memory() if self.memory is not None else x
        return self.model.format(system, history, speaker=self.name)

    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        """Remember `x`, ask the model with the system prompt and memory, speak the answer as it streams."""
        if self.memory is not None:
            self.memory.add(x)
        response = self.model(self.prompt(x))
        prefix = _NamePrefix(self._speaker_names(x))
        if response.stream is not None:
            msg = self.speak(prefix.strip_stream(response.stream))
        else:
            msg = self.speak(Msg(self.name, prefix.strip(response.text), role="assistant"))
        if self.memory is not None:
            self.memory.add(msg)
        return msg

    def _speaker_names(self, x: Union[Msg, list, None]) -> set:
        heard = self.memory.get_memory() if self.memory is not None else x
        heard = [heard] if isinstance(heard, Msg) else heard or []
        return {self.name} | {m.name for m in heard if isinstance(m, Msg) and m.role != "system"}


class _NamePrefix:
    """Recognises a leading `Name:` (one of `names`) at the start of a reply."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted({n for n in names if n}, key=len, reverse=True)
        alternatives = "|".join(re.escape(n) for n in self.names)
        self.pattern = re.compile(rf"\s*(?:{alternatives})\s*:\s*")

    def undecided(self, text: str) -> bool:
        """True while more text could still turn `text` into a prefix."""
        head = text.lstrip()
        return any(
            name.startswith(head) or (head.startswith(name) and not head[len(name):].strip())
            for name in self.names
        )

    def strip_stream(self, chunks: Iterable[tuple]) -> Iterator[tuple]:
        """Cut the prefix off a stream of `(last, text_so_far)` tuples."""
        cut: Optional[int] = None  # None: not decided yet
        try:
            for last, text in chunks:
                if cut is None:
                    match = self.pattern.match(text)
                    if match and match.end() < len(text):
                        cut = match.end()
                    elif not last and (match or self.undecided(text)):
                        continue  # hold back until the prefix is decided
                    else:
                        cut = match.end() if match else 0
                shown = text[cut:]
                if shown or last:
                    yield last, shown
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # release the model when the speaker stops early

    def strip(self, text: str) -> str:
        match = self.pattern.match(text)
        return text[match.end():] if match else text


__all__ = ["DialogAgent"]
