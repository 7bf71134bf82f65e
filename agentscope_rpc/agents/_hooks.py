"""Hook registries (DESIGN §6).

One `HookRegistry` per agent object and one per agent class.  A class's
registry lives in that class's own `__dict__`, so a class hook never leaks to
sibling classes; it applies to the class and its subclasses through the MRO.

Pre-hook chain: hooks run in registration order, object level first, then
class level from the most derived class to `AgentBase`.  A non-None return
replaces the value passed on; None passes on the latest non-None value, or a
fresh copy of the original when every hook so far returned None.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterator, Optional

HOOK_TYPES = (
    "pre_reply",
    "post_reply",
    "pre_speak",
    "post_speak",
    "pre_observe",
    "post_observe",
)


def check_hook_type(hook_type: str) -> None:
    if hook_type not in HOOK_TYPES:
        raise ValueError(
            f"unknown hook type {hook_type!r}; expected one of {HOOK_TYPES}",
        )


class HookRegistry:
    """Ordered hooks of each type, keyed by name."""

    __slots__ = ("_hooks",)

    def __init__(self) -> None:
        self._hooks: dict[str, dict[str, Callable]] = {}

    def register(self, hook_type: str, name: str, func: Callable) -> None:
        check_hook_type(hook_type)
        if not callable(func):
            raise TypeError(f"hook {name!r} is not callable")
        self._hooks.setdefault(hook_type, {})[name] = func

    def remove(self, hook_type: str, name: str) -> bool:
        check_hook_type(hook_type)
        return self._hooks.get(hook_type, {}).pop(name, None) is not None

    def clear(self, hook_type: Optional[str] = None) -> None:
        if hook_type is None:
            self._hooks.clear()
        else:
            check_hook_type(hook_type)
            self._hooks.pop(hook_type, None)

    def get(self, hook_type: str) -> list[Callable]:
        return list(self._hooks.get(hook_type, {}).values())

    def names(self, hook_type: str) -> list[str]:
        return list(self._hooks.get(hook_type, {}))

    def __bool__(self) -> bool:
        return any(self._hooks.values())

    def __reduce__(self):
        # hooks run where they were registered: a class or agent shipped to
        # a server arrives with empty registries
        return (HookRegistry, ())


def hooks_for(obj: Any, hook_type: str) -> list[Callable]:
    """All hooks of `hook_type` that apply to `obj`, in run order."""
    found: list[Callable] = []
    own = obj.__dict__.get("_object_hooks") if hasattr(obj, "__dict__") else None
    if own:
        found.extend(own.get(hook_type))
    for klass in getattr(obj, "_hook_mro", None) or type(obj).__mro__:
        registry = klass.__dict__.get("_class_hooks")
        if registry:
            found.extend(registry.get(hook_type))
    return found


def run_pre_hooks(obj: Any, hook_type: str, value: Any, *extra: Any) -> Any:
    """Run a pre-hook chain and return the value the target should receive."""
    hooks = hooks_for(obj, hook_type)
    if not hooks:
        return value
    latest = None
    for hook in hooks:
        arg = copy.deepcopy(value) if latest is None else latest
        result = hook(obj, arg, *extra)
        if result is not None:
            latest = result
    return value if latest is None else latest


def run_post_reply_hooks(obj: Any, output: Any) -> Any:
    """post_reply hooks: same chaining as pre-hooks, on the reply's output."""
    return run_pre_hooks(obj, "post_reply", output)


def run_notify_hooks(obj: Any, hook_type: str) -> None:
    """post_speak / post_observe: called with the agent only."""
    for hook in hooks_for(obj, hook_type):
        hook(obj)


def iter_registries(klass: type) -> Iterator[HookRegistry]:
    for k in klass.__mro__:
        registry = k.__dict__.get("_class_hooks")
        if registry is not None:
            yield registry


def notify_reply_listeners(obj: Any, reply: Any) -> None:
    """Reply listeners (msghub audiences) hear each reply once it is final."""
    listeners = obj.__dict__.get("_reply_listeners") if hasattr(obj, "__dict__") else None
    if listeners and reply is not None:
        for func in list(listeners.values()):
            func(reply)


class HookOwner:
    """Object-level hooks and reply listeners; shared by agents and proxies.

    The object keeps its hooks in `self._object_hooks` (a HookRegistry).
    """

    _object_hooks: HookRegistry

    def register_hook(self, hook_type: str, name: str, func: Callable) -> None:
        self._object_hooks.register(hook_type, name, func)

    def remove_hook(self, hook_type: str, name: str) -> bool:
        return self._object_hooks.remove(hook_type, name)

    def clear_hooks(self, hook_type: Optional[str] = None) -> None:
        self._object_hooks.clear(hook_type)

    clear_all_obj_hooks = clear_hooks

    def register_reply_listener(self, name: str, func: Callable[[Any], None]) -> None:
        """Call `func(reply)` with each reply (msghub's audience).

        A local agent's listeners hear the final reply, after post_reply hooks;
        a proxy's hear the placeholder as soon as the call is made.
        """
        self.__dict__.setdefault("_reply_listeners", {})[name] = func

    def remove_reply_listener(self, name: str) -> bool:
        return self.__dict__.get("_reply_listeners", {}).pop(name, None) is not None
