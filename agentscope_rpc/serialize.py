"""JSON (de)serialisation of values holding messages (AgentScope 0.1.6's API).

    text = serialize([msg1, {"round": 2, "last": msg2}])
    value = deserialize(text)          # Msg objects come back as Msg

A `Msg` is written as its `to_dict()` form.  `deserialize` also reads the
dicts AgentScope 0.1.6 wrote (`"__module__": "agentscope.message.msg",
"__name__": "Msg"`), so memories exported there load here.  Unlike 0.1.6 it
never imports a module named by the data: only messages are rebuilt.
"""
from __future__ import annotations

import json
from typing import Any

from .message import Msg

# modules whose "__name__": "Msg" dicts are messages (0.1.6's and ours)
_MSG_MODULES = frozenset({"agentscope.message.msg", "agentscope.message", "agentscope_rpc.message"})


def _default(obj: Any) -> Any:
    if isinstance(obj, Msg):
        return obj.to_dict()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _is_msg_dict(data: dict) -> bool:
    if data.get("__type") == "Msg":
        return True
    return data.get("__name__") == "Msg" and data.get("__module__") in _MSG_MODULES


def _object_hook(data: dict) -> Any:
    if _is_msg_dict(data) and "name" in data:
        return Msg.from_dict(data)
    return data


def serialize(obj: Any) -> str:
    """`obj` (JSON types and `Msg`s, nested) as a JSON string."""
    return json.dumps(obj, ensure_ascii=False, default=_default)


def deserialize(s: str) -> Any:
    """The value `serialize` wrote, with its messages rebuilt as `Msg`."""
    return json.loads(s, object_hook=_object_hook)


def is_serializable(obj: Any) -> bool:
    """True if `serialize(obj)` works."""
    try:
        serialize(obj)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


__all__ = ["serialize", "deserialize", "is_serializable"]
