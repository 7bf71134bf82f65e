"""Environments (AgentScope 0.1.6's `agentscope.environment`), pure Python.

`Env` is the interface, `BasicEnv` the base to build envs on (name,
children, listeners), `EventListener` what reacts to an `@event_func`
method, `Event` what it receives.  Envs distribute like agents:
`MyEnv(..., to_dist=...)` or `env.to_dist(...)`.
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
