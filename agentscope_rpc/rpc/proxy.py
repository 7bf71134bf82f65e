"""`RemoteAgent`: the proxy that stands for an agent living in a server.

Calling it (or `reply`) returns an `AsyncResult` at once; `observe` returns
at once too (it queues behind earlier calls, per-caller FIFO).  Public
methods of the agent class are forwarded the same way; public attributes
are read remotely; private ones are refused.  Hooks registered on the proxy
run here, in the orchestrator, on the remote agent's streamed speech.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
import uuid
import weakref
from typing import Any, Callable, Optional

import cloudpickle

from .. import speech
from ..agents.hooks import (HookOwner, HookRegistry, has_hooks, notify_reply_listeners, run_post_observe, run_post_reply,
                           run_pre_observe, run_pre_reply)
from ..exception import AgentCallError, AgentServerError
from . import codec
from ._proto import agent_server_pb2 as pb
from .child import ChildServer, session_token, spawn_server
from .codec import TOKEN_ENV
from .client import Endpoint, RpcClient
from .placeholder import AsyncResult
from .relay import register_proxy

log = logging.getLogger(__name__)

# AgentScope v0 to_dist options that have no meaning here; accepted, ignored
_V0_IGNORED = {"max_pool_size", "max_expire_time", "max_timeout_seconds", "local_mode", "retry_strategy", "lazy_launch"}
_KNOWN = {"host", "port", "token", "tls_root_cert", "tls_client_cert", "tls_client_key", "tls_server_name"}


def _pem(value: Optional[str]) -> str:
    """A PEM given inline or as a path."""
    if not value:
        return ""
    if "-----BEGIN" in value:
        return value
    with open(value, encoding="utf-8") as fh:
        return fh.read()


def resolve_endpoint(options: Any) -> tuple[Endpoint, Optional[ChildServer]]:
    """Where an agent goes: a fresh child server, a running one, or a fleet's pick.

    `options` is True (child mode), a dict of to_dist options, or a placement
    (any object with `place() -> dict`, e.g. a server fleet), asked once per agent.
    """
    if hasattr(options, "place"):
        options = options.place()
    elif isinstance(options, dict) and hasattr(options.get("host"), "place"):
        options = {**options.get("host").place(), **{k: v for k, v in options.items() if k not in ("host", "port") and v is not None}}
    opts = {} if options is True else dict(options or {})  # never mutate the caller's dict
    unknown = set(opts) - _KNOWN - _V0_IGNORED
    if unknown:
        raise TypeError(f"unknown to_dist option(s): {', '.join(sorted(unknown))}")
    if opts.get("port") is None:
        token = session_token()
        child = spawn_server(["--host", "127.0.0.1", "--port", "0"], token)
        return Endpoint("127.0.0.1", child.port, token), child
    token = opts.get("token") or os.environ.get(TOKEN_ENV, "")
    endpoint = Endpoint(
        host=opts.get("host") or "localhost",
        port=int(opts["port"]),
        token=token,
        root_cert=_pem(opts.get("tls_root_cert")),
        client_cert=_pem(opts.get("tls_client_cert")),
        client_key=_pem(opts.get("tls_client_key")),
        server_name=opts.get("tls_server_name") or "",
    )
    return endpoint, None


def _installed(module_name: str) -> bool:
    if module_name.split(".")[0] == "agentscope_rpc":
        return True
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None) or ""
    return "site-packages" in path or "dist-packages" in path


_BLOBS: "weakref.WeakKeyDictionary[type, bytes]" = weakref.WeakKeyDictionary()


def _class_blob(klass: type) -> bytes:
    """The class itself, by value, unless the server can import it (cached)."""
    blob = _BLOBS.get(klass)
    if blob is None:
        blob = _BLOBS[klass] = _pickle_class(klass)
    return blob


def _pickle_class(klass: type) -> bytes:
    if _installed(klass.__module__):
        return b""
    module = sys.modules.get(klass.__module__)
    by_value = module is not None and klass.__module__ != "__main__"
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(klass)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def create_remote_agent(
    klass: type,
    args: tuple,
    kwargs: dict,
    options: Any,
    agent_id: Optional[str] = None,
    memory: Optional[list] = None,
) -> "RemoteAgent":
    """Build `klass(*args, **kwargs)` on a server; return its proxy."""
    from ..models import get_model_configs

    endpoint, child = resolve_endpoint(options)
    client = RpcClient.get(endpoint)
    request = pb.CreateAgentRequest(
        agent_id=agent_id or f"{klass.__name__}_{uuid.uuid4().hex}",
        class_name=klass.__qualname__,
        module=klass.__module__,
        class_blob=_class_blob(klass),
        init_args=codec.encode_args(args, kwargs),
        model_configs=json.dumps(get_model_configs()),
        memory=json.dumps(memory) if memory else "",
    )
    reply = client.create_agent(request)
    return RemoteAgent(endpoint, reply.agent_id, reply.name, list(reply.methods), klass, child)


def distribute_existing(agent: Any, host: str = "localhost", port: Optional[int] = None, **options: Any) -> "RemoteAgent":
    """`agent.to_dist()`: rebuild the agent (settings + memory) on a server."""
    args, kwargs = agent.__dict__.get("_init_settings", ((), {}))
    memory = agent.memory.export() if getattr(agent, "memory", None) is not None else None
    proxy = create_remote_agent(
        type(agent),
        args,
        kwargs,
        {"host": host, "port": port, **options},
        agent_id=agent.agent_id,
        memory=memory,
    )
    proxy._object_hooks = agent._object_hooks  # hooks stay here, on the proxy
    return proxy


class RemoteAgent(HookOwner):
    """Proxy of an agent hosted by an agent server (see module docstring)."""

    def __init__(
        self,
        endpoint: Endpoint,
        agent_id: str,
        name: str,
        methods: list,
        agent_class: Optional[type] = None,
        child: Optional[ChildServer] = None,
    ) -> None:
        self._endpoint = endpoint
        self._client = RpcClient.get(endpoint)
        self._agent_id = agent_id
        self.name = name
        self._methods = frozenset(methods)
        self._agent_class = agent_class
        self._child = child
        self._object_hooks = HookRegistry()
        self._deferred: Optional[BaseException] = None
        register_proxy(agent_id, self)

    # -- identity ------------------------------------------------------------------------
    @property
    def agent_id(self) -> str:
        return self._agent_id

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoint

    @property
    def _hook_mro(self) -> tuple:
        return self._agent_class.__mro__ if self._agent_class is not None else ()

    def __repr__(self) -> str:
        return f"RemoteAgent(name={self.name!r}, agent_id={self._agent_id!r}, at={self._endpoint.address})"

    # -- calls -----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self._invoke("reply", args, kwargs)

    def reply(self, *args: Any, **kwargs: Any) -> AsyncResult:
        return self._invoke("reply", args, kwargs)

    def observe(self, x: Any) -> None:
        """Queue `x` into the remote agent's memory; returns at once."""
        self._raise_deferred()
        x = run_pre_observe(self, x)
        placeholder = self._client.call(self._agent_id, "observe", (x,), {}, speech.current_sinks())
        placeholder.add_done_callback(functools.partial(self._observed, x))

    def _observed(self, x: Any, placeholder: AsyncResult) -> None:
        error = placeholder.exception(0)
        if error is not None:
            log.warning("observe on %s failed: %s", self, error)
            self._deferred = error
        else:
            run_post_observe(self, x)

    def _raise_deferred(self) -> None:
        error, self._deferred = self._deferred, None
        if error is not None:
            raise AgentCallError(type(error).__name__, f"an earlier observe failed: {error}", agent_id=self._agent_id)

    def _invoke(self, method: str, args: tuple, kwargs: dict, timeout: Optional[float] = None) -> AsyncResult:
        self._raise_deferred()
        on_result: Optional[Callable[[Any], Any]] = None
        if method == "reply":
            args, kwargs = run_pre_reply(self, args, kwargs)
            if has_hooks(self, "post_reply"):
                on_result = functools.partial(run_post_reply, self, args, kwargs)
        placeholder = self._client.call(
            self._agent_id,
            method,
            args,
            kwargs,
            speech.current_sinks(),
            on_result,
            timeout,
        )
        if method == "reply":
            # listeners (msghub) hear the placeholder at once, so what they
            # observe queues in call order; remote ones fetch it server-to-server
            notify_reply_listeners(self, placeholder)
        return placeholder

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"{name!r}: private attributes of a remote agent are not readable")
        if name in self.__dict__.get("_methods", ()):
            def method(*args: Any, **kwargs: Any) -> AsyncResult:
                return self._invoke(name, args, kwargs)

            method.__name__ = name
            return method
        client = self.__dict__.get("_client")
        if client is None:
            raise AttributeError(name)
        try:
            payload = client.run(
                client.unary("GetAttribute", pb.AttributeRequest(agent_id=self._agent_id, name=name)),
            )
        except AgentServerError as err:
            if type(err) is not AgentServerError:  # auth, size cap: not about the attribute
                raise
            # the server refused this attribute (missing, a method, private):
            # AttributeError keeps getattr(proxy, name, default) and hasattr working
            raise AttributeError(f"{name!r}: {err}") from err
        return codec.decode(payload)

    # -- management --------------------------------------------------------------------
    def get_memory(self) -> list:
        """The remote agent's memory, as messages."""
        payload = self._client.run(self._client.unary("GetAgentMemory", pb.AgentRef(agent_id=self._agent_id)))
        return [codec.Msg.from_dict(d) for d in json.loads(payload.data or b"[]")]

    def delete(self) -> None:
        """Remove the agent from its server."""
        self._client.run(self._client.unary("DeleteAgent", pb.AgentRef(agent_id=self._agent_id), idempotent=False))

    def stop_server(self) -> None:
        """Stop the child server started for this agent (no-op for others)."""
        if self._child is not None:
            self._child.stop()

    # -- travelling (an agent holding a proxy to another agent) ---------------------------
    def __reduce__(self):
        return (_rebuild, (self._endpoint, self._agent_id, self.name, sorted(self._methods)))


def _rebuild(endpoint: Endpoint, agent_id: str, name: str, methods: list) -> RemoteAgent:
    return RemoteAgent(endpoint, agent_id, name, methods)
