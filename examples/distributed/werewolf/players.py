"""The werewolf player agent and the deterministic policy model.

`WerewolfPlayer` is a `DictDialogAgent`: decisions (kill, check, witch, vote)
are JSON answers with the agent's retry-with-feedback and, when the model
still writes no usable JSON, its fallback `{"target": None, ...}` marked
`metadata["parse_failed"]` -- the moderator then applies the game's defined
fallback.  Discussion turns are free text, streamed token by token.

The player builds its model from the config dict it is given, in the process
it lives in (an agent server), without touching the process-wide registry;
so a custom model type such as `PolicyModel` works on servers that were never
told about it, and the config travels with the player.

This module is self-contained on purpose: when a server cannot import it,
the client ships `WerewolfPlayer` by value (cloudpickle), and everything it
needs comes along.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from agentscope_rpc.agents import DialogAgent, DictDialogAgent
from agentscope_rpc.message import Msg
from agentscope_rpc.models.llama_cpp_model import default_threads
from agentscope_rpc.models import (
    LlamaCppChatWrapper,
    find_smollm2_gguf,
    ModelResponse,
    ModelWrapperBase,
    OpenAIChatWrapper,
    ScriptedModelWrapper,
    load_model_by_config_name,
    read_model_configs,
)

try:
    from . import prompts as _prompts
except ImportError:  # loaded as a plain file (a server's --agent-dir)
    _spec = importlib.util.spec_from_file_location("_werewolf_prompts", Path(__file__).with_name("prompts.py"))
    _prompts = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_prompts)

# plain values only: a class shipped by value carries these, not the module
NO_ONE, OPTIONS_PREFIX = _prompts.NO_ONE, _prompts.OPTIONS_PREFIX
REQUIRED_KEYS, ANSWER_FORMATS = _prompts.REQUIRED_KEYS, _prompts.ANSWER_FORMATS
RULES, ROLE_NOTES = _prompts.RULES, _prompts.ROLE_NOTES

# The embedded default for this game: short answers, a small window.
EMBEDDED_CONFIG = {
    "config_name": "werewolf-smollm2",
    "model_type": "llama_cpp",
    "stream": True,
    "n_ctx": 2048,
    "generate_args": {"temperature": 0.7, "max_tokens": 64, "repeat_penalty": 1.15, "stop": ["\n\n"]},
}


class PolicyModel(ModelWrapperBase):
    """A stand-in for an LLM: answers sensibly and deterministically.

    It reads the legal names from the last `Options:` line it was sent and
    picks the first name of `prefer` found there, else one drawn from an RNG
    seeded by `seed` and the prompt.  Config keys: `seed`, `prefer` (names),
    `abstain` (vote "none"), `heal` (witch saves the victim), `poison` (witch
    poisons her pick), `delay` (seconds per answer, to stand in for a slow
    model), `stream`.
    """

    model_type = "werewolf_policy"

    def __init__(
        self,
        config_name: str,
        seed: int = 0,
        prefer: Optional[list] = None,
        abstain: bool = False,
        heal: bool = True,
        poison: bool = False,
        delay: float = 0.0,
        stream: bool = False,
        generate_args: Optional[dict] = None,
    ) -> None:
        super().__init__(config_name, stream=stream, generate_args=generate_args)
        self.seed, self.prefer, self.abstain = seed, list(prefer or []), abstain
        self.heal, self.poison, self.delay = heal, poison, float(delay)
        self.calls = 0

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        del kwargs
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)  # stands in for the latency of a real model
        options = _last_options(messages)
        legal = [o for o in options if o != NO_ONE]
        digest = hashlib.sha256(f"{self.seed}|{self.calls}|{json.dumps(messages)}".encode()).digest()
        pick = next((p for p in self.prefer if p in legal), None)
        if pick is None and legal:
            pick = random.Random(digest).choice(legal)
        wants_json = bool(messages) and "JSON" in str(messages[-1].get("content"))
        if wants_json:
            target = NO_ONE if self.abstain or pick is None else pick
            text = json.dumps({
                "speak": f"I choose {target}.",
                "target": target,
                "heal": self.heal,
                "poison": target if self.poison else NO_ONE,
            })
        else:
            text = f"I have my eye on {pick}." if pick else "I am listening carefully."
        if stream:
            return ModelResponse(stream=iter(re.findall(r"\s*\S+", text)))
        return ModelResponse(text=text)


def _last_options(messages: list) -> list:
    for message in reversed(messages):
        text = str(message.get("content") or "")
        at = text.rfind(OPTIONS_PREFIX)
        if at != -1:
            line = text[at + len(OPTIONS_PREFIX):].split("\n", 1)[0].strip().rstrip(".")
            return [o.strip() for o in line.split(",") if o.strip()]
    return []


class _OwnLlama:
    """One player's llama.cpp context (same interface as the shared one)."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama

    @contextlib.contextmanager
    def generating(self) -> Iterator[Any]:
        with _GENERATING:
            yield self.llama


