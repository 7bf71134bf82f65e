"""Hook registries: where hooks are stored and how each is to be called.

`HookRegistry` holds one object's (or one class's) hooks by type and name;
each registered function is wrapped once in a `Hook` recording its calling
style, so the runners in `agentscope_rpc.agents.hooks` never inspect a
signature per call.  Class-level chains are cached per MRO and invalidated
whenever a class registry changes.
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

SEED, V0 = 0, 1  # calling styles: the seed tutorial's, AgentScope 0.1.6's
_EMPTY: tuple = ()


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
    """Cache of class-level chains per MRO, invalidated by any class registry change."""

    def __init__(self) -> None:
        self.version = 0
        self._cache: dict = {}  # mro tuple -> (version, {hook_type: tuple of Hook})
        self._lock = threading.Lock()

    def changed(self) -> None:
        with self._lock:
            self.version += 1
            self._cache = {}

    def chain(self, mro: tuple, hook_type: str) -> tuple:
        entry = self._cache.get(mro)
        if entry is not None and entry[0] == self.version:
            found = entry[1].get(hook_type)
            if found is not None:
                return found
        version = self.version
        hooks: list = []
        for klass in mro:
            registry = klass.__dict__.get("_class_hooks")
            if registry:
                hooks.extend(registry.chain(hook_type))
        found = tuple(hooks) if hooks else _EMPTY
        if entry is None or entry[0] != version:
            entry = (version, {})
            self._cache[mro] = entry
        entry[1][hook_type] = found
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
        self._chains: dict[str, tuple] = {}
        self._class_level = class_level

    def _changed(self, hook_type: Optional[str]) -> None:
        if hook_type is None:
            self._chains = {}
        else:
            hooks = self._hooks.get(hook_type)
            self._chains = dict(self._chains)
            self._chains[hook_type] = tuple(hooks.values()) if hooks else _EMPTY
        if self._class_level:
            _CLASS_CHAINS.changed()

    def register(self, hook_type: str, name: str, func: Callable) -> None:
        """Add (or replace) the hook `name` of `hook_type`."""
        check_hook_type(hook_type)
        if not callable(func):
            raise TypeError(f"hook {name!r} is not callable")
        self._hooks.setdefault(hook_type, {})[name] = Hook(hook_type, name, func)
        self._changed(hook_type)

    def remove(self, hook_type: str, name: str) -> bool:
        """Remove the hook `name`; False if there was none."""
        check_hook_type(hook_type)
        removed = self._hooks.get(hook_type, {}).pop(name, None) is not None
        if removed:
            self._changed(hook_type)
        return removed

    def clear(self, hook_type: Optional[str] = None) -> None:
        """Remove every hook (of `hook_type`, or of all types)."""
        if hook_type is None:
            self._hooks.clear()
        else:
            check_hook_type(hook_type)
            self._hooks.pop(hook_type, None)
        self._changed(hook_type)

    def chain(self, hook_type: str) -> tuple:
        """The hooks of `hook_type` in run order (a cached tuple of `Hook`)."""
        found = self._chains.get(hook_type)
        if found is None:
            hooks = self._hooks.get(hook_type)
            found = tuple(hooks.values()) if hooks else _EMPTY
            self._chains = {**self._chains, hook_type: found}
        return found

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


_EMPTY_DICT: dict = {}


def _own_chain(obj: Any, hook_type: str) -> tuple:
    registry = getattr(obj, "__dict__", _EMPTY_DICT).get("_object_hooks")
    return _EMPTY if registry is None else registry.chain(hook_type)


def _class_chain(obj: Any, hook_type: str) -> tuple:
    # agents define `_hook_mro = None`, so this lookup never raises for them
    mro = getattr(obj, "_hook_mro", None) or type(obj).__mro__
    return _CLASS_CHAINS.chain(mro, hook_type)


def chain(obj: Any, hook_type: str) -> tuple:
    """The `Hook`s of `hook_type` that apply to `obj`: object level, then class level."""
    own, cls = _own_chain(obj, hook_type), _class_chain(obj, hook_type)
    if not own:
        return cls
    return own + cls if cls else own


def has_hooks(obj: Any, hook_type: str) -> bool:
    """True if any hook of `hook_type` applies to `obj` (cheap; no allocation)."""
    return bool(_own_chain(obj, hook_type) or _class_chain(obj, hook_type))


def hooks_for(obj: Any, hook_type: str) -> list[Callable]:
    """All hook functions of `hook_type` that apply to `obj`, in run order."""
    return [hook.func for hook in chain(obj, hook_type)]


__all__ = ["HOOK_TYPES", "SEED", "V0", "Hook", "HookRegistry", "check_hook_type", "chain", "has_hooks", "hooks_for"]
