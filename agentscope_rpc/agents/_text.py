"""`StreamText`: the text of a message being streamed.

Appending a delta costs O(delta), not O(length); the whole text is joined
only when someone reads it, so relaying or printing a chunk costs the same
however long the message already is.
"""
from __future__ import annotations

from typing import Callable, Optional


class StreamText:
    """The text of a message being streamed: appends cost O(delta), not O(length)."""

    __slots__ = ("_pieces", "_joined", "_count")

    def __init__(self) -> None:
        self._pieces: list = []
        self._joined = ""  # "".join(self._pieces[:self._count])
        self._count = 0

    def add(self, delta: str) -> str:
        """Append `delta`; returns it."""
        if delta:
            self._pieces.append(delta)
        return delta

    def set(self, new_text: str) -> Optional[str]:
        """Replace with the whole text so far; the delta, or None if it was rewritten."""
        old = self.value()
        self._pieces, self._joined, self._count = [new_text], new_text, 1
        return new_text[len(old):] if new_text.startswith(old) else None

    def value(self) -> str:
        """The whole text so far."""
        if self._count != len(self._pieces):
            self._joined = "".join(self._pieces)
            self._pieces = [self._joined] if self._joined else []
            self._count = len(self._pieces)
        return self._joined

    def snapshot(self) -> Callable[[], str]:
        """A function returning the text as it is now (joined only when called)."""
        pieces, count = self._pieces, len(self._pieces)
        return lambda: "".join(pieces[:count])


__all__ = ["StreamText"]
