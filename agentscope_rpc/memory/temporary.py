"""`TemporaryMemory`: an agent's short-term memory, an ordered list of messages.

AgentScope 0.1.6 semantics: a message whose id is already stored is not
added again; `delete` skips an index that does not exist (with a warning);
`export` writes a JSON file or hands the messages back; `load` reads a file,
a JSON string, a list or one message.  An empty memory is still truthy, so
v0 code written as `if self.memory: self.memory.add(x)` works.

A placeholder (the not-yet-known reply of a distributed agent, as a msghub
forwards it) may be added too; it is resolved, in place, when the memory is
read.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Callable, Iterable, Optional, Union

from ..message import Msg
from ..serialize import deserialize, serialize
from .base import MemoryBase

log = logging.getLogger(__name__)


def _is_placeholder(item: object) -> bool:
    return hasattr(type(item), "__agentscope_ref__")


def _describe(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 80 else text[:77] + "..."


class TemporaryMemory(MemoryBase):
    """In-process message memory; picklable, and exportable as JSON."""

    def __init__(self, embedding_model: Any = None) -> None:
        if embedding_model is not None:
            raise NotImplementedError(
                "TemporaryMemory(embedding_model=...): embedding retrieval is not supported here "
                "(see docs/porting.md)",
            )
        self._messages: list = []
        self._ids: set = set()
        self._lock = threading.Lock()

    # -- adding ------------------------------------------------------------------
    def add(self, memories: Union[Msg, Iterable[Msg], None], embed: bool = False) -> None:
        """Add a Msg, a list of them (or placeholders), or None (ignored).

        Messages whose id is already stored are skipped.  Anything that is
        not a message raises TypeError and nothing of the call is added.
        """
        if embed:
            raise NotImplementedError("add(embed=True): embedding retrieval is not supported here")
        if memories is None:
            return
        if isinstance(memories, Msg) or _is_placeholder(memories):
            items = [memories]
        elif isinstance(memories, (str, bytes, dict)):
            items = [memories]  # rejected below with a clear message
        else:
            try:
                items = list(memories)
            except TypeError:
                items = [memories]
        for item in items:
            if not isinstance(item, Msg) and not _is_placeholder(item):
                raise TypeError(
                    f"memory holds Msg objects (or lists of them), not {type(item).__name__}: "
                    f"{_describe(item)}",
                )
        with self._lock:
            for item in items:
                if isinstance(item, Msg):
                    if item.id in self._ids:
                        continue
                    self._ids.add(item.id)
                self._messages.append(item)

    # -- reading -----------------------------------------------------------------
    def get_memory(
        self,
        recent_n: Optional[int] = None,
        filter_func: Optional[Callable[[int, Msg], bool]] = None,
    ) -> list:
        """The stored messages, oldest first (a new list).

        `recent_n`: only the last n (0 or less: none).  `filter_func(i, msg)`:
        keep those it accepts, `i` counting within what `recent_n` left.
        """
        with self._lock:
            items = list(self._messages)
        if any(_is_placeholder(m) for m in items):
            items = self._resolve()
        if recent_n is not None:
            items = items[-recent_n:] if recent_n > 0 else []
        if filter_func is not None:
            items = [m for i, m in enumerate(items) if filter_func(i, m)]
        return items

    def _resolve(self) -> list:
        """Replace placeholders by their values (each read once); drop repeats of an id."""
        with self._lock:
            pending = [m for m in self._messages if _is_placeholder(m)]
        values = {id(p): p.result() for p in pending}  # waits outside the lock
        for value in values.values():
            if not isinstance(value, Msg):
                raise TypeError(
                    f"a reply added to memory resolved to a {type(value).__name__}, not a Msg: "
                    f"{_describe(value)}",
                )
        with self._lock:
            kept: list = []
            seen: set = set()
            for item in self._messages:
                value = values.get(id(item), item)
                if isinstance(value, Msg):
                    if value.id in seen:
                        continue
                    seen.add(value.id)
                kept.append(value)
            self._messages, self._ids = kept, seen
            return list(kept)

    def size(self) -> int:
        """How many messages are stored."""
        return len(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def __bool__(self) -> bool:
        return True  # a memory exists even when empty (`if self.memory:` in v0 code)

    # -- removing ------------------------------------------------------------------
    def delete(self, index: Union[int, Iterable[int]]) -> None:
        """Delete the messages at `index` (an int or several; negative counts from the end).

        An index out of range is skipped with a warning, as AgentScope 0.1.6 does.
        """
        indices = [index] if isinstance(index, int) else list(index)
        with self._lock:
            size = len(self._messages)
            if size == 0:
                log.warning("memory is empty: nothing to delete")
                return
            bad = sorted(i for i in indices if not -size <= i < size)
            if bad:
                log.warning("memory has %d messages: skipping invalid index %s", size, bad)
            drop = {i % size for i in indices if -size <= i < size}
            self._messages = [m for i, m in enumerate(self._messages) if i not in drop]
            self._ids = {m.id for m in self._messages if isinstance(m, Msg)}

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages = []
            self._ids = set()

    # -- export / load ---------------------------------------------------------------
    def export(self, file_path: Optional[str] = None, to_mem: bool = False) -> Optional[list]:
        """The messages: `to_mem=True` returns them as Msgs; `file_path` writes them as JSON.

        With neither, returns them as JSON-able dicts (how an agent's memory
        travels to a server).
        """
        if to_mem:
            return self.get_memory()
        if file_path is not None:
            with open(file_path, "w", encoding="utf-8") as fh:
                fh.write(serialize(self.get_memory()))
            return None
        return [m.to_dict() for m in self.get_memory()]

    def load(self, memories: Union[str, Msg, list], overwrite: bool = False) -> None:
        """Load messages from a file path, a JSON string, a list (of Msgs or dicts) or a Msg.

        `overwrite=True` replaces what is stored; otherwise they are appended
        (ids already stored are skipped).
        """
        if isinstance(memories, str):
            text = memories
            if os.path.isfile(memories):
                with open(memories, encoding="utf-8") as fh:
                    text = fh.read()
            try:
                memories = deserialize(text)
            except ValueError as exc:
                raise ValueError(f"cannot load memories: not a file nor JSON ({exc})") from exc
        if isinstance(memories, Msg):
            memories = [memories]
        if not isinstance(memories, (list, tuple)):
            raise TypeError(
                f"load() takes a file path, a JSON string, a Msg or a list of them, "
                f"not {type(memories).__name__}",
            )
        msgs = [Msg.from_dict(m) if isinstance(m, dict) else m for m in memories]
        for m in msgs:
            if not isinstance(m, Msg):
                raise TypeError(f"load() expects messages, got {type(m).__name__}: {_describe(m)}")
        if overwrite:
            self.clear()
        self.add(msgs)

    # -- travelling ------------------------------------------------------------------
    def __getstate__(self) -> dict:
        return {"messages": self.export()}

    def __setstate__(self, state: dict) -> None:
        self._lock = threading.Lock()
        self._messages = []
        self._ids = set()
        self.add([Msg.from_dict(d) for d in state.get("messages", [])])


__all__ = ["TemporaryMemory"]
