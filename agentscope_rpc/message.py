"""The message that agents exchange.

`Msg` is a small value object.  It travels between processes as JSON-able
dicts (`to_dict` / `from_dict`), never pickled, so any server can read it
without trusting the sender's classes.
"""
from __future__ import annotations

import copy
import time
import uuid
from typing import Any, Optional, Union

Content = Union[str, dict, list, None]

_FIELDS = ("id", "name", "role", "content", "url", "metadata", "timestamp")


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())


class Msg:
    """A message: who said what.

    `content` may be a str, a dict or a list; `url` a str or list of str;
    `metadata` any JSON-able value.  Every message has a uuid-hex `id`; a
    message spoken as a stream keeps one id for all of its chunks.
    """

    __slots__ = _FIELDS

    def __init__(
        self,
        name: str,
        content: Content = None,
        role: Optional[str] = None,
        url: Union[str, list, None] = None,
        metadata: Any = None,
        *,
        id: Optional[str] = None,  # pylint: disable=redefined-builtin
        timestamp: Optional[str] = None,
        echo: bool = False,  # accepted for AgentScope v0 compatibility
    ) -> None:
        del echo
        self.id = id or uuid.uuid4().hex
        self.name = name
        self.role = role or "assistant"
        self.content = content
        self.url = url
        self.metadata = metadata
        self.timestamp = timestamp or _now()

    # -- conversions -------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "__type": "Msg",
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "content": self.content,
            "url": self.url,
            "metadata": self.metadata,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Msg":
        if not isinstance(data, dict) or "name" not in data:
            raise ValueError(f"not a serialised Msg: {data!r:.200}")
        return cls(
            name=data["name"],
            content=data.get("content"),
            role=data.get("role"),
            url=data.get("url"),
            metadata=data.get("metadata"),
            id=data.get("id"),
            timestamp=data.get("timestamp"),
        )

    def copy(self) -> "Msg":
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict) -> "Msg":
        new = Msg.__new__(Msg)
        for field in _FIELDS:
            setattr(new, field, copy.deepcopy(getattr(self, field), memo))
        return new

    def __copy__(self) -> "Msg":
        new = Msg.__new__(Msg)
        for field in _FIELDS:
            setattr(new, field, getattr(self, field))
        return new

    # pickle support (cloudpickle of agents whose memory holds messages)
    def __getstate__(self) -> dict:
        return {f: getattr(self, f) for f in _FIELDS}

    def __setstate__(self, state: dict) -> None:
        for field in _FIELDS:
            setattr(self, field, state.get(field))

    # -- dict-style access, as AgentScope v0 programs use it -----------------
    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in _FIELDS:
            raise KeyError(key)
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in _FIELDS

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in _FIELDS else default

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Msg(name={self.name!r}, content={self.content!r:.200}, "
            f"role={self.role!r}, id={self.id!r})"
        )

    def formatted_str(self) -> str:
        """`name: content` as printed on a terminal."""
        return f"{self.name}: {content_text(self.content)}"


def content_text(content: Content) -> str:
    """Render any content as text (dicts/lists as compact JSON)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    import json

    return json.dumps(content, ensure_ascii=False)


__all__ = ["Msg", "content_text"]
