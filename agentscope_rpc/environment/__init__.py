"""Environments (AgentScope 0.1.6's `agentscope.environment`), pure Python.

`Env` is the interface, `BasicEnv` the base to build envs on (name,
children, listeners), `EventListener` what reacts to an `@event_func`
method, `Event` what it receives.  Envs distribute like agents:
`MyEnv(..., to_dist=...)` or `env.to_dist(...)`.

Differences from AgentScope 0.1.6, each on purpose:

- No metaclass: `to_dist=` is handled by `Env.__new__` and the constructor
  arguments are recorded by a wrapper of each subclass's `__init__`, as for
  agents.  An empty `to_dist={}` builds the env locally, as for our agents
  (0.1.6 starts a server for it).
- The env errors (`EnvNotFoundError`, ...) live in
  `agentscope_rpc.environment.errors` (0.1.6: `agentscope.exception`);
  `EnvNotFoundError` is also a `KeyError`, and they pickle with their text.
- A listener must be callable with a str `name` (`TypeError` otherwise:
  0.1.6 fails later with an `AttributeError`); an env's name must be a
  non-empty str.  `@event_func` refuses `async def` methods (their
  listeners would run before the method did).
- One listener runs in the caller's thread; several run in parallel threads
  (0.1.6 always starts a thread pool) and the first error is raised after
  all of them finished.
- Warnings go through the standard `logging` module (0.1.6: loguru).
"""
from .env import BasicEnv, Env, EventListener, event_func
from .errors import (
    EnvAlreadyExistError,
    EnvError,
    EnvListenerError,
    EnvNotFoundError,
    EnvTypeError,
    EnvUnsupportedFunctionError,
)
from .event import Event

__all__ = [
    "Event",
    "event_func",
    "Env",
    "BasicEnv",
    "EventListener",
    "EnvError",
    "EnvNotFoundError",
    "EnvAlreadyExistError",
    "EnvUnsupportedFunctionError",
    "EnvTypeError",
    "EnvListenerError",
]
