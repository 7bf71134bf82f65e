"""How `AgentBase` wraps what a subclass defines.

`_Hooked` puts hooks around the outermost call of `reply` / `observe`, so
hooks fire once per call even when a subclass chains `super().reply()`, and a
hook calling its own target does not recurse.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
from typing import Any, Callable, Optional

# (id(agent), "reply"|"observe") pairs whose hooks already run in this context
_ACTIVE: contextvars.ContextVar[frozenset] = contextvars.ContextVar(
    "agentscope_rpc_active_hooks",
    default=frozenset(),
)


class _Hooked:
    """A reply/observe implementation with hooks around its outermost call.

    A descriptor (not a closure) so that agent classes pickle by value.
    """

    __agentscope_hooked__ = True

    def __init__(self, kind: str, func: Callable) -> None:
        self.kind = kind
        self.func = func
        self.__wrapped__ = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__qualname__ = getattr(func, "__qualname__", func.__name__)
        self._is_async = inspect.iscoroutinefunction(func)  # asked once: __get__ runs per call

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        if self._is_async:
            return functools.partial(self.call_async, obj)
        return functools.partial(self.call, obj)

    def _enter(self, obj: Any) -> Optional[contextvars.Token]:
        key = (id(obj), self.kind)
        active = _ACTIVE.get()
        if key in active:  # a super() chain or a hook calling its target
            return None
        return _ACTIVE.set(active | {key})

    def call(self, obj: "Any", *args: Any, **kwargs: Any) -> Any:
        token = self._enter(obj)
        if token is None:
            return self.func(obj, *args, **kwargs)
        try:
            return obj._call_with_hooks(self.kind, self.func, args, kwargs)
        finally:
            _ACTIVE.reset(token)

    async def call_async(self, obj: "Any", *args: Any, **kwargs: Any) -> Any:
        token = self._enter(obj)
        if token is None:
            return await self.func(obj, *args, **kwargs)
        try:
            return await obj._call_with_hooks_async(self.kind, self.func, args, kwargs)
        finally:
            _ACTIVE.reset(token)

    __call__ = call  # AgentBase.observe(agent, x) still works

    def __reduce__(self):
        return (_Hooked, (self.kind, self.func))


def hooked(kind: str, func: Callable) -> Callable:
    """Wrap a reply/observe implementation so hooks run around the outermost call."""
    if getattr(func, "__agentscope_hooked__", False):
        return func
    return _Hooked(kind, func)  # type: ignore[return-value]


def speak_hooks(obj: "Any", runner: Callable, *args: Any, default: Any = None) -> Any:
    """Run speak hooks, except for a `speak` that a speak hook itself made."""
    key = (id(obj), "speak")
    active = _ACTIVE.get()
    if key in active:
        return default
    token = _ACTIVE.set(active | {key})
    try:
        return runner(obj, *args)
    finally:
        _ACTIVE.reset(token)


__all__ = ["hooked", "speak_hooks"]
