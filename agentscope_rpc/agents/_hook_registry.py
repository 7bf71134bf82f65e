"""Hook registries: where hooks are stored and how each is to be called.

`HookRegistry` holds one object's (or one class's) hooks by type and name;
each registered function is wrapped once in a `Hook` recording its calling
style, so the runners in `agentscope_rpc.agents.hooks` never inspect a
signature per call.  Class-level chains are cached per class (or per a
proxy's `_hook_mro`) and dropped whenever a class registry changes.
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable, Optional

HOOK_TYPES = (
    "pre_reply",
    "post_reply",
    "pre_speak",
    "post_speak",
    "pre_observe",
    "post_observe",
)
"""Every hook type: the `hook_type` values that `register_hook`,
`register_class_hook` and friends accept (any other raises `ValueError`)."""

SEED, V0 = 0, 1  # calling styles: the seed tutorial's, AgentScope 0.1.6's
_EMPTY: tuple = ()
_EMPTY_DICT: dict = {}
_NO_CHAINS: dict = {hook_type: _EMPTY for hook_type in HOOK_TYPES}

# How many hooks of each type are registered anywhere (object or class level).
# Zero means "none can apply", the runners' fast exit; counted up before a hook
# is published and down after it is withdrawn, so it never reads 0 too early.
_REGISTERED: dict = {hook_type: 0 for hook_type in HOOK_TYPES}
_COUNT_LOCK = threading.Lock()


def _count(hook_type: str, delta: int) -> None:
    if delta:
        with _COUNT_LOCK:
            _REGISTERED[hook_type] = max(0, _REGISTERED[hook_type] + delta)


def check_hook_type(hook_type: str) -> None:
    """Raise ValueError unless `hook_type` is one of HOOK_TYPES."""
    if hook_type not in HOOK_TYPES:
        raise ValueError(
            f"unknown hook type {hook_type!r}; expected one of {HOOK_TYPES}",
        )


# -- signatures (inspected once, at registration) --------------------------------
def _positional_shape(func: Callable) -> Optional[tuple[int, Optional[int], list]]:
    """(required, maximum or None for *args, names) of the positional parameters."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins
        return None
    required, maximum, names = 0, 0, []
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
            maximum += 1
            if param.default is param.empty:
                required += 1
        elif param.kind is param.VAR_POSITIONAL:
            return required, None, names
    return required, maximum, names


def _style(hook_type: str, func: Callable) -> int:
    """Which calling convention `func` was written for (see module docstring)."""
    if hook_type not in ("pre_reply", "post_reply", "post_observe"):
        return SEED
    shape = _positional_shape(func)
    if shape is None:
        return SEED
    required, maximum, names = shape
    if hook_type == "post_observe":  # (self) or (self, x)
        return V0 if required >= 2 else SEED
    v0_arity = 3 if hook_type == "pre_reply" else 4
    if required >= v0_arity:
        return V0
    if maximum is not None and maximum < v0_arity:
        return SEED
    if maximum is None and len(names) < 2:
        return V0  # (*args) or (self, *args): the reference's form
    return V0 if len(names) >= 2 and names[1] == "args" else SEED


class Hook:
    """One registered hook: its name, the function and its calling style."""

    __slots__ = ("name", "func", "style", "hook_type")

    def __init__(self, hook_type: str, name: str, func: Callable) -> None:
        self.hook_type = hook_type
        self.name = name
        self.func = func
        self.style = _style(hook_type, func)

    @property
    def takes_args_kwargs(self) -> bool:
        """True when the hook uses AgentScope 0.1.6's (args, kwargs) form."""
        return self.style == V0

    def __repr__(self) -> str:
        return f"Hook({self.hook_type}, {self.name!r})"


# -- registries -------------------------------------------------------------------
class _ClassChains:
    """Class-level chains per class (or per `_hook_mro`), dropped on any class registry change.

    A change first updates the registry, then swaps in an empty cache; a
    reader stores what it computed into the cache it started from, so a
    chain computed before a change never outlives it.
    """

    def __init__(self) -> None:
        self.cache: dict = {}  # class or mro tuple -> {hook_type: tuple of Hook}

    def changed(self) -> None:
        self.cache = {}

    def compute(self, cache: dict, key: Any, mro: tuple, hook_type: str) -> tuple:
        hooks: list = []
        for klass in mro:
            registry = klass.__dict__.get("_class_hooks")
            if registry is not None:
                hooks.extend(registry.chain(hook_type))
        found = tuple(hooks) if hooks else _EMPTY
        per = cache.get(key)
        if per is None:
            per = cache.setdefault(key, {})
        per[hook_type] = found
        return found


_CLASS_CHAINS = _ClassChains()


