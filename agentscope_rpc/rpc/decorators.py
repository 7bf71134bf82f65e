"""`async_func` / `sync_func`: how a distributed object's methods answer (AgentScope v0).

On a proxy, `__call__`, `reply` and methods decorated with `@async_func`
return an `AsyncResult` at once; every other public method is synchronous:
it waits for the remote method and returns its value.  Both kinds run in
the object's mailbox, in the order the caller made them.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from .codec import FORWARDED_DUNDERS

F = TypeVar("F", bound=Callable)
ASYNC_METHODS = frozenset({"reply", "__call__"})



def async_func(func: F) -> F:
    """Mark a method whose remote calls return a placeholder at once."""
    func.__agentscope_call__ = "async"  # type: ignore[attr-defined]
    return func


def sync_func(func: F) -> F:
    """Mark a method whose remote calls wait for the value (the default for public methods)."""
    func.__agentscope_call__ = "sync"  # type: ignore[attr-defined]
    return func


def method_kinds(klass: type) -> dict[str, bool]:
    """Public methods of `klass` -> True when a remote call returns a placeholder."""
    kinds = {}
    for name in dir(klass):
        if name.startswith("_"):
            continue
        attr = getattr(klass, name, None)
        if not callable(attr) or isinstance(attr, type):
            continue
        marked = getattr(attr, "__agentscope_call__", None) or getattr(getattr(attr, "__wrapped__", None),
                                                                        "__agentscope_call__", None)
        kinds[name] = marked == "async" or (marked is None and name in ASYNC_METHODS)
    for name in FORWARDED_DUNDERS:
        if getattr(klass, name, None) is not None and getattr(object, name, None) is None:
            kinds[name] = False
    return kinds


__all__ = ["async_func", "sync_func"]
