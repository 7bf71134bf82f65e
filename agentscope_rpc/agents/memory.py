"""An agent's short-term memory: an ordered list of messages.

A placeholder (the not-yet-known reply of a distributed agent, as a msghub
forwards it) may be added too; it is resolved, in place, when the memory is
read.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterable, Optional, Union

from ..message import Msg


class TemporaryMemory:
    """In-process message memory; serialisable with `export`/`load`."""

    def __init__(self) -> None:
        self._messages: list[Msg] = []
        self._lock = threading.Lock()

    def add(self, memories: Union[Msg, Iterable[Msg], None]) -> None:
        if memories is None:
            return
        if isinstance(memories, Msg) or _is_placeholder(memories):
            memories = [memories]
        items = list(memories)
        for item in items:
            if not isinstance(item, Msg) and not _is_placeholder(item):
                raise TypeError(f"memory holds Msg objects, not {type(item).__name__}")
        with self._lock:
            self._messages.extend(items)

    def get_memory(
        self,
        recent_n: Optional[int] = None,
        filter_func: Optional[Callable[[int, Msg], bool]] = None,
    ) -> list[Msg]:
        with self._lock:
            items = list(self._messages)
        if any(_is_placeholder(m) for m in items):
            items = self._resolve(items)
        if recent_n is not None:
            items = items[-recent_n:] if recent_n > 0 else []
        if filter_func is not None:
            items = [m for i, m in enumerate(items) if filter_func(i, m)]
        return items

    def _resolve(self, items: list) -> list:
        resolved = [m.result() if _is_placeholder(m) else m for m in items]
        with self._lock:  # keep the values so each placeholder is read once
            for i, (old, new) in enumerate(zip(items, resolved)):
                if old is not new and i < len(self._messages) and self._messages[i] is old:
                    self._messages[i] = new
        return resolved

    def delete(self, index: Union[int, Iterable[int]]) -> None:
        indices = {index} if isinstance(index, int) else set(index)
        with self._lock:
            size = len(self._messages)
            bad = [i for i in indices if not -size <= i < size]
            if bad:
                raise IndexError(f"memory index out of range: {sorted(bad)}")
            normal = {i % size for i in indices}
            self._messages = [m for i, m in enumerate(self._messages) if i not in normal]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def size(self) -> int:
        return len(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def export(self) -> list[dict]:
        """The memory as a list of JSON-able dicts."""
        return [m.to_dict() for m in self.get_memory()]

    def load(self, data: Iterable[dict], overwrite: bool = True) -> None:
        msgs = [Msg.from_dict(d) for d in data]
        with self._lock:
            if overwrite:
                self._messages = msgs
            else:
                self._messages.extend(msgs)

    def __getstate__(self) -> dict:
        return {"messages": self.export()}

    def __setstate__(self, state: dict) -> None:
        self._lock = threading.Lock()
        self._messages = [Msg.from_dict(d) for d in state.get("messages", [])]


def _is_placeholder(item: object) -> bool:
    return hasattr(type(item), "__agentscope_ref__")
