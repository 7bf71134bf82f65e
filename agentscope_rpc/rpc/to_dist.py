"""`to_dist`: build an agent (or any distributable object) on an agent server.

    proxy = MyAgent("a", to_dist=True)              # a fresh child server
    proxy = MyAgent("a", to_dist={"host": h, "port": p, "token": t})
    proxy = agent.to_dist(host=h, port=p)           # move an existing one (settings + memory)
    proxy = MyAgent("a", to_dist=fleet)             # any object with place() -> to_dist options

The creation is queued on the session and the proxy returned at once
(pipelined: calls made meanwhile queue behind it on the server).  The class
travels by name when the server can import it, else by value (cloudpickle);
class blobs and the caller's model configs are content-addressed and sent
once per session.  The caller's options dict is never mutated.
"""
from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Any, Optional

import cloudpickle

from .. import runtime
from ..message import new_id
from ..models.registry import model_configs_json
from . import codec, retry_strategy
from ._proto import agent_server_pb2 as pb
from .decorators import method_kinds
from .proxy import RemoteAgent, RemoteObject

# AgentScope v0 to_dist options that mean nothing for a proxy here: accepted, ignored (docs/porting.md)
V0_IGNORED = frozenset({"max_pool_size", "max_expire_time", "max_timeout_seconds", "local_mode", "lazy_launch"})
KNOWN = frozenset({"host", "port", "token", "tls_root_cert", "tls_client_cert", "tls_client_key",
                   "tls_server_name", "retry_strategy"})


class DistConf(dict):
    """AgentScope v0's distribution settings, as a dict: `MyAgent(..., to_dist=DistConf(host=h, port=p))`."""

    def __init__(self, host: str = "localhost", port: Optional[int] = None, **options: Any) -> None:
        super().__init__(host=host, port=port, **options)


def _pem(value: Optional[str]) -> str:
    """A PEM given inline or as a path."""
    if not value:
        return ""
    if "-----BEGIN" in value:
        return value
    with open(value, encoding="utf-8") as fh:
        return fh.read()


def resolve(options: Any) -> tuple[codec.Endpoint, Any, Optional[retry_strategy.RetryBase]]:
    """Where an object goes: (endpoint, child server or None, retry strategy or None).

    `options` is True (child mode), a dict of to_dist options, or a placement
    (any object with `place() -> dict`, e.g. a server fleet), asked once per object.
    """
    if hasattr(options, "place"):
        options = options.place()
    elif isinstance(options, dict) and hasattr(options.get("host"), "place"):
        extra = {k: v for k, v in options.items() if k not in ("host", "port") and v is not None}
        options = {**options["host"].place(), **extra}
    opts = {} if options is True else dict(options or {})  # never mutate the caller's dict
    unknown = set(opts) - KNOWN - V0_IGNORED
    if unknown:
        raise TypeError(f"unknown to_dist option(s): {', '.join(sorted(unknown))}")
    retry = opts.get("retry_strategy")
    if retry is not None and not isinstance(retry, retry_strategy.RetryBase):
        raise TypeError("retry_strategy must be a RetryBase (RetryFixedTimes, RetryExponential)")
    if opts.get("port") is None:
        child = runtime.current().children.spawn()
        return child.endpoint, child, retry
    endpoint = codec.Endpoint(
        host=opts.get("host") or "localhost",
        port=int(opts["port"]),
        token=opts.get("token") or os.environ.get(codec.TOKEN_ENV, ""),
        root_cert=_pem(opts.get("tls_root_cert")),
        client_cert=_pem(opts.get("tls_client_cert")),
        client_key=_pem(opts.get("tls_client_key")),
        server_name=opts.get("tls_server_name") or "",
    )
    return endpoint, None, retry


# -- class shipping ----------------------------------------------------------------------
_SHIP_LOCK = threading.Lock()  # cloudpickle's by-value registry is process-wide: one pickler at a time
_BLOBS: "weakref.WeakKeyDictionary[type, tuple]" = weakref.WeakKeyDictionary()
_KINDS: "weakref.WeakKeyDictionary[type, dict]" = weakref.WeakKeyDictionary()


