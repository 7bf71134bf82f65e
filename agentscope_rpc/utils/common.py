"""Helpers with AgentScope 0.1.6's names, for programs that import them.

    from agentscope_rpc.utils.common import _get_timestamp
    _get_timestamp("%Y%m%d-%H%M%S")

The leading underscores are 0.1.6's own spelling; `get_timestamp` is the
same function without one.
"""
from __future__ import annotations

import datetime
import json
import random
import string
from typing import Any, List, Optional


def get_timestamp(format_: str = "%Y-%m-%d %H:%M:%S", time: Optional[datetime.datetime] = None) -> str:
    """`time` (default: now) formatted with `format_`."""
    return (time or datetime.datetime.now()).strftime(format_)


_get_timestamp = get_timestamp


def _generate_random_code(length: int = 6, uppercase: bool = True, lowercase: bool = True,
                          digits: bool = True) -> str:
    """A random code of `length` characters drawn from the chosen character classes."""
    characters = (
        (string.ascii_uppercase if uppercase else "")
        + (string.ascii_lowercase if lowercase else "")
        + (string.digits if digits else "")
    )
    if not characters:
        raise ValueError("_generate_random_code needs at least one character class")
    return "".join(random.choice(characters) for _ in range(length))


def _is_json_serializable(obj: Any) -> bool:
    """True if `json.dumps(obj)` works."""
    try:
        json.dumps(obj)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _convert_to_str(content: Any) -> str:
    """Content as text: str as is, JSON-able values as JSON, anything else via str()."""
    if isinstance(content, str):
        return content
    if isinstance(content, (dict, list, int, float, bool, tuple)) or content is None:
        try:
            return json.dumps(content, ensure_ascii=False)
        except (TypeError, ValueError):
            pass
    return str(content)


def _join_str_with_comma_and(elements: List[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    elements = [str(e) for e in elements]
    if len(elements) <= 1:
        return "".join(elements)
    return ", ".join(elements[:-1]) + " and " + elements[-1]


__all__ = [
    "get_timestamp",
    "_get_timestamp",
    "_generate_random_code",
    "_is_json_serializable",
    "_convert_to_str",
    "_join_str_with_comma_and",
]
