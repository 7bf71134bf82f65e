"""`ParserBase` and `DictFilterMixin` (AgentScope 0.1.6's parser interface).

A parser turns a model response into a value: `parser.parse(response)` sets
and returns `response.parsed` (a `ModelResponse`; a plain string is accepted
too), and `parser.format_instruction` says what to tell the model.  Parsers
of dicts also decide which keys go where (`DictFilterMixin`):
`to_content(parsed)` for the reply's content, `to_memory(parsed)` for the
agent's memory, `to_metadata(parsed)` for the reply's metadata.  Each
`keys_to_*` is True (the whole dict), False (None), a key (its value) or a
list of keys (a dict of those).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Sequence, Union

from ..exception import TagNotFoundError
from ..models.response import ModelResponse

log = logging.getLogger(__name__)

Keys = Union[str, bool, Sequence[str]]


def as_response(response: Union[ModelResponse, str]) -> ModelResponse:
    """`response` itself, or a complete ModelResponse holding the string."""
    if isinstance(response, ModelResponse):
        return response
    if isinstance(response, str):
        return ModelResponse(text=response)
    text = getattr(response, "text", None)
    if isinstance(text, str):
        return ModelResponse(text=text)
    raise TypeError(f"a parser takes a ModelResponse or a str, not {type(response).__name__}")


class ParserBase(ABC):
    """Base class of model response parsers."""

    format_instruction: str = ""

    @abstractmethod
    def parse(self, response: Union[ModelResponse, str]) -> ModelResponse:
        """Parse `response.text`; store the result in (and return) the response's `parsed`."""

    def _extract_first_content_by_tag(self, response: Union[ModelResponse, str], tag_start: str,
                                      tag_end: str) -> str:
        """The text between the first `tag_start` and the next `tag_end` (no nesting).

        Raises TagNotFoundError saying which tag is missing.
        """
        text = as_response(response).text
        start = text.find(tag_start)
        end = text.find(tag_end, start + len(tag_start) if start != -1 else 0)
        if start == -1 or end == -1:
            missing = [tag for tag, index in ((tag_start, start), (tag_end, end)) if index == -1]
            raise TagNotFoundError(
                f"missing tag{'s' if len(missing) > 1 else ''} {' and '.join(missing)} in the response",
                text,
                missing_begin_tag=start == -1,
                missing_end_tag=end == -1,
            )
        return text[start + len(tag_start):end]


class DictFilterMixin:
    """Which keys of a parsed dict go to the content, the memory and the metadata."""

    def __init__(self, keys_to_memory: Keys = True, keys_to_content: Keys = True,
                 keys_to_metadata: Keys = False) -> None:
        self.keys_to_memory = keys_to_memory
        self.keys_to_content = keys_to_content
        self.keys_to_metadata = keys_to_metadata

    def to_memory(self, parsed_response: dict, allow_missing: bool = False) -> Any:
        """What of `parsed_response` the agent keeps in memory."""
        return self._filter_content_by_names(parsed_response, self.keys_to_memory, allow_missing)

    def to_content(self, parsed_response: dict, allow_missing: bool = False) -> Any:
        """What of `parsed_response` becomes the reply's content (what others see)."""
        return self._filter_content_by_names(parsed_response, self.keys_to_content, allow_missing)

    def to_metadata(self, parsed_response: dict, allow_missing: bool = False) -> Any:
        """What of `parsed_response` becomes the reply's metadata (for the app's control flow)."""
        return self._filter_content_by_names(parsed_response, self.keys_to_metadata, allow_missing)

    @staticmethod
    def _filter_content_by_names(parsed_response: dict, keys: Keys, allow_missing: bool = False) -> Any:
        """Apply one `keys_to_*` setting to `parsed_response` (see the module docstring).

        A missing key raises ValueError, unless `allow_missing` (then it is
        left out, or None for a single key).
        """
        if isinstance(keys, bool):
            return parsed_response if keys else None
        if isinstance(keys, str):
            if keys not in parsed_response:
                if allow_missing:
                    return None
                raise ValueError(f"key {keys!r} not found in the parsed response {sorted(parsed_response)}")
            return parsed_response[keys]
        missing = [key for key in keys if key not in parsed_response]
        if missing and not allow_missing:
            raise ValueError(f"key(s) {missing} not found in the parsed response {sorted(parsed_response)}")
        if missing:
            log.warning("keys %s not found in the parsed response; left out", missing)
        return {key: parsed_response[key] for key in keys if key in parsed_response}


__all__ = ["ParserBase", "DictFilterMixin", "as_response"]
