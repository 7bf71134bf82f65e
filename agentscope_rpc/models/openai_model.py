"""`model_type="openai_chat"`: any OpenAI-compatible chat endpoint, over httpx.

Works with OpenAI, vLLM, Ollama, DashScope compatible mode and the llama.cpp
server.  Config keys: `model_name`, `api_key` (else env OPENAI_API_KEY; none
is fine for local servers), `base_url` (or `client_args.base_url`, as in
AgentScope), `stream`, `generate_args`, `timeout` (s), `max_retries`,
`retry_base_delay`, `retry_max_delay` (s), `headers`, `json_mode` (True: the
endpoint supports `response_format={"type": "json_object"}`, which agents
that need JSON then request), `native_tools` (default True: the endpoint
takes `tools` and streams `delta.tool_calls`; False: tool-using agents use
the tagged text protocol of `agentscope_rpc.tools.protocol` instead).

Transient failures -- connection errors, timeouts, HTTP 408/409/429/5xx --
are retried with bounded exponential backoff plus jitter; other 4xx fail at
once.  A stream is retried only before its first token was delivered, so a
reply is never duplicated.  When retries run out, `ModelCallError` carries
`status_code` (None for transport errors) and an excerpt of the body.
"""
from __future__ import annotations

import json
import logging
import os
import random
import time
from typing import Any, Iterable, Iterator, Optional

import httpx

from ..exception import ModelCallError
from .model import ModelWrapperBase
from .response import ModelResponse, merge_tool_call_deltas

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUSES = frozenset({408, 409, 429})
_BODY_EXCERPT = 500
# transport errors that retrying cannot fix
_FATAL_TRANSPORT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def call_error(message: str, status_code: Optional[int] = None, body: str = "") -> ModelCallError:
    exc = ModelCallError(message)
    exc.status_code = status_code  # type: ignore[attr-defined]
    exc.body = body  # type: ignore[attr-defined]
    return exc


class _Retries:
    """Counts attempts of one call and sleeps the backoff between them."""

    def __init__(self, wrapper: "OpenAIChatWrapper") -> None:
        self.wrapper = wrapper
        self.attempt = 0

    def wait_or_raise(self, failure: str, status: Optional[int], body: str, retry_after: Optional[float]) -> None:
        w = self.wrapper
        if self.attempt >= w.max_retries:
            raise call_error(
                f"model {w.config_name!r} failed after {self.attempt + 1} attempt(s): {failure}",
                status,
                body,
            )
        delay = min(w.retry_max_delay, w.retry_base_delay * (2 ** self.attempt))
        delay *= random.uniform(0.5, 1.0)  # jitter: callers that failed together spread out
        if retry_after is not None:
            delay = min(max(delay, retry_after), w.retry_max_delay)
        self.attempt += 1
        logger.warning(
            "model %r: %s; retry %d/%d in %.2fs",
            w.config_name, failure, self.attempt, w.max_retries, delay,
        )
        time.sleep(delay)  # backoff before retrying a failed request (not coordination)


def _retry_after(response: httpx.Response) -> Optional[float]:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The `data` payloads of a server-sent-events stream, one per event."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        # "event:", "id:", "retry:" fields and ":" comments carry nothing we use
    if data:
        yield "\n".join(data)


