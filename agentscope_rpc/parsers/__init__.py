"""Parsers of model answers, with AgentScope 0.1.6's names and module paths.

    from agentscope_rpc.parsers import MarkdownJsonDictParser
    parser = MarkdownJsonDictParser(content_hint={"speak": "...", "vote": "..."},
                                    required_keys=["speak", "vote"], keys_to_content="speak")
    agent.set_parser(parser)            # a DictDialogAgent

Parsing forgives what small models do (missing fences, chatter, trailing
commas); a failure raises a `ResponseParsingError` whose message is fed
back to the model when an agent retries.  `parse_json_object` is the
forgiving JSON reader underneath.
"""
from ._json import JsonObjectParser, check_required_keys, parse_json_object, parse_json_value
from .code_block_parser import MarkdownCodeBlockParser
from .json_object_parser import MarkdownJsonDictParser, MarkdownJsonObjectParser
from .parser_base import DictFilterMixin, ParserBase
from .regex_tagged_content_parser import RegexTaggedContentParser
from .tagged_content_parser import MultiTaggedContentParser, TaggedContent

__all__ = [
    "ParserBase",
    "DictFilterMixin",
    "MarkdownJsonObjectParser",
    "MarkdownJsonDictParser",
    "MarkdownCodeBlockParser",
    "TaggedContent",
    "MultiTaggedContentParser",
    "RegexTaggedContentParser",
    "JsonObjectParser",
    "parse_json_object",
    "parse_json_value",
    "check_required_keys",
]
