"""Errors of environments, with AgentScope 0.1.6's names.

    AgentScopeRpcError
    ├── EnvError                       base of the env errors (`.message`)
    │   ├── EnvNotFoundError           no child env of that name (also a KeyError)
    │   ├── EnvAlreadyExistError       a child env of that name exists already
    │   ├── EnvUnsupportedFunctionError  the env has no such function
    │   └── EnvTypeError               the env is not of the required kind
    └── EnvListenerError               a listener could not be added or run

0.1.6 keeps these in `agentscope.exception`; here they live beside the envs
until `agentscope_rpc.exception` re-exports them.
"""
from __future__ import annotations

from ..exception import AgentScopeRpcError


class EnvError(AgentScopeRpcError):
    """Base of the environment errors."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.message}"

    def __reduce__(self):  # rebuild from the constructor's own arguments
        return (type(self), self._ctor_args)

    @property
    def _ctor_args(self) -> tuple:
        return (self.message,)


class EnvNotFoundError(EnvError, KeyError):
    """No child env of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Env {name} not found.")
        self.name = name

    @property
    def _ctor_args(self) -> tuple:
        return (self.name,)


class EnvAlreadyExistError(EnvError):
    """A child env of that name exists already."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Env {name} already exist.")
        self.name = name

    @property
    def _ctor_args(self) -> tuple:
        return (self.name,)


class EnvUnsupportedFunctionError(EnvError):
    """The env has no such function."""

    def __init__(self, env_name: str, func_name: str) -> None:
        super().__init__(f"Env {env_name} doesn't have {func_name}.")
        self.env_name, self.func_name = env_name, func_name

    @property
    def _ctor_args(self) -> tuple:
        return (self.env_name, self.func_name)


class EnvTypeError(EnvError):
    """The env is not an instance of the required kind."""

    def __init__(self, env_name: str, type_name: str) -> None:
        super().__init__(f"Env {env_name} is not an instance of [{type_name}]")
        self.env_name, self.type_name = env_name, type_name

    @property
    def _ctor_args(self) -> tuple:
        return (self.env_name, self.type_name)


class EnvListenerError(AgentScopeRpcError):
    """A listener could not be added or failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.message}"

    def __reduce__(self):
        return (type(self), (self.message,))


__all__ = [
    "EnvError",
    "EnvNotFoundError",
    "EnvAlreadyExistError",
    "EnvUnsupportedFunctionError",
    "EnvTypeError",
    "EnvListenerError",
]