def _installed(module_name: str) -> bool:
    if module_name.split(".")[0] == "agentscope_rpc":
        return True
    path = getattr(sys.modules.get(module_name), "__file__", None) or ""
    return "site-packages" in path or "dist-packages" in path


def class_blob(klass: type) -> tuple[str, bytes]:
    """(digest, cloudpickled class) — or ("", b"") when the server can import it by name."""
    cached = _BLOBS.get(klass)
    if cached is not None:
        return cached
    with _SHIP_LOCK:
        cached = _BLOBS.get(klass)
        if cached is None:
            if _installed(klass.__module__):
                cached = ("", b"")
            else:
                module = sys.modules.get(klass.__module__)
                by_value = module is not None and klass.__module__ != "__main__"
                if by_value:
                    cloudpickle.register_pickle_by_value(module)
                try:
                    blob = cloudpickle.dumps(klass)
                finally:
                    if by_value:
                        cloudpickle.unregister_pickle_by_value(module)
                cached = (codec.digest(blob), blob)
            _BLOBS[klass] = cached
    return cached


def _kinds(klass: type) -> dict:
    kinds = _KINDS.get(klass)
    if kinds is None:
        kinds = _KINDS[klass] = method_kinds(klass)
    return kinds


_configs_cache: list = ["", "", b""]  # json text, digest, bytes


def _model_configs() -> tuple[str, bytes]:
    text = model_configs_json()
    if text != _configs_cache[0]:
        data = text.encode()
        _configs_cache[:] = [text, codec.digest(data), data]
    return _configs_cache[1], _configs_cache[2]


def _name_of(args: tuple, kwargs: dict) -> Optional[str]:
    name = kwargs.get("name", args[0] if args else None)
    return name if isinstance(name, str) else None


def create_remote_agent(klass: type, args: tuple, kwargs: dict, options: Any, agent_id: Optional[str] = None,
                        memory: Optional[list] = None) -> RemoteObject:
    """Build `klass(*args, **kwargs)` on a server; returns its proxy at once (see module docstring)."""
    endpoint, child, retry = resolve(options)
    rt = runtime.current()
    conn = rt.connection(endpoint)
    if retry is not None:
        conn.retry = retry
    digest, blob = class_blob(klass)
    configs_digest, configs = _model_configs()
    defines = []
    if blob:
        defines.append((pb.Define.CLASS, digest, blob))
    if configs_digest and configs != b"[]":
        defines.append((pb.Define.MODEL_CONFIGS, configs_digest, configs))
    else:
        configs_digest = ""
    agent_id = agent_id or f"{klass.__name__}_{new_id()}"
    request = pb.CreateRequest(
        agent_id=agent_id,
        class_name=klass.__qualname__,
        module=klass.__module__,
        class_digest=digest,
        init_args=codec.encode_args(args, kwargs),
        model_configs_digest=configs_digest,
        memory_json=codec.dumps(list(memory)) if memory else "",
    )
    ready = conn.create(request, tuple(defines))
    kind = RemoteAgent if hasattr(klass, "_class_hooks") else RemoteObject
    return kind(conn, agent_id, _kinds(klass), ready, _name_of(args, kwargs), klass, child)


def distribute_existing(obj: Any, host: Any = "localhost", port: Optional[int] = None, **options: Any) -> RemoteObject:
    """`obj.to_dist()`: rebuild the object (settings + memory) on a server; its hooks stay on the proxy."""
    args, kwargs = obj.__dict__.get("_init_settings", ((), {}))
    memory = obj.memory.get_memory() if getattr(obj, "memory", None) is not None else None
    target = host if hasattr(host, "place") else {"host": host, "port": port, **options}
    proxy = create_remote_agent(type(obj), args, kwargs, target, agent_id=getattr(obj, "agent_id", None),
                                memory=memory)
    hooks = obj.__dict__.get("_object_hooks")
    if hooks is not None and isinstance(proxy, RemoteAgent):
        proxy._object_hooks = hooks  # pylint: disable=protected-access
    return proxy
