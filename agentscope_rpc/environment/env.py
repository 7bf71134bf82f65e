"""`Env` and `BasicEnv`: named objects with children and event listeners.

AgentScope 0.1.6's environments, written for this project.  An env has a
`name`, a dict of named child envs (so envs form a tree) and, per event
function, a set of named listeners.  A method decorated `@event_func`
calls, when it returns, every listener bound to it with `(env, Event)`;
the call returns after all of them ran (several run in parallel threads,
as in 0.1.6) and re-raises the first listener error.

Distribution, as for agents: `MyEnv(..., to_dist=True | {...})` builds the
env only on a server and returns the proxy; `env.to_dist(host=, port=)`
rebuilds an existing env there from its constructor arguments.  The
transport layer is imported lazily, only then.  On a proxy, `__call__` and
`@async_func` methods return a placeholder at once; every other public
method is synchronous and returns its value.  Hooks are agent-only.
"""
from __future__ import annotations

import functools
import inspect
import logging
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, List, Optional

from ..distributable import Distributable

from .errors import EnvAlreadyExistError, EnvNotFoundError
from .event import Event

log = logging.getLogger(__name__)

MAX_LISTENER_THREADS = 32  # listeners of one event running at once


def trigger_listener(env: "Env", event: Event) -> None:
    """Run every listener `env` has for `event.name`, each with `(env, event)`.

    One listener runs in the calling thread; several run in parallel
    threads.  Returns when all have finished; the first error (in
    registration order) is raised after that.
    """
    listeners = env.get_listeners(event.name)
    if not listeners:
        return
    if len(listeners) == 1:
        listeners[0](env, event)
        return
    with ThreadPoolExecutor(max_workers=min(len(listeners), MAX_LISTENER_THREADS),
                            thread_name_prefix=f"env-{event.name}") as pool:
        futures = [pool.submit(listener, env, event) for listener in listeners]
    for future in futures:
        future.result()


def event_func(func: Callable) -> Callable:
    """Make a method of an `Env` an event: its listeners run when it returns.

    The listeners receive an `Event` with the method's name, its arguments
    by parameter name (defaults applied, without `self`) and its return
    value; the method's own return value is passed on unchanged.
    """
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(f"@event_func needs a plain method; {func.__qualname__} is async")
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        returns = func(*args, **kwargs)
        env = arguments.pop(next(iter(signature.parameters)))  # self
        trigger_listener(env, Event(func.__name__, arguments, returns))
        return returns

    wrapper.__agentscope_event__ = True  # type: ignore[attr-defined]
    return wrapper


class EventListener(ABC):
    """Something to run when an event function of an env returns.

    Subclasses implement `__call__(self, env, event)`; the `name` tells
    listeners of one event apart (a name is bound at most once per event).
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def __call__(self, env: "Env", event: Event) -> None:
        """React to `event`, raised by `env`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Env(Distributable, ABC):
    """The env interface: a name, child envs, listeners of event functions.

    Implementations mark their event functions with `@event_func`;
    `BasicEnv` implements everything but `describe`.
    """


    @property
    @abstractmethod
    def name(self) -> str:
        """The env's name."""

    @abstractmethod
    def get_children(self) -> dict:
        """The child envs, by name."""

    @abstractmethod
    def add_child(self, child: "Env") -> bool:
        """Add `child` under its own name; False if that name is taken."""

    @abstractmethod
    def remove_child(self, children_name: str) -> bool:
        """Remove the child of that name; False if there is none."""

    @abstractmethod
    def add_listener(self, target_event: str, listener: EventListener) -> bool:
        """Bind `listener` to the event function `target_event`; whether it was added."""

    @abstractmethod
    def remove_listener(self, target_event: str, listener_name: str) -> bool:
        """Unbind the listener of that name from `target_event`; whether it was removed."""

    @abstractmethod
    def get_listeners(self, target_event: str) -> List[EventListener]:
        """The listeners bound to `target_event`, in the order they were added."""

    @abstractmethod
    def __getitem__(self, env_name: str) -> "Env":
        """The child env of that name (`EnvNotFoundError` if none)."""

    @abstractmethod
    def __setitem__(self, env_name: str, env: "Env") -> None:
        """Add `env` as the child called `env_name` (`EnvAlreadyExistError` if taken)."""

    @abstractmethod
    def describe(self, **kwargs: Any) -> str:
        """A description of the env's current state."""


