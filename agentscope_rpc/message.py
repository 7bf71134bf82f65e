"""The message that agents exchange.

`Msg` is a small value object.  It travels between processes as JSON-able
dicts (`to_dict` / `from_dict`), never pickled, so any server can read it
without trusting the sender's classes.

Its constructor takes AgentScope 0.1.6's positional order,
`Msg(name, content, role, metadata=None, echo=False, url=None)`; `id` and
`timestamp` are keywords (a given id is kept, also a falsy one).
`echo=True` prints (and logs) the message as it is made, through the
handler `agentscope_rpc.logging` installs.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import time
import uuid
from typing import Any, Callable, Optional, Union

Content = Union[str, dict, list, None]

_FIELDS = ("id", "name", "role", "content", "url", "metadata", "timestamp")
_ATOMIC = (str, int, float, bool, type(None))

# what `echo=True` calls; agentscope_rpc.logging installs log_msg here
_echo_handler: list = []


def set_echo_handler(handler: Optional[Callable[["Msg"], None]]) -> None:
    """Make `handler(msg)` run for every `Msg(..., echo=True)` (None: plain print)."""
    _echo_handler[:] = [handler] if handler is not None else []


_clock = [0, ""]  # [second, its formatted text]: formatting once a second, not per message


def _now() -> str:
    second = int(time.time())
    if second != _clock[0]:
        _clock[1] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        _clock[0] = second
    return _clock[1]


class _Ids:
    """Message ids: 32 hex digits, unique without a system call each (a random
    per-process prefix and a counter; uuid4 reads os.urandom per id)."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)  # a forked server must not repeat ids

    def reseed(self) -> None:
        self._prefix = uuid.uuid4().hex[:20]
        self._count = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):012x}"


new_id = _Ids().next


def _check_metadata(metadata: Any) -> None:
    if isinstance(metadata, _ATOMIC):
        return
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Msg metadata must be JSON-serialisable, got {type(metadata).__name__}: {exc}",
        ) from None


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
        metadata: Any = None,
        echo: bool = False,
        url: Union[str, list, None] = None,
        *,
        id: Optional[str] = None,  # pylint: disable=redefined-builtin
        timestamp: Optional[str] = None,
    ) -> None:
        if metadata is not None:
            _check_metadata(metadata)
        self.id = new_id() if id is None else id
        self.name = name
        self.role = role or "assistant"
        self.content = content
        self.url = url
        self.metadata = metadata
        self.timestamp = _now() if timestamp is None else timestamp
        if echo:
            if _echo_handler:
                _echo_handler[0](self)
            else:
                print(self.formatted_str())

    # -- conversions -------------------------------------------------------
    def to_dict(self) -> dict:
        """The message as a JSON-able dict (what travels between processes)."""
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
        """The Msg `to_dict` made (AgentScope 0.1.6's dicts are read too)."""
        if not isinstance(data, dict) or "name" not in data:
            raise ValueError(f"not a serialised Msg: {data!r:.200}")
        new = cls.__new__(cls)
        new.id = data["id"] if data.get("id") is not None else new_id()
        new.name = data["name"]
        new.role = data.get("role") or "assistant"
        new.content = data.get("content")
        new.url = data.get("url")
        new.metadata = data.get("metadata")
        new.timestamp = data["timestamp"] if data.get("timestamp") is not None else _now()
        return new

    def serialize(self) -> str:
        """The message as a JSON string (`Msg.from_dict(json.loads(s))` reads it back)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def copy(self) -> "Msg":
        """A deep copy (same id)."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict) -> "Msg":
        new = Msg.__new__(Msg)
        for field in _FIELDS:
            value = getattr(self, field)
            setattr(new, field, value if isinstance(value, _ATOMIC) else copy.deepcopy(value, memo))
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
        """`msg[key]` for a field name, else `default` (dict-style access)."""
        return getattr(self, key, default) if key in _FIELDS else default

    def keys(self) -> tuple:
        """The field names (dict-style access)."""
        return _FIELDS

    def get_text_content(self) -> Optional[str]:
        """The text of the message: str content as is, the text blocks of a list, else None."""
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            texts = [b.get("text") for b in self.content if isinstance(b, dict) and b.get("type") == "text"]
            texts = [str(t) for t in texts if t is not None]
            return "".join(texts) if texts else None
        return None

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

    def formatted_str(self, colored: bool = False) -> str:
        """`name: content` as printed on a terminal (`colored`: name in colour)."""
        name = f"\033[36m{self.name}\033[0m" if colored else self.name
        text = f"{name}: {content_text(self.content)}"
        if self.url:
            urls = self.url if isinstance(self.url, list) else [self.url]
            text += "".join(f"\n{name}: {u}" for u in urls)
        return text


def _msg_like(value: Any) -> bool:
    return isinstance(value, Msg) or hasattr(type(value), "__agentscope_ref__")


def check_msg(value: Any, what: str, why: str = "") -> None:
    """Raise TypeError unless `value` is a Msg, a list of them, or a placeholder of one.

    `what` names the value ("Alice's reply"), `why` says what needs a message.
    """
    if _msg_like(value) or (isinstance(value, (list, tuple)) and all(_msg_like(v) for v in value)):
        return
    text = repr(value)
    text = text if len(text) <= 80 else text[:77] + "..."
    reason = f", {why}" if why else ""
    raise TypeError(f"{what} is a {type(value).__name__}, not a Msg{reason}: {text}")


def content_text(content: Content) -> str:
    """Render any content as text (dicts/lists as compact JSON)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False)


__all__ = ["Msg", "check_msg", "content_text", "set_echo_handler"]
