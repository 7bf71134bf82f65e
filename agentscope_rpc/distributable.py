"""`Distributable`: what lets a class live on an agent server (agents, environments).

    obj = MyClass(..., to_dist=True | {"host": h, "port": p} | fleet)   # built on a server
    proxy = MyClass(...).to_dist(host, port)                             # moved there

A subclass's constructor arguments are recorded (`_init_settings`) so the
object can be rebuilt on a server; `to_dist=` in the constructor builds it
only there and returns its proxy.  The transport (`rpc.to_dist`) is
imported only when an object is distributed.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional


class InitSettings(tuple):
    """`(args, kwargs)` of an object's outermost constructor call.

    Unpacks as a pair; AgentScope 0.1.6 programs read it as a dict too:
    `agent._init_settings["args"]`, `agent._init_settings["kwargs"]`.
    """

    __slots__ = ()

    def __new__(cls, args: tuple, kwargs: dict) -> "InitSettings":
        return super().__new__(cls, (tuple(args), dict(kwargs)))

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if key == "args":
            key = 0
        elif key == "kwargs":
            key = 1
        return tuple.__getitem__(self, key)

    def __reduce__(self):
        return (InitSettings, (tuple.__getitem__(self, 0), tuple.__getitem__(self, 1)))


def recording_init(init: Callable) -> Callable:
    """Wrap a subclass's `__init__`: drop `to_dist=`, record the outermost call's arguments."""
    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("to_dist", None)
        if "_init_settings" not in self.__dict__:
            self.__dict__["_init_settings"] = InitSettings(args, kwargs)
        init(self, *args, **kwargs)

    wrapper.__agentscope_hooked__ = True  # type: ignore[attr-defined]
    return wrapper


class Distributable:
    """Base of classes an agent server may build (see module docstring)."""

    __agentscope_distributable__ = True  # the server's class registry accepts it

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__agentscope_hooked__", False):
            cls.__init__ = recording_init(init)  # type: ignore[misc]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        dist = kwargs.get("to_dist")
        if dist:
            from .rpc.to_dist import create_remote_agent  # lazy: the transport layer

            kwargs = {k: v for k, v in kwargs.items() if k != "to_dist"}
            return create_remote_agent(cls, args, kwargs, dist)
        return super().__new__(cls)

    def to_dist(self, host: Any = "localhost", port: Optional[int] = None, **options: Any) -> Any:
        """Move this object into an agent server; returns the proxy to use from then on.

        It is rebuilt there from its constructor arguments (an agent: with its
        memory, its `agent_id`, and its hooks staying here, on the proxy).
        Without `port`, a fresh child server is started for it (with a fresh
        random token; it stops when the program ends); with `port`, the server
        at `host:port`; `host` may also be a fleet (any object with
        `place()`).  `options`: `token` (default: `$AGENTSCOPE_RPC_TOKEN`),
        `tls_root_cert`, `tls_client_cert`, `tls_client_key` (PEM text or a
        path), `tls_server_name`, `retry_strategy` (a `RetryBase`, for
        connecting); AgentScope 0.1.6's `max_pool_size`, `max_expire_time`,
        `max_timeout_seconds`, `local_mode` and `lazy_launch` are accepted and
        ignored (docs/porting.md).
        """
        from .rpc.to_dist import distribute_existing  # lazy: the transport layer

        return distribute_existing(self, host=host, port=port, **options)


__all__ = ["Distributable", "InitSettings", "recording_init"]
