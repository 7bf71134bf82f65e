"""`TaggedContent` and `MultiTaggedContentParser`: named spans between given tags."""
from __future__ import annotations

from typing import List, Optional, Union

from ..exception import JsonParsingError, TagNotFoundError
from ..models.response import ModelResponse
from ._json import parse_json_value
from .parser_base import DictFilterMixin, Keys, ParserBase, as_response


class TaggedContent:
    """One span the model should write: `tag_begin` + content + `tag_end`, stored under `name`."""

    def __init__(self, name: str, tag_begin: str, content_hint: str, tag_end: str,
                 parse_json: bool = False) -> None:
        self.name = name
        self.tag_begin = tag_begin
        self.content_hint = content_hint
        self.tag_end = tag_end
        self.parse_json = parse_json

    def __str__(self) -> str:
        return f"{self.tag_begin}{self.content_hint}{self.tag_end}"


class MultiTaggedContentParser(ParserBase, DictFilterMixin):
    """Parse several tagged spans into `{name: content}`.

    A span with `parse_json=True` must hold JSON (forgivingly parsed); a
    missing span raises TagNotFoundError unless its name is in
    `keys_allow_missing`.
    """

    def __init__(
        self,
        *tagged_contents: TaggedContent,
        keys_to_memory: Keys = True,
        keys_to_content: Keys = True,
        keys_to_metadata: Keys = False,
        keys_allow_missing: Optional[List[str]] = None,
    ) -> None:
        DictFilterMixin.__init__(self, keys_to_memory, keys_to_content, keys_to_metadata)
        self.tagged_contents = list(tagged_contents)
        self.keys_allow_missing = list(keys_allow_missing or [])
        json_spans = [f"{t.tag_begin} and {t.tag_end}" for t in self.tagged_contents if t.parse_json]
        lines = "\n".join(str(t) for t in self.tagged_contents)
        json_note = f" (what you write between {', '.join(json_spans)} must be JSON)" if json_spans else ""
        self.format_instruction = f"Answer with these tagged parts{json_note}:\n{lines}"

    def parse(self, response: Union[ModelResponse, str]) -> ModelResponse:
        """Set `response.parsed` to `{name: content}` for each tagged span."""
        response = as_response(response)
        found: dict = {}
        for tagged in self.tagged_contents:
            try:
                text = self._extract_first_content_by_tag(response, tagged.tag_begin, tagged.tag_end)
            except TagNotFoundError:
                if tagged.name in self.keys_allow_missing:
                    continue
                raise
            if tagged.parse_json:
                try:
                    found[tagged.name] = parse_json_value(text)
                except JsonParsingError as exc:
                    raise JsonParsingError(
                        f"what is between {tagged.tag_begin} and {tagged.tag_end} must be JSON: {exc.message}",
                        response.text,
                    ) from None
            else:
                found[tagged.name] = text
        response.parsed = found
        return response


__all__ = ["TaggedContent", "MultiTaggedContentParser"]
