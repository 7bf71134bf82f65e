"""`ModelWrapperBase`: the interface every model backend implements.

A wrapper is built from one config (`config_name`, `model_type` and the
backend's own keys) and is cheap to create: heavy resources (a loaded GGUF
model, an HTTP connection pool) are acquired lazily and shared, and are not
part of the pickled state, so agents holding a wrapper can travel.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Union

from ..message import Msg, content_text
from .response import ModelResponse
from .usage import default_usage

_ROLES = ("system", "user", "assistant")


class ModelWrapperBase:
    """Call a chat model: `wrapper(messages, stream=None, **kwargs)`.

    Subclasses set `model_type` and implement `_call(messages, stream, **kwargs)`
    returning a `ModelResponse`; `messages` are OpenAI-style dicts, usually
    built with `format()`.
    """

    model_type: str = ""
    native_tools: bool = False
    """True when the backend takes OpenAI-style `tools` and returns structured tool calls
    (`FunctionCallAgent` then uses them; otherwise it uses the text protocol of `agentscope_rpc.tools.protocol`)."""

    def __init__(
        self,
        config_name: str,
        stream: bool = False,
        generate_args: Optional[dict] = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise TypeError(
                f"model config {config_name!r} ({self.model_type}) has unknown "
                f"keys: {sorted(unknown)}",
            )
        self.config_name = config_name
        self.stream = bool(stream)
        self.generate_args = dict(generate_args or {})

    def __call__(
        self,
        messages: Union[list, Msg, None],
        stream: Optional[bool] = None,
        **kwargs: Any,
    ) -> ModelResponse:
        """Run the model.  `stream=None` uses the config's `stream` setting.

        `kwargs` override the config's `generate_args` for this call.
        """
        if messages is None or isinstance(messages, Msg) or (
            isinstance(messages, list) and any(isinstance(m, Msg) for m in messages)
        ):
            messages = self.format(messages)
        do_stream = self.stream if stream is None else bool(stream)
        messages = list(messages)
        call_kwargs = {**self.generate_args, **kwargs}
        response = self._call(messages, do_stream, **call_kwargs)
        default_usage().record(self, messages, call_kwargs, response)
        return response

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        raise NotImplementedError

    def json_mode_args(self, required_keys: Iterable[str] = ()) -> dict:
        """Call kwargs that make the backend emit a JSON object, if it can.

        `{}` when the backend has no such mode; callers still parse (and
        retry) the text themselves.
        """
        del required_keys
        return {}

    def format(self, *args: Union[Msg, Iterable[Msg], None], speaker: Optional[str] = None) -> list:
        """Turn messages (or lists of them) into OpenAI-style chat dicts.

        System messages keep role "system".  With `speaker` (the name of the
        agent about to reply), that agent's own messages become "assistant"
        and everyone else's become "user" prefixed with `Name: `, which is how
        a chat model can follow a conversation of several agents.  Without it
        roles are kept as they are.
        """
        out: list[dict] = []
        for msg in _flatten(args):
            text = content_text(msg.content)
            role = msg.role if msg.role in _ROLES else "user"
            if role != "system" and speaker is not None:
                if msg.name == speaker:
                    role = "assistant"
                else:
                    role = "user"
                    text = f"{msg.name}: {text}"
            out.append({"role": role, "content": text})
        return out

    # wrappers travel with agents; subclasses drop their live resources
    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_live")}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(config_name={self.config_name!r})"


def _flatten(args: Iterable[Any]) -> Iterable[Msg]:
    for arg in args:
        if arg is None:
            continue
        if isinstance(arg, Msg):
            yield arg
        elif isinstance(arg, (list, tuple)):
            yield from _flatten(arg)
        else:
            raise TypeError(f"format() takes Msg objects or lists of them, not {type(arg).__name__}")


__all__ = ["ModelWrapperBase"]
