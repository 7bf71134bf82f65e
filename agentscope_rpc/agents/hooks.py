"""The hook runner: the one place where hooks are run.

Agents, their proxies and the speak relay all run hooks through the
`run_*` functions here (registries: `_hook_registry`).  `obj` is an agent or a proxy: its own hooks live in
`obj._object_hooks` (a `HookRegistry`); class-level hooks are looked up along
`obj._hook_mro` when it has one (a proxy: the remote agent class's MRO), else
`type(obj).__mro__`.  A class's registry sits in that class's own `__dict__`,
so a class hook applies to the class and its subclasses, never to siblings.

Rules, as AgentScope 0.1.6 runs them:

* Hooks run in registration order, object level first, then class level from
  the most derived class up.
* Every hook receives its own deep copy of the value (placeholders and agents
  inside it are shared, not copied); a non-None return replaces the value
  passed on, None passes on the latest value.  When no hook returned
  anything the target receives the original.

Two signatures, chosen once per hook when it is registered:

| hook type      | seed tutorial                  | AgentScope 0.1.6                                    |
|----------------|--------------------------------|-----------------------------------------------------|
| `pre_reply`    | `(self, x)` -> x or None       | `(self, args, kwargs)` -> (args, kwargs) or None    |
| `post_reply`   | `(self, x)` -> x or None       | `(self, args, kwargs, output)` -> output or None    |
| `pre_observe`  | `(self, x)` -> x or None       | same                                                |
| `post_observe` | `(self)` -> None               | same (`(self, x)` also accepted)                    |
| `pre_speak`    | `(self, msg, stream, last)`    | same                                                |
| `post_speak`   | `(self)` -> None               | same                                                |

A hook that requires three positional arguments (four for post_reply), or
whose second parameter is named `args`, or that takes only `*args`, gets
0.1.6's form; any other gets the seed's.

With no hooks registered a runner costs two dict lookups: no copy, no
allocation (a pre_speak chain runs once per streamed chunk).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from ._hook_registry import (
    HOOK_TYPES,
    V0,
    Hook,
    HookRegistry,
    chain as _chain,
    check_hook_type,
    has_hooks,
    hooks_for,
)

# -- copies ------------------------------------------------------------------------------
_ATOMS = (str, bytes, int, float, bool, type(None))
_NO_DICT: dict = {}


def _shared(value: Any) -> bool:
    """Values hooks get as they are: placeholders (copying one would wait) and agents."""
    kind = type(value)
    return hasattr(kind, "__agentscope_ref__") or isinstance(value, HookOwner)


def _seed_memo(value: Any, memo: dict, depth: int = 0) -> None:
    if depth > 50 or isinstance(value, _ATOMS):
        return
    if _shared(value):
        memo[id(value)] = value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _seed_memo(item, memo, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _seed_memo(item, memo, depth + 1)


def hook_copy(value: Any) -> Any:
    """The deep copy a hook receives (placeholders and agents inside are shared)."""
    if isinstance(value, _ATOMS) or _shared(value):
        return value
    memo: dict = {}
    _seed_memo(value, memo)
    return copy.deepcopy(value, memo)


# -- the runners ---------------------------------------------------------------------------
def _x_of(args: tuple, kwargs: dict) -> Any:
    if args:
        return args[0]
    return kwargs.get("x")


def _with_x(args: tuple, kwargs: dict, x: Any) -> tuple[tuple, dict]:
    if args:
        return (x,) + tuple(args[1:]), kwargs
    if "x" in kwargs:
        return args, dict(kwargs, x=x)
    return (x,), kwargs


def _args_kwargs(hook: Hook, result: Any) -> tuple[tuple, dict]:
    if (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], (tuple, list))
        and isinstance(result[1], dict)
    ):
        return tuple(result[0]), dict(result[1])
    raise TypeError(
        f"pre_reply hook {hook.name!r} takes (self, args, kwargs), so it must return "
        f"(args, kwargs) or None, not {type(result).__name__}",
    )


def run_pre_reply(obj: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """pre_reply hooks; returns the (args, kwargs) the reply receives."""
    hooks = _chain(obj, "pre_reply")
    if not hooks:
        return args, kwargs
    for hook in hooks:
        if hook.style == V0:
            result = hook.func(obj, hook_copy(tuple(args)), hook_copy(dict(kwargs)))
            if result is not None:
                args, kwargs = _args_kwargs(hook, result)
        else:
            result = hook.func(obj, hook_copy(_x_of(args, kwargs)))
            if result is not None:
                args, kwargs = _with_x(args, kwargs, result)
    return args, kwargs


def run_post_reply(obj: Any, args: tuple, kwargs: dict, output: Any) -> Any:
    """post_reply hooks on the reply's output; returns the output passed on."""
    hooks = _chain(obj, "post_reply")
    if not hooks:
        return output
    for hook in hooks:
        if hook.style == V0:
            result = hook.func(obj, hook_copy(tuple(args)), hook_copy(dict(kwargs)), hook_copy(output))
        else:
            result = hook.func(obj, hook_copy(output))
        if result is not None:
            output = result
    return output


