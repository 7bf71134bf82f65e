"""`Event`: what an event function did; and the capability interfaces of envs.

An event function (`@event_func`) of an `Env` hands its listeners one
`Event`: the function's name, its arguments by parameter name (defaults
applied, `self` left out) and what it returned.  `Getable`, `Setable`,
`Movable2D` and `Holdable` are the small abstract interfaces AgentScope
0.1.6 offers for envs with a value, a position or an owner.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional, Tuple


class Event:
    """One call of an event function: its `name`, `args` and `returns`."""

    __slots__ = ("_name", "_args", "_returns")

    def __init__(self, name: str, args: Optional[dict] = None, returns: Any = None) -> None:
        self._name = name
        self._args = args
        self._returns = returns

    @property
    def name(self) -> str:
        """The event function's name."""
        return self._name

    @property
    def args(self) -> Optional[dict]:
        """The arguments of the call by parameter name (without `self`)."""
        return self._args

    @property
    def returns(self) -> Any:
        """What the event function returned."""
        return self._returns

    def __repr__(self) -> str:
        return f"Event(name={self._name!r}, args={self._args!r}, returns={self._returns!r})"

    def __reduce__(self):
        return (Event, (self._name, self._args, self._returns))


class Getable(ABC):
    """An env whose value can be read."""

    @abstractmethod
    def get(self) -> Any:
        """The value of the env."""


class Setable(ABC):
    """An env whose value can be replaced."""

    @abstractmethod
    def set(self, value: Any) -> bool:
        """Replace the value; whether it was set."""


class Movable2D(ABC):
    """An env with a position in a plane."""

    @abstractmethod
    def move_by(self, x: float, y: float) -> bool:
        """Move by the vector (x, y); whether it moved."""

    @abstractmethod
    def move_to(self, x: float, y: float) -> bool:
        """Move to the point (x, y); whether it moved."""

    @abstractmethod
    def get_position(self) -> Tuple[float, float]:
        """The current position."""


class Holdable(ABC):
    """An env that one owner at a time can hold; others are refused meanwhile."""

    @abstractmethod
    def acquire(self, owner: str) -> bool:
        """Hold the env for `owner`; whether it was acquired."""

    @abstractmethod
    def release(self, owner: str) -> bool:
        """Let go of the env held by `owner`; whether it was released."""


__all__ = ["Event", "Getable", "Setable", "Movable2D", "Holdable"]