class HookRegistry:
    """Ordered hooks of each type, keyed by name (re-registering a name replaces it).

    `class_level=True` marks the registry of an agent class: changing it
    invalidates the cached class-level chains.
    """

    __slots__ = ("_hooks", "_chains", "_class_level")

    def __init__(self, class_level: bool = False) -> None:
        self._hooks: dict[str, dict[str, Hook]] = {}
        self._chains: dict[str, tuple] = _NO_CHAINS  # every type present; replaced, never mutated
        self._class_level = class_level

    def _changed(self, hook_type: Optional[str]) -> None:
        if hook_type is None:
            self._chains = _NO_CHAINS
        else:
            hooks = self._hooks.get(hook_type)
            chains = dict(self._chains)
            chains[hook_type] = tuple(hooks.values()) if hooks else _EMPTY
            self._chains = chains  # readers see the old dict or the new one, never half of it
        if self._class_level:
            _CLASS_CHAINS.changed()

    def register(self, hook_type: str, name: str, func: Callable) -> None:
        """Add (or replace) the hook `name` of `hook_type`."""
        check_hook_type(hook_type)
        if not callable(func):
            raise TypeError(f"hook {name!r} is not callable")
        hooks = self._hooks.setdefault(hook_type, {})
        if name not in hooks:
            _count(hook_type, 1)
        hooks[name] = Hook(hook_type, name, func)
        self._changed(hook_type)

    def remove(self, hook_type: str, name: str) -> bool:
        """Remove the hook `name`; False if there was none."""
        check_hook_type(hook_type)
        removed = self._hooks.get(hook_type, {}).pop(name, None) is not None
        if removed:
            self._changed(hook_type)
            _count(hook_type, -1)
        return removed

    def clear(self, hook_type: Optional[str] = None) -> None:
        """Remove every hook (of `hook_type`, or of all types)."""
        if hook_type is None:
            dropped, self._hooks = self._hooks, {}
        else:
            check_hook_type(hook_type)
            dropped = {hook_type: self._hooks.pop(hook_type, {})}
        self._changed(hook_type)
        for kind, hooks in dropped.items():
            _count(kind, -len(hooks))

    def chain(self, hook_type: str) -> tuple:
        """The hooks of `hook_type` in run order (a cached tuple of `Hook`)."""
        return self._chains[hook_type]

    def get(self, hook_type: str) -> list[Callable]:
        """The functions of `hook_type`, in registration order."""
        return [hook.func for hook in self.chain(hook_type)]

    def names(self, hook_type: str) -> list[str]:
        """The names of the hooks of `hook_type`, in registration order."""
        return [hook.name for hook in self.chain(hook_type)]

    def __bool__(self) -> bool:
        return any(self._hooks.values())

    def __reduce__(self):
        # hooks run where they were registered: a class or agent shipped to
        # a server arrives with empty registries
        return (HookRegistry, (self._class_level,))




def _class_chain(obj: Any, hook_type: str) -> tuple:
    # agents define `_hook_mro = None`, so this lookup never raises for them
    mro = getattr(obj, "_hook_mro", None)
    key = type(obj) if mro is None else mro
    cache = _CLASS_CHAINS.cache
    per = cache.get(key)
    if per is not None:
        found = per.get(hook_type)
        if found is not None:
            return found
    return _CLASS_CHAINS.compute(cache, key, mro or type(obj).__mro__, hook_type)


def chain(obj: Any, hook_type: str) -> tuple:
    """The `Hook`s of `hook_type` that apply to `obj`: object level, then class level."""
    if not _REGISTERED[hook_type]:
        return _EMPTY
    registry = getattr(obj, "__dict__", _EMPTY_DICT).get("_object_hooks")
    own = _EMPTY if registry is None else registry._chains[hook_type]  # pylint: disable=protected-access
    cls = _class_chain(obj, hook_type)
    if not own:
        return cls
    return own + cls if cls else own


def has_hooks(obj: Any, hook_type: str) -> bool:
    """True if any hook of `hook_type` applies to `obj` (cheap; no allocation)."""
    if not _REGISTERED[hook_type]:
        return False
    registry = getattr(obj, "__dict__", _EMPTY_DICT).get("_object_hooks")
    if registry is not None and registry._chains[hook_type]:  # pylint: disable=protected-access
        return True
    return bool(_class_chain(obj, hook_type))


def hooks_for(obj: Any, hook_type: str) -> list[Callable]:
    """All hook functions of `hook_type` that apply to `obj`, in run order."""
    return [hook.func for hook in chain(obj, hook_type)]


__all__ = ["HOOK_TYPES", "SEED", "V0", "Hook", "HookRegistry", "check_hook_type", "chain", "has_hooks", "hooks_for"]