def run_pre_observe(obj: Any, x: Any) -> Any:
    """pre_observe hooks; returns what `observe` receives."""
    hooks = _chain(obj, "pre_observe")
    for hook in hooks:
        result = hook.func(obj, hook_copy(x))
        if result is not None:
            x = result
    return x


def run_post_observe(obj: Any, x: Any = None) -> None:
    """post_observe hooks: `hook(self)`, or `hook(self, x)` for hooks taking x."""
    for hook in _chain(obj, "post_observe"):
        if hook.style == V0:
            hook.func(obj, x)
        else:
            hook.func(obj)


def run_pre_speak(obj: Any, msg: Any, stream: bool, last: bool) -> Any:
    """pre_speak hooks on one chunk (the accumulated message); returns the message shown."""
    hooks = _chain(obj, "pre_speak")
    for hook in hooks:
        result = hook.func(obj, hook_copy(msg), stream, last)
        if result is not None:
            msg = result
    return msg


def run_post_speak(obj: Any) -> None:
    """post_speak hooks, once per spoken message."""
    for hook in _chain(obj, "post_speak"):
        hook.func(obj)


def notify_reply_listeners(obj: Any, reply: Any) -> None:
    """Reply listeners (msghub audiences) hear each reply once it is final."""
    listeners = getattr(obj, "__dict__", _NO_DICT).get("_reply_listeners")
    if listeners and reply is not None:
        for func in list(listeners.values()):
            func(reply)


class HookOwner:
    """Object-level hooks and reply listeners; shared by agents and proxies.

    The object keeps its hooks in `self._object_hooks` (a HookRegistry).
    """

    _object_hooks: HookRegistry

    def register_hook(self, hook_type: str, name: str, func: Callable) -> None:
        """Register `func` as this object's hook `name` of `hook_type`.

        Signatures (either form works, see `agentscope_rpc.agents.hooks`):
        `pre_reply(self, x)` or `(self, args, kwargs)`, `post_reply(self, x)`
        or `(self, args, kwargs, output)`, `pre_observe(self, x)`,
        `post_observe(self)`, `pre_speak(self, msg, stream, last)`,
        `post_speak(self)`.  A hook returning non-None replaces the value.
        """
        self._object_hooks.register(hook_type, name, func)

    def remove_hook(self, hook_type: str, name: str) -> bool:
        """Remove this object's hook `name`; False if there was none."""
        return self._object_hooks.remove(hook_type, name)

    def clear_hooks(self, hook_type: Optional[str] = None) -> None:
        """Remove this object's hooks of `hook_type` (all types when None)."""
        self._object_hooks.clear(hook_type)

    def clear_all_obj_hooks(self) -> None:
        """Remove every object-level hook (AgentScope 0.1.6's name)."""
        self._object_hooks.clear()

    def register_reply_listener(self, name: str, func: Callable[[Any], None]) -> None:
        """Call `func(reply)` with each reply (msghub's audience).

        A local agent's listeners hear the final reply, after post_reply hooks;
        a proxy's hear the placeholder as soon as the call is made.
        """
        self.__dict__.setdefault("_reply_listeners", {})[name] = func

    def remove_reply_listener(self, name: str) -> bool:
        """Stop calling the listener `name`; False if there was none."""
        return self.__dict__.get("_reply_listeners", {}).pop(name, None) is not None


__all__ = [
    "HOOK_TYPES",
    "Hook",
    "HookRegistry",
    "HookOwner",
    "check_hook_type",
    "has_hooks",
    "hooks_for",
    "hook_copy",
    "run_pre_reply",
    "run_post_reply",
    "run_pre_observe",
    "run_post_observe",
    "run_pre_speak",
    "run_post_speak",
    "notify_reply_listeners",
]
