"""Proxies: what stands in the caller's process for an object living in a server.

`RemoteObject` only delegates: a method call becomes a call on the
connection (a placeholder at once for `reply`/`__call__`/`@async_func`
methods, the value for the others — see `decorators`), a public attribute
is read remotely, a private one is refused.  `RemoteAgent` adds the hooks
registered on it, which run here, in the caller, on the remote agent's
replies and on its streamed speech.

A proxy is usable as soon as it exists: its creation travels on the session
ahead of its first call.  If the creation failed, the first use after that
is known raises `AgentCreationError` (so does `wait_ready()`).
"""
from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any, Callable, Optional

from .. import speech
from ..agents.hooks import (
    HookOwner,
    HookRegistry,
    has_hooks,
    notify_reply_listeners,
    run_post_observe,
    run_post_reply,
    run_pre_observe,
    run_pre_reply,
)
from ..exception import AgentCallError, AgentCreationError, AgentScopeRpcError, AgentServerError, AgentServerNotAliveError
from ..message import Msg
from . import codec
from ._proto import agent_server_pb2 as pb
from .placeholder import AsyncResult

log = logging.getLogger(__name__)


class RemoteObject:
    """Proxy of an object hosted by an agent server.

    `proxy(x)` / `proxy.reply(x)` and `@async_func` methods return an
    `AsyncResult` at once; other public methods wait and return the value;
    public attributes are read remotely; private ones raise AttributeError.
    The creation is pipelined: a failed one raises `AgentCreationError` at
    the first use after it is known, and from `wait_ready()`.
    """

    def __init__(self, connection: Any, agent_id: str, methods: dict, ready: AsyncResult,
                 name: Optional[str] = None, agent_class: Optional[type] = None, child: Any = None) -> None:
        self._conn = connection
        self._agent_id = agent_id
        self._methods = methods  # public method name -> returns a placeholder
        self._ready = ready  # settles with (Created, server instance id) or the creation's error
        self._name = name
        self._agent_class = agent_class
        self._child = child
        self._deferred: Optional[BaseException] = None  # an observe that failed: raised on next use
        self._observing: list = []  # observes in flight (a call made meanwhile surfaces their failure)
        connection.runtime.register_proxy(agent_id, self)

    # -- identity -------------------------------------------------------------------------
    @property
    def agent_id(self) -> str:
        """The remote object's id on its server."""
        return self._agent_id

    @property
    def endpoint(self) -> codec.Endpoint:
        """The server it lives on (address, token, TLS settings)."""
        return self._conn.endpoint

    @property
    def host(self) -> str:
        """Its server's host (AgentScope v0)."""
        return self._conn.endpoint.host

    @property
    def port(self) -> int:
        """Its server's port (AgentScope v0)."""
        return self._conn.endpoint.port

    @property
    def client(self) -> Any:
        """An `RpcClient` for this object's server (AgentScope v0)."""
        from .client import RpcClient

        return RpcClient.for_connection(self._conn)

    @property
    def name(self) -> str:
        """Its name (known locally when given to the constructor, else asked of the server)."""
        if self._name is None:
            self._name = self.wait_ready()._ready.result()[0].name
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, agent_id={self._agent_id!r}, at={self.endpoint.address})"

    # -- readiness ----------------------------------------------------------------------------
    def wait_ready(self, timeout: Optional[float] = None) -> "RemoteObject":
        """Wait until the server has built the object; raises AgentCreationError if it could not."""
        try:
            self._ready.result(timeout)
        except AgentScopeRpcError:  # creation refused, server unreachable, wrong token, timeout
            raise
        except Exception as err:  # pylint: disable=broad-except
            raise AgentCreationError(f"creating {self._agent_id} failed: {err}") from err
        return self

    def _check_usable(self) -> None:
        ready = self._ready
        if ready.done():
            error = ready.exception(0)
            if error is not None:
                self.wait_ready()  # raises it as AgentCreationError
            instance = ready.result(0)[1]
            current = self._conn.instance_id
            if instance and current and current != instance:
                raise AgentServerNotAliveError(
                    f"agent server {self.endpoint.address} restarted: {self._label()} was lost with it",
                    self.endpoint.host, self.endpoint.port,
                )
        failure = self.take_observe_failure()
        if failure is not None:
            raise failure

    def _label(self) -> str:
        return f"{self._name} ({self._agent_id})" if self._name else self._agent_id

    # -- calls ------------------------------------------------------------------------------------
    def _call(self, method: str, args: tuple, kwargs: dict, on_result: Optional[Callable[[Any], Any]] = None,
              timeout: Optional[float] = None) -> AsyncResult:
        self._check_usable()
        sinks = speech.current_sinks()
        observing = self._observing
        if observing:
            observing[:] = [p for p in observing if not p.done()]
        placeholder = self._conn.call(self._agent_id, method, args, kwargs, sinks, self, on_result, timeout,
                                      after_observes=bool(observing) and method != "observe")
        speech.track_call(placeholder, sinks)
        return placeholder

    def take_observe_failure(self) -> Optional[BaseException]:
        """The failure of an earlier observe not yet raised to the caller (then it is raised once)."""
        error, self._deferred = self._deferred, None
        if error is None or (isinstance(error, AgentScopeRpcError) and not isinstance(error, AgentCallError)):
            return error  # not the agent's failure (its creation, its server): the same error again
        return AgentCallError(type(error).__name__, f"an earlier observe failed: {error}", agent_id=self._agent_id)

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Call the remote `reply`; returns its placeholder at once."""
        return self._call("reply", args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        """`obj[key]` of the remote object (AgentScope v0: synchronous)."""
        if "__getitem__" not in self._methods:
            raise TypeError(f"{type(self).__name__} for {self._label()} is not subscriptable")
        return self._method("__getitem__")(key)

    def _method(self, name: str) -> Callable[..., Any]:
        returns_placeholder = self._methods[name]

        def method(*args: Any, **kwargs: Any) -> Any:
            placeholder = self._call(name, args, kwargs)
            return placeholder if returns_placeholder else placeholder.result()

        method.__name__ = name
        return method

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"{name!r}: private attributes of a remote object are not readable")
        methods = self.__dict__.get("_methods")
        if methods is None:
            raise AttributeError(name)
        if name in methods:
            return self._method(name)
        self._check_usable()
        self.wait_ready()
        try:
            payload = self._conn.run("GetAttribute", pb.AttributeRequest(agent_id=self._agent_id, name=name))
        except AgentServerError as err:
            if type(err) is not AgentServerError:  # auth, size cap: not about the attribute
                raise
            # the server refused this attribute (missing, a method, private):
            # AttributeError keeps getattr(proxy, name, default) and hasattr working
            raise AttributeError(f"{name!r}: {err}") from err
        return codec.decode(payload, self._conn.runtime.placeholder_from_ref)

    # -- management --------------------------------------------------------------------------------
    def delete(self) -> None:
        """Remove the object from its server."""
        self.wait_ready()
        self._conn.run("DeleteAgent", pb.AgentRef(agent_id=self._agent_id), idempotent=False)

    def stop_server(self) -> None:
        """Stop the child server started for this object (no-op for others)."""
        if self._child is not None:
            self._child.stop()

    # -- travelling (an object holding a proxy to another one) ---------------------------------------
    def __reduce__(self):
        # handed to another process: its calls travel on another session, so the
        # object must exist before they can arrive
        self.wait_ready()
        return (_rebuild, (type(self), self._conn.endpoint, self._agent_id, self._name, self._methods))


class RemoteAgent(HookOwner, RemoteObject):
    """Proxy of an agent: hooks registered on it run here on the remote agent's replies and speech."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._object_hooks = HookRegistry()
        RemoteObject.__init__(self, *args, **kwargs)

    @property
    def _hook_mro(self) -> tuple:
        return self._agent_class.__mro__ if self._agent_class is not None else ()

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """`agent(x)`: the remote `reply` with this proxy's hooks; returns its placeholder at once."""
        return self.reply(*args, **kwargs)

    def reply(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Call the remote `reply`; returns its placeholder at once."""
        on_result: Optional[Callable[[Any], Any]] = None
        if has_hooks(self, "pre_reply"):
            args, kwargs = run_pre_reply(self, args, kwargs)
        if has_hooks(self, "post_reply"):
            on_result = functools.partial(run_post_reply, self, args, kwargs)
        placeholder = self._call("reply", args, kwargs, on_result)
        # listeners (msghub) hear the placeholder at once, so what they observe
        # queues in call order; remote ones fetch it server-to-server
        notify_reply_listeners(self, placeholder)
        return placeholder

    def observe(self, x: Any) -> None:
        """Queue `x` into the remote agent's memory; returns at once (a failure surfaces on the next use)."""
        if has_hooks(self, "pre_observe"):
            x = run_pre_observe(self, x)
        placeholder = self._call("observe", (x,), {})
        placeholder.add_done_callback(functools.partial(self._observed, x))
        self._observing.append(placeholder)

    def _observed(self, x: Any, placeholder: AsyncResult) -> None:
        error = placeholder.exception(0)
        if error is not None:
            log.debug("observe on %s failed: %s (raised at its next use)", self, error)
            self._deferred = error
        elif has_hooks(self, "post_observe"):
            run_post_observe(self, x)

    def get_memory(self) -> list:
        """The remote agent's memory, as messages."""
        self.wait_ready()
        payload = self._conn.run("GetAgentMemory", pb.AgentRef(agent_id=self._agent_id))
        return [Msg.from_dict(d) for d in json.loads(payload.data or b"[]")]


def wait_ready(*proxies: Any, timeout: Optional[float] = None) -> list:
    """Wait until every proxy's object exists on its server (creations are pipelined); returns them.

    Raises the first creation error, as `AgentCreationError` (or the server's
    error: unreachable, wrong token).  `proxies` may also be one iterable.
    """
    if len(proxies) == 1 and not isinstance(proxies[0], RemoteObject):
        proxies = tuple(proxies[0])
    deadline = None if timeout is None else time.monotonic() + timeout
    for proxy in proxies:
        proxy.wait_ready(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return list(proxies)


def _rebuild(kind: type, endpoint: codec.Endpoint, agent_id: str, name: Optional[str], methods: dict) -> RemoteObject:
    """A proxy arriving in another process (or a copy): ready at once, hooks of its own."""
    from .. import runtime  # noqa: PLC0415  (the receiving process's current runtime)

    rt = runtime.current()
    ready = AsyncResult(on_loop=rt.in_loop_thread)
    ready._set_result((pb.Created(agent_id=agent_id, name=name or ""), ""))  # pylint: disable=protected-access
    return kind(rt.connection(endpoint), agent_id, methods, ready, name)
