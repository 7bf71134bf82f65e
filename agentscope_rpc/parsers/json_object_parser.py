"""JSON in a ```json fenced block: `MarkdownJsonObjectParser`, `MarkdownJsonDictParser`.

The model is asked for a fenced block, but small models often skip the
fence, add chatter, leave trailing commas or write Python literals: parsing
is as forgiving as `parse_json_object` (a missing fence is fine).  Errors
are AgentScope 0.1.6's types (`JsonParsingError`, `JsonTypeError`,
`RequiredFieldNotFoundError`, `JsonDictValidationError`), all
`ResponseParsingError`s with a message to feed back to the model.
"""
from __future__ import annotations

import inspect
import json
from typing import Any, List, Optional, Union

from ..exception import JsonDictValidationError
from ..models.response import ModelResponse
from ._json import check_required_keys, parse_json_object, parse_json_value
from .parser_base import DictFilterMixin, Keys, ParserBase, as_response


def _hint_text(content_hint: Any, default: str) -> str:
    if content_hint is None:
        return default
    if isinstance(content_hint, str):
        return content_hint
    return json.dumps(content_hint, ensure_ascii=False)


def _pydantic_model(content_hint: Any) -> Optional[type]:
    """`content_hint` if it is a pydantic model class (pydantic stays optional)."""
    if not inspect.isclass(content_hint):
        return None
    return content_hint if callable(getattr(content_hint, "model_json_schema", None)) else None


class MarkdownJsonObjectParser(ParserBase):
    """Parse a JSON value (object, list, ...) from a ```json block."""

    name: str = "json block"
    tag_begin: str = "```json"
    tag_end: str = "```"
    content_hint: str = "{your_json_object}"

    def __init__(self, content_hint: Any = None) -> None:
        self.content_hint = _hint_text(content_hint, type(self).content_hint)

    @property
    def format_instruction(self) -> str:  # type: ignore[override]
        """What to tell the model about the answer's format."""
        return (
            "Answer with a JSON value inside a fenced ```json code block, like this:\n"
            f"{self.tag_begin}\n{self.content_hint}\n{self.tag_end}"
        )

    def parse(self, response: Union[ModelResponse, str]) -> ModelResponse:
        """Set `response.parsed` to the JSON value of the (fenced) answer."""
        response = as_response(response)
        response.parsed = parse_json_value(response.text)
        return response


class MarkdownJsonDictParser(MarkdownJsonObjectParser, DictFilterMixin):
    """Parse a JSON dict from a ```json block; check its required keys (or pydantic schema).

    `content_hint`: a str, a dict (shown as JSON) or a pydantic model class
    (its schema is shown and the answer validated against it).
    `required_keys`: keys the dict must have.  `keys_to_memory`,
    `keys_to_content`, `keys_to_metadata`: see `DictFilterMixin`.
    """

    content_hint: str = "{your_json_dictionary}"

    def __init__(
        self,
        content_hint: Any = None,
        required_keys: Optional[List[str]] = None,
        keys_to_memory: Keys = True,
        keys_to_content: Keys = True,
        keys_to_metadata: Keys = False,
    ) -> None:
        self.pydantic_class = _pydantic_model(content_hint)
        super().__init__(None if self.pydantic_class is not None else content_hint)
        if self.pydantic_class is not None:
            self.content_hint = "{a_JSON_dictionary}"
        DictFilterMixin.__init__(self, keys_to_memory, keys_to_content, keys_to_metadata)
        self.required_keys = list(required_keys or [])

    @property
    def json_mode_keys(self) -> list:
        """The keys a JSON-constrained backend should produce (this parser wants a JSON object)."""
        return self.required_keys

    @property
    def format_instruction(self) -> str:  # type: ignore[override]
        """What to tell the model about the answer's format."""
        text = (
            "Answer with one JSON dictionary inside a fenced ```json code block, like this:\n"
            f"{self.tag_begin}\n{self.content_hint}\n{self.tag_end}"
        )
        if self.required_keys:
            text += "\nIt must have the keys " + ", ".join(f'"{k}"' for k in self.required_keys) + "."
        if self.pydantic_class is not None:
            schema = json.dumps(self.pydantic_class.model_json_schema(), ensure_ascii=False)
            text += f"\nThe dictionary must follow this JSON schema:\n{schema}"
        return text

    def parse(self, response: Union[ModelResponse, str]) -> ModelResponse:
        """Set `response.parsed` to the answer's dict (required keys and schema checked)."""
        response = as_response(response)
        parsed = parse_json_object(response.text)  # JsonParsingError / JsonTypeError
        if self.pydantic_class is not None:
            try:
                parsed = self.pydantic_class(**parsed).model_dump()
            except Exception as exc:  # pydantic's ValidationError, without importing pydantic
                raise JsonDictValidationError(f"the JSON dictionary does not follow the schema: {exc}",
                                              response.text) from None
        check_required_keys(parsed, self.required_keys)
        response.parsed = parsed
        return response


__all__ = ["MarkdownJsonObjectParser", "MarkdownJsonDictParser"]