class _ProcessLock:
    """A lock that is re-created, not copied, when shipped with the class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()

    def __reduce__(self) -> tuple:
        return (_ProcessLock, ())


_GENERATING = _ProcessLock()  # one generation at a time per process: cores are few


class OwnContextLlama(LlamaCppChatWrapper):
    """The embedded model with a llama.cpp context per player.

    llama.cpp skips the prompt prefix it evaluated last time.  A player's
    prompt only grows between its turns, so with a context of its own each
    turn evaluates just the new messages; players sharing one context would
    evict each other's prefix and re-read their whole history every turn.
    """

    def load(self) -> Any:
        own = self.__dict__.get("_live_llama")
        if own is None:
            import llama_cpp

            path = self.model_path or find_smollm2_gguf()
            threads = self.n_threads or default_threads()
            with _GENERATING:
                llama = llama_cpp.Llama(
                    model_path=path, n_ctx=self.n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False,
                )
            own = self._live_llama = _OwnLlama(llama)
        return own


_WRAPPERS = {cls.model_type: cls for cls in (OpenAIChatWrapper, ScriptedModelWrapper, PolicyModel)}
_WRAPPERS[OwnContextLlama.model_type] = OwnContextLlama


def build_model(config: dict) -> ModelWrapperBase:
    """A model wrapper from one config dict, built here (no global registration)."""
    config = dict(config)
    name = config.pop("config_name", "werewolf-model")
    model_type = config.pop("model_type")
    cls = _WRAPPERS.get(model_type)
    if cls is None:  # a type this process registered itself
        read_model_configs([{"config_name": name, "model_type": model_type, **config}])
        return load_model_by_config_name(name)
    return cls(config_name=name, **config)


def role_prompt(name: str, role: str, players: list) -> str:
    """The system prompt of one player."""
    return RULES.format(name=name, players=", ".join(players)) + " " + ROLE_NOTES[role]


def answer_format(action: str, example: str) -> str:
    """How to answer `action`, with `example` (a legal name) in the example."""
    return ANSWER_FORMATS[action].format(example=example, none=NO_ONE)


class WerewolfPlayer(DictDialogAgent):
    """One player: knows its role, answers the moderator, talks in msghubs."""

    def __init__(
        self,
        name: str,
        role: str,
        players: list,
        model_config: Optional[dict] = None,
        max_retries: int = 1,
        memory_window: int = 24,
    ) -> None:
        super().__init__(
            name=name,
            sys_prompt=role_prompt(name, role, list(players)),
            required_keys=["target"],
            max_retries=max_retries,
        )
        self.model = build_model(model_config or EMBEDDED_CONFIG)
        self.role = role
        self.memory_window = memory_window
        self.instruction = ""
        self.history_start = 0

    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        meta = x.metadata if isinstance(x, Msg) and isinstance(x.metadata, dict) else {}
        action = meta.get("action", "discuss")
        if action not in REQUIRED_KEYS:  # talk: the moderator's line says what about
            self.instruction = ""
            return DialogAgent.reply(self, x)
        options = list(meta.get("options") or [])
        legal = [o for o in options if o != NO_ONE] or [self.name]
        example = random.Random(f"{self.name}|{len(self.memory or [])}").choice(legal)
        self.parser.required_keys = list(REQUIRED_KEYS[action])
        self.format_instruction = self.instruction = answer_format(action, example)
        self.fallback = {"speak": "I pass.", **{k: None for k in REQUIRED_KEYS[action]}}
        answer = super().reply(x)
        if self.memory is not None:  # remember what was said, not the JSON around it
            self.memory.delete(len(self.memory) - 1)
            self.memory.add(Msg(self.name, str(answer.content.get("speak") or ""), role="assistant", id=answer.id))
        return answer

    def sync(self) -> bool:
        """A no-op call: it runs after everything sent to this player before it."""
        return True

    def prompt(self, x: Union[Msg, list, None] = None) -> list:
        """System prompt, the remembered conversation, then this turn's instruction.

        The instruction comes last so that the front of the prompt stays the
        same from one turn to the next (see `OwnContextLlama`).
        """
        system = Msg("system", self.sys_prompt, role="system")
        history = self.memory.get_memory() if self.memory is not None else x
        if isinstance(history, list):
            if len(history) - self.history_start > self.memory_window:
                # forget the older half at once: the prompt's front then stays
                # the same for the next turns
                self.history_start = len(history) - self.memory_window // 2
            history = history[self.history_start:]
        messages = self.model.format(system, history, speaker=self.name)
        if self.instruction:
            messages.append({"role": "user", "content": self.instruction})
        return messages


__all__ = ["WerewolfPlayer", "PolicyModel", "build_model", "EMBEDDED_CONFIG"]
