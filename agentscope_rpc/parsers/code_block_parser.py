"""`MarkdownCodeBlockParser`: the code inside a ```<language> fenced block."""
from __future__ import annotations

from typing import Optional, Union

from ..exception import TagNotFoundError
from ..models.response import ModelResponse
from .parser_base import ParserBase, as_response


class MarkdownCodeBlockParser(ParserBase):
    """Extract the code of the first ```<language_name> block.

    A block the model forgot to close runs to the end of the text; a plain
    ``` block is taken when there is no block of that language.
    """

    def __init__(self, language_name: str, content_hint: Optional[str] = None) -> None:
        self.language_name = language_name
        self.name = f"{language_name} block"
        self.tag_begin = f"```{language_name}"
        self.tag_end = "```"
        self.content_hint = content_hint if content_hint is not None else f"${{your_{language_name}_code}}"
        self.format_instruction = (
            f"Write the {language_name} code inside a fenced code block, like this:\n"
            f"{self.tag_begin}\n{self.content_hint}\n{self.tag_end}"
        )

    def parse(self, response: Union[ModelResponse, str]) -> ModelResponse:
        """Set `response.parsed` to the text between the fences (TagNotFoundError if there is none)."""
        response = as_response(response)
        text = response.text
        start = text.find(self.tag_begin)
        if start != -1:
            body_from = start + len(self.tag_begin)
        else:
            start = text.find("```")
            line_end = text.find("\n", start + 3) if start != -1 else -1
            info = text[start + 3:line_end].strip() if line_end != -1 else ""
            if start == -1 or info not in ("", self.language_name):
                raise TagNotFoundError(f"missing tag {self.tag_begin} in the response", text,
                                       missing_begin_tag=True, missing_end_tag=text.find("```") == -1)
            body_from = start + 3 + (len(text[start + 3:line_end]) if line_end != -1 else 0)
        end = text.find(self.tag_end, body_from)
        response.parsed = text[body_from:] if end == -1 else text[body_from:end]
        return response


__all__ = ["MarkdownCodeBlockParser"]