class OpenAIChatWrapper(ModelWrapperBase):
    """POST {base_url}/chat/completions with optional SSE streaming and tools."""

    model_type = "openai_chat"
    native_tools = True

    def __init__(
        self,
        config_name: str,
        model_name: str = "",
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        client_args: Optional[dict] = None,
        stream: bool = False,
        generate_args: Optional[dict] = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        headers: Optional[dict] = None,
        organization: Optional[str] = None,
        json_mode: bool = False,
        native_tools: bool = True,
        **unknown: Any,
    ) -> None:
        super().__init__(config_name, stream=stream, generate_args=generate_args, **unknown)
        client_args = dict(client_args or {})
        self.model_name = model_name
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.base_url = (base_url or client_args.pop("base_url", None) or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = float(client_args.pop("timeout", timeout))
        self.max_retries = max(0, int(client_args.pop("max_retries", max_retries)))
        self.retry_base_delay = float(retry_base_delay)
        self.retry_max_delay = float(retry_max_delay)
        self.headers = dict(client_args.pop("default_headers", None) or {}, **(headers or {}))
        if organization:
            self.headers["OpenAI-Organization"] = organization
        if client_args:
            logger.warning("model %r: ignoring client_args %s", config_name, sorted(client_args))
        self.json_mode = bool(json_mode)
        self.native_tools = bool(native_tools)
        self._live_client: Optional[httpx.Client] = None

    def json_mode_args(self, required_keys: Iterable[str] = ()) -> dict:
        """`response_format=json_object` when the config enables `json_mode` (the keys are not enforced)."""
        del required_keys
        return {"response_format": {"type": "json_object"}} if self.json_mode else {}

    @property
    def url(self) -> str:
        """The chat completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def _client(self) -> httpx.Client:
        client = getattr(self, "_live_client", None)
        if client is None:
            headers = dict(self.headers)
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            client = self._live_client = httpx.Client(timeout=self.timeout, headers=headers)
        return client

    def close(self) -> None:
        """Close the HTTP connection pool (a later call opens a new one)."""
        client, self._live_client = getattr(self, "_live_client", None), None
        if client is not None:
            client.close()

    # -- one HTTP exchange, retried while it is transient ---------------------
    def _send(self, payload: dict, stream: bool, retries: _Retries) -> httpx.Response:
        client = self._client()
        while True:
            try:
                response = client.send(client.build_request("POST", self.url, json=payload), stream=stream)
            except _FATAL_TRANSPORT as exc:
                raise call_error(f"model {self.config_name!r}: {type(exc).__name__}: {exc}") from exc
            except httpx.TransportError as exc:
                retries.wait_or_raise(f"{type(exc).__name__}: {exc}", None, "", None)
                continue
            if response.status_code < 400:
                return response
            try:
                body = response.read().decode("utf-8", "replace")[:_BODY_EXCERPT]
            except httpx.HTTPError:
                body = ""
            finally:
                response.close()
            failure = f"HTTP {response.status_code} from {self.url}: {body}"
            if not is_retryable_status(response.status_code):
                raise call_error(f"model {self.config_name!r}: {failure}", response.status_code, body)
            retries.wait_or_raise(failure, response.status_code, body, _retry_after(response))

    def _call(self, messages: list, stream: bool, **kwargs: Any) -> ModelResponse:
        payload = {**kwargs, "model": kwargs.get("model") or self.model_name, "messages": messages}
        payload["stream"] = stream
        if stream:
            tool_calls: list = []
            raw: list = []
            return ModelResponse(
                stream=self._stream(payload, tool_calls, raw),
                raw=raw,
                tool_calls=tool_calls,
            )
        response = self._send(payload, False, _Retries(self))
        try:
            data = response.json()
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            body = response.text[:_BODY_EXCERPT]
            raise call_error(
                f"model {self.config_name!r}: unexpected response: {body}",
                response.status_code,
                body,
            ) from exc
        return ModelResponse(
            text=message.get("content") or "",
            raw=data,
            tool_calls=list(message.get("tool_calls") or []),
        )

    def _stream(self, payload: dict, tool_calls: list, raw: list) -> Iterator[str]:
        retries = _Retries(self)
        delivered = False
        while True:
            response = self._send(payload, True, retries)
            try:
                for data in sse_data(response.iter_lines()):
                    if data.strip() == "[DONE]":
                        return
                    chunk = self._decode_chunk(data, response.status_code)
                    raw.append(chunk)
                    choices = chunk.get("choices") or []
                    if not choices:
                        continue
                    delta = choices[0].get("delta") or {}
                    merge_tool_call_deltas(tool_calls, delta.get("tool_calls"))
                    if delta.get("content"):
                        delivered = True
                        yield delta["content"]
                return
            except httpx.TransportError as exc:
                failure = f"stream broke: {type(exc).__name__}: {exc}"
                if delivered:  # tokens already went out: retrying would repeat them
                    raise call_error(f"model {self.config_name!r}: {failure}") from exc
                tool_calls.clear()
                raw.clear()
                retries.wait_or_raise(failure, None, "", None)
            finally:
                response.close()

    def _decode_chunk(self, data: str, status: int) -> dict:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise call_error(
                f"model {self.config_name!r}: malformed stream event: {data[:_BODY_EXCERPT]}",
                status,
                data[:_BODY_EXCERPT],
            ) from exc
        if not isinstance(chunk, dict) or chunk.get("error"):
            raise call_error(
                f"model {self.config_name!r}: error in stream: {data[:_BODY_EXCERPT]}",
                status,
                data[:_BODY_EXCERPT],
            )
        return chunk


__all__ = ["OpenAIChatWrapper", "sse_data", "is_retryable_status", "RETRY_STATUSES"]