class BasicEnv(Env):
    """An `Env` with children and listeners, no value and no event function.

    The base to build envs on: subclasses add state and `@event_func`
    methods (and `describe`).
    """

    def __init__(
        self,
        name: str,
        listeners: Optional[dict] = None,
        children: Optional[Iterable[Env]] = None,
    ) -> None:
        """`listeners` maps an event function's name to a listener or a list of them."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"an env's name must be a non-empty str, not {name!r}")
        self._name = name
        self.children: dict = {}
        for child in children or ():
            self.children[child.name] = child
        self.event_listeners: dict = {}
        for target_event, given in (listeners or {}).items():
            for listener in (given if isinstance(given, (list, tuple)) else [given]):
                self.add_listener(target_event, listener)

    @property
    def name(self) -> str:
        """The env's name."""
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, children={sorted(self.children)!r})"

    # -- children ------------------------------------------------------------------------
    def get_children(self) -> dict:
        """The child envs, by name (the env's own dict)."""
        return self.children

    def add_child(self, child: Env) -> bool:
        """Add `child` under its own name; False if that name is taken."""
        if child.name in self.children:
            return False
        self.children[child.name] = child
        return True

    def remove_child(self, children_name: str) -> bool:
        """Remove the child of that name; False if there is none."""
        return self.children.pop(children_name, None) is not None

    def __getitem__(self, env_name: str) -> Env:
        try:
            return self.children[env_name]
        except KeyError:
            raise EnvNotFoundError(env_name) from None

    def __setitem__(self, env_name: str, env: Env) -> None:
        if not isinstance(env, Env):
            raise TypeError(f"only an Env can be a child env, not {type(env).__name__}")
        if env_name in self.children:
            raise EnvAlreadyExistError(env_name)
        self.children[env_name] = env
        log.debug("Env[%s] is now a child of Env[%s]", env_name, self._name)

    # -- listeners -----------------------------------------------------------------------
    def add_listener(self, target_event: str, listener: EventListener) -> bool:
        """Bind `listener` to the function `target_event` of this env.

        False (with a warning) when the env has no such function or a
        listener of that name is bound to it already.
        """
        name = getattr(listener, "name", None)
        if not callable(listener) or not isinstance(name, str):
            raise TypeError(f"a listener must be callable and have a str `name`, not {listener!r}")
        if not hasattr(self, target_event):
            log.warning("Env[%s] has no event %r; listener %s not added", self._name, target_event, name)
            return False
        bound = self.event_listeners.setdefault(target_event, {})
        if name in bound:
            log.warning("Listener %s already exists in %s", name, target_event)
            return False
        bound[name] = listener
        return True

    def remove_listener(self, target_event: str, listener_name: str) -> bool:
        """Unbind the listener `listener_name` from `target_event`; False if it is not bound."""
        bound = self.event_listeners.get(target_event)
        if bound is None:
            log.warning("Env[%s] has no listeners on %r", self._name, target_event)
            return False
        if bound.pop(listener_name, None) is None:
            log.warning("Listener %s does not exist in %s", listener_name, target_event)
            return False
        return True

    def get_listeners(self, target_event: str) -> List[EventListener]:
        """The listeners bound to `target_event`, in the order they were added."""
        return list(self.event_listeners.get(target_event, {}).values())

    def describe(self, **kwargs: Any) -> str:
        """Not implemented here: envs built on `BasicEnv` describe themselves."""
        raise NotImplementedError(f"{type(self).__name__}.describe is not implemented (BasicEnv has no state)")


__all__ = ["Env", "BasicEnv", "EventListener", "event_func", "trigger_listener"]
