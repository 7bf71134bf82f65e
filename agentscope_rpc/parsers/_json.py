"""Parse a JSON object out of what a (small) model wrote.

Models wrap JSON in ```json fences, add chatter around the braces, leave
trailing commas or write Python-style dicts.  `parse_json_object` tries, in
order: the whole text; each fenced code block; each `{` in the text decoded
up to its matching end (junk after it ignored); each of those again after
light repairs (trailing commas, Python literals).  It raises a
`ResponseParsingError` (`JsonParsingError`, `JsonTypeError`) with a message
meant to be fed back to the model.  `parse_json_value` does the same for
any JSON value (a list, a number...).
"""
from __future__ import annotations

import ast
import json
import re
from typing import Any, Iterable, Iterator, Optional

from ..exception import JsonParsingError, JsonTypeError, RequiredFieldNotFoundError

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js|python)?[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_DECODER = json.JSONDecoder()


def _candidates(text: str) -> Iterator[str]:
    yield text.strip()
    for block in _FENCE.findall(text):
        yield block.strip()
    # an unterminated fence: take everything after the opening line
    if text.count("```") % 2 == 1:
        yield text[text.rfind("```") + 3:].split("\n", 1)[-1].strip()


def _decode_from_braces(text: str) -> Iterator[Any]:
    """Decode a value starting at each `{`, ignoring what follows it."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except ValueError:
            pass
        else:
            yield value
        start = text.find("{", start + 1)


def _repaired(text: str) -> Iterator[Any]:
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        return
    span = text[start:end + 1]
    try:
        yield json.loads(_TRAILING_COMMA.sub(r"\1", span))
    except ValueError:
        pass
    try:
        yield ast.literal_eval(span)  # {'a': 1, 'b': True} and friends
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass


def parse_json_value(text: str) -> Any:
    """The first JSON value found in `text` (fenced or not, lightly repaired); raises JsonParsingError."""
    if not isinstance(text, str):
        raise JsonParsingError(f"expected text, got {type(text).__name__}", repr(text))
    first_error: Optional[str] = None
    candidates = [c for c in dict.fromkeys(_candidates(text)) if c]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError as exc:
            first_error = first_error or f"invalid JSON ({exc})"
    for candidate in candidates:
        try:
            return json.loads(_TRAILING_COMMA.sub(r"\1", candidate))
        except ValueError:
            pass
        try:
            return ast.literal_eval(candidate)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
        for value in _decode_from_braces(candidate):
            return value
    raise JsonParsingError(
        f"could not parse a JSON value from the response: {first_error or 'the response is empty'}", text,
    )


def parse_json_object(text: str) -> dict:
    """The first JSON object found in `text`; raises ResponseParsingError."""
    if not isinstance(text, str):
        raise JsonParsingError(f"expected text, got {type(text).__name__}", repr(text))
    first_error: Optional[str] = None
    wrong_type: Optional[str] = None  # valid JSON, but not an object
    candidates = list(dict.fromkeys(_candidates(text)))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError as exc:
            first_error = first_error or f"invalid JSON ({exc})"
            continue
        if isinstance(value, dict):
            return value
        wrong_type = wrong_type or f"expected a JSON object, got a JSON {type(value).__name__}"
    for candidate in candidates:
        for value in _decode_from_braces(candidate):
            if isinstance(value, dict):
                return value
    for candidate in candidates:
        for value in _repaired(candidate):
            if isinstance(value, dict):
                return value
    message = "could not parse a JSON object from the response: "
    if wrong_type:
        raise JsonTypeError(message + wrong_type, text)
    if "{" not in text:
        raise JsonParsingError(message + "no JSON object (nothing between { and }) was found", text)
    raise JsonParsingError(message + (first_error or "the JSON object could not be decoded"), text)


def check_required_keys(value: dict, required_keys: Iterable[str]) -> None:
    """Raise RequiredFieldNotFoundError naming the keys missing from `value`."""
    missing = [key for key in required_keys if key not in value]
    if missing:
        raise RequiredFieldNotFoundError(
            f"the JSON object is missing required key(s) {missing}; it had {sorted(value)}",
            json.dumps(value, ensure_ascii=False, default=str),
        )


class JsonObjectParser:
    """Parse a JSON object with required keys; also writes the instruction."""

    def __init__(self, required_keys: Optional[Iterable[str]] = None) -> None:
        self.required_keys = list(required_keys or [])

    @property
    def json_mode_keys(self) -> list:
        """The keys a JSON-constrained backend should produce (this parser wants a JSON object)."""
        return self.required_keys

    @property
    def format_instruction(self) -> str:
        """What to tell the model about the answer's format."""
        if self.required_keys:
            example = ", ".join(f'"{key}": ...' for key in self.required_keys)
            keys = ", ".join(f'"{key}"' for key in self.required_keys)
            return (
                "Respond with one JSON object and nothing else. "
                f"It must contain the keys {keys}, like this:\n{{{example}}}"
            )
        return "Respond with one JSON object and nothing else."

    def parse(self, text: str) -> dict:
        """The JSON object in `text`, with the required keys checked."""
        value = parse_json_object(text)
        check_required_keys(value, self.required_keys)
        return value


__all__ = ["parse_json_object", "parse_json_value", "check_required_keys", "JsonObjectParser"]
