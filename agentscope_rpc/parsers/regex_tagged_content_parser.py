"""`RegexTaggedContentParser`: `<name>content</name>` pairs, keys not known in advance."""
from __future__ import annotations

import json
import re
from typing import List, Optional, Union

from ..exception import TagNotFoundError
from ..models.response import ModelResponse
from .parser_base import DictFilterMixin, Keys, ParserBase, as_response

DEFAULT_PATTERN = r"<(?P<name>[^>]+)>(?P<content>.*?)</(?P=name)?>"


class RegexTaggedContentParser(ParserBase, DictFilterMixin):
    """Collect every tagged span of the answer into a dict `{name: content}`.

    `tagged_content_pattern` must have the named groups `name` and
    `content`; the default matches `<name>...</name>` (and `<name>...</>`).
    With `try_parse_json`, a content that is valid JSON becomes that value.
    `required_keys` missing from the answer raise TagNotFoundError.  As the
    keys are not known in advance, the format instruction is yours to give
    (`format_instruction=`; reading it unset raises ValueError).
    """

    def __init__(
        self,
        tagged_content_pattern: str = DEFAULT_PATTERN,
        format_instruction: Optional[str] = None,
        try_parse_json: bool = True,
        required_keys: Optional[List[str]] = None,
        keys_to_memory: Keys = True,
        keys_to_content: Keys = True,
        keys_to_metadata: Keys = False,
    ) -> None:
        DictFilterMixin.__init__(self, keys_to_memory, keys_to_content, keys_to_metadata)
        pattern = re.compile(tagged_content_pattern, flags=re.DOTALL)
        if not {"name", "content"} <= set(pattern.groupindex):
            raise ValueError("tagged_content_pattern needs the named groups 'name' and 'content'")
        self.tagged_content_pattern = tagged_content_pattern
        self._pattern = pattern
        self._format_instruction = format_instruction
        self.try_parse_json = try_parse_json
        self.required_keys = list(required_keys or [])

    @property
    def format_instruction(self) -> str:  # type: ignore[override]
        """The instruction given to the constructor (ValueError if none was)."""
        if self._format_instruction is None:
            raise ValueError("this RegexTaggedContentParser has no format_instruction: pass one to its constructor")
        return self._format_instruction

    def parse(self, response: Union[ModelResponse, str]) -> ModelResponse:
        """Set `response.parsed` to `{name: content}` of every tagged span."""
        response = as_response(response)
        found: dict = {}
        for match in self._pattern.finditer(response.text):
            found[match.group("name")] = match.group("content")
        missing = [key for key in self.required_keys if key not in found]
        if missing:
            raise TagNotFoundError(
                f"missing tagged content for {', '.join(missing)}; write each as <key>...</key>",
                response.text,
            )
        if self.try_parse_json:
            for key, value in found.items():
                try:
                    found[key] = json.loads(value)
                except ValueError:
                    pass  # not JSON: the text stays
        response.parsed = found
        return response


__all__ = ["RegexTaggedContentParser"]
