"""`MemoryBase`: the interface of an agent's memory (AgentScope 0.1.6's)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Optional, Union


class MemoryBase(ABC):
    """What every memory offers; `TemporaryMemory` is the one shipped."""

    @abstractmethod
    def add(self, memories: Any, embed: bool = False) -> None:
        """Add a message, a list of messages, or None (ignored)."""

    @abstractmethod
    def delete(self, index: Union[int, Iterable[int]]) -> None:
        """Delete the messages at `index` (an int or several)."""

    @abstractmethod
    def get_memory(
        self,
        recent_n: Optional[int] = None,
        filter_func: Optional[Callable[[int, Any], bool]] = None,
    ) -> list:
        """The stored messages (the last `recent_n`, those `filter_func(i, m)` keeps)."""

    @abstractmethod
    def load(self, memories: Any, overwrite: bool = False) -> None:
        """Load messages (a file path, a JSON string, a list, one Msg)."""

    @abstractmethod
    def export(self, file_path: Optional[str] = None, to_mem: bool = False) -> Optional[list]:
        """Write the messages to `file_path`, or return them (`to_mem=True`)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget every message."""

    @abstractmethod
    def size(self) -> int:
        """How many messages are stored."""


__all__ = ["MemoryBase"]
