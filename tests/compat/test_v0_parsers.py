"""Parsers with AgentScope 0.1.6's names, and `DictDialogAgent.set_parser` (issue 9, item 15)."""
from __future__ import annotations

import pytest

from agentscope_rpc.agents import DictDialogAgent
from agentscope_rpc.exception import (
    JsonDictValidationError,
    JsonParsingError,
    JsonTypeError,
    RequiredFieldNotFoundError,
    ResponseParsingError,
    TagNotFoundError,
)
from agentscope_rpc.message import Msg
from agentscope_rpc.models import ModelResponse, clear_model_configs, read_model_configs
from agentscope_rpc.parsers import (
    DictFilterMixin,
    MarkdownCodeBlockParser,
    MarkdownJsonDictParser,
    MarkdownJsonObjectParser,
    MultiTaggedContentParser,
    RegexTaggedContentParser,
    TaggedContent,
)
from agentscope_rpc.parsers.json_object_parser import MarkdownJsonDictParser as from_module_path

GT = {"speak": "I vote Player2", "thought": "they lied", "vote": "Player2"}


@pytest.fixture(autouse=True)
def _configs():
    clear_model_configs()
    yield
    clear_model_configs()


def scripted(*responses: str) -> str:
    """A scripted model config with these answers (a fresh name each time)."""
    name = f"p{len(_NAMES)}"
    _NAMES.append(name)
    read_model_configs({"config_name": name, "model_type": "scripted", "responses": list(responses)})
    return name


_NAMES: list = []


def werewolf_parser() -> MarkdownJsonDictParser:
    """As 0.1.6's werewolf prompt.py writes them."""
    return MarkdownJsonDictParser(
        content_hint={"thought": "what you thought", "speak": "what you speak", "finish_discussion": "true/false"},
        required_keys=["thought", "speak", "finish_discussion"],
        keys_to_memory="speak",
        keys_to_content="speak",
        keys_to_metadata=["finish_discussion"],
    )


# -- the parsers ----------------------------------------------------------------------------
def test_markdown_json_dict_parser():
    parser = MarkdownJsonDictParser(content_hint={"speak": "...", "vote": "..."}, required_keys=["speak", "vote"],
                                    keys_to_memory=["speak", "thought"], keys_to_content="speak",
                                    keys_to_metadata=["vote"])
    assert from_module_path is MarkdownJsonDictParser
    assert '```json\n{"speak": "...", "vote": "..."}\n```' in parser.format_instruction
    res = parser.parse(ModelResponse(text='Sure:\n```json\n{"speak": "I vote Player2", "thought": "they lied", '
                                          '"vote": "Player2"}\n```'))
    assert res.parsed == GT
    assert parser.to_memory(res.parsed) == {"speak": "I vote Player2", "thought": "they lied"}
    assert parser.to_content(res.parsed) == "I vote Player2"
    assert parser.to_metadata(res.parsed) == {"vote": "Player2"}


@pytest.mark.parametrize("text", [
    '{"speak": "a", "vote": "b"}',                       # no fence
    'I think: {"speak": "a", "vote": "b",} hope so',     # chatter and a trailing comma
    "```json\n{'speak': 'a', 'vote': 'b'}\n```",          # Python literals
    '```json\n{"speak": "a", "vote": "b"}',              # a fence never closed
])
def test_json_dict_parser_forgives_small_model_habits(text):
    parser = MarkdownJsonDictParser(required_keys=["speak", "vote"])
    assert parser.parse(text).parsed == {"speak": "a", "vote": "b"}


def test_json_dict_parser_errors():
    parser = MarkdownJsonDictParser(required_keys=["speak", "vote"])
    with pytest.raises(RequiredFieldNotFoundError, match="vote"):
        parser.parse('{"speak": "a"}')
    with pytest.raises(JsonTypeError):
        parser.parse("```json\n[1, 2]\n```")
    with pytest.raises(JsonParsingError) as info:
        parser.parse("no json at all")
    assert isinstance(info.value, ResponseParsingError) and info.value.raw_response == "no json at all"


def test_json_dict_parser_with_a_pydantic_schema():
    pydantic = pytest.importorskip("pydantic")

    class Vote(pydantic.BaseModel):
        speak: str
        vote: int

    parser = MarkdownJsonDictParser(content_hint=Vote)
    assert '"vote"' in parser.format_instruction and "schema" in parser.format_instruction
    assert parser.parse('```json\n{"speak": "x", "vote": "3"}\n```').parsed == {"speak": "x", "vote": 3}
    with pytest.raises(JsonDictValidationError):
        parser.parse('{"speak": "x", "vote": "not a number"}')


def test_markdown_json_object_parser_takes_any_value():
    assert MarkdownJsonObjectParser(content_hint="[1,2,3]").parse("```json\n[1, 2, 3]\n```").parsed == [1, 2, 3]
    assert MarkdownJsonObjectParser().parse("```json\n3.14\n```").parsed == 3.14
    assert "[1,2,3]" in MarkdownJsonObjectParser(content_hint="[1,2,3]").format_instruction


def test_markdown_code_block_parser():
    parser = MarkdownCodeBlockParser(language_name="python")
    assert "```python" in parser.format_instruction and "${your_python_code}" in parser.format_instruction
    assert parser.parse("```python\nprint('hi')\n```").parsed == "\nprint('hi')\n"
    hinted = MarkdownCodeBlockParser("python", content_hint="# your code here")
    assert "# your code here" in hinted.format_instruction
    with pytest.raises(TagNotFoundError):
        parser.parse("no code")


def test_multi_tagged_content_parser():
    parser = MultiTaggedContentParser(
        TaggedContent("thought", "[THOUGHT]", "what you thought", "[/THOUGHT]"),
        TaggedContent("speak", "[SPEAK]", "what you speak", "[/SPEAK]"),
        TaggedContent("vote", "[VOTE]", '"player"', "[/VOTE]", parse_json=True),
        TaggedContent("aside", "[ASIDE]", "optional", "[/ASIDE]"),
        keys_to_memory="speak", keys_to_content="speak", keys_to_metadata=["vote"], keys_allow_missing=["aside"],
    )
    assert "[THOUGHT]what you thought[/THOUGHT]" in parser.format_instruction
    assert "[VOTE] and [/VOTE]" in parser.format_instruction  # the JSON one is named
    res = parser.parse('[THOUGHT]hmm[/THOUGHT] [SPEAK]Bob![/SPEAK] [VOTE]"Bob"[/VOTE]')
    assert res.parsed == {"thought": "hmm", "speak": "Bob!", "vote": "Bob"}
    assert parser.to_content(res.parsed) == "Bob!" and parser.to_metadata(res.parsed) == {"vote": "Bob"}
    with pytest.raises(TagNotFoundError) as info:
        parser.parse("[THOUGHT]hmm[/THOUGHT]")
    assert info.value.missing_begin_tag
    with pytest.raises(JsonParsingError, match=r"\[VOTE\]"):
        parser.parse("[THOUGHT]a[/THOUGHT][SPEAK]b[/SPEAK][VOTE]not json at all[/VOTE]")


def test_regex_tagged_content_parser():
    parser = RegexTaggedContentParser(required_keys=["speak"], format_instruction="Use <speak>...</speak>.")
    res = parser.parse("<thought>hmm</thought><speak>hello</speak><n>3</n>")
    assert res.parsed == {"thought": "hmm", "speak": "hello", "n": 3}
    assert parser.format_instruction == "Use <speak>...</speak>."
    with pytest.raises(TagNotFoundError, match="speak"):
        parser.parse("<thought>only</thought>")
    with pytest.raises(ValueError, match="format_instruction"):
        RegexTaggedContentParser().format_instruction  # pylint: disable=expression-not-assigned
    raw = RegexTaggedContentParser(try_parse_json=False).parse("<n>3</n>").parsed
    assert raw == {"n": "3"}
    with pytest.raises(ValueError, match="named groups"):
        RegexTaggedContentParser(tagged_content_pattern=r"<(\w+)>(.*?)</\1>")


def test_dict_filter_mixin():
    mixin = DictFilterMixin(keys_to_memory=True, keys_to_content=True, keys_to_metadata=False)
    assert mixin.to_memory(GT) == GT and mixin.to_content(GT) == GT and mixin.to_metadata(GT) is None
    picky = DictFilterMixin(keys_to_memory="speak", keys_to_content=["speak", "missing"], keys_to_metadata="vote")
    with pytest.raises(ValueError, match="missing"):
        picky.to_content(GT)
    assert picky.to_content(GT, allow_missing=True) == {"speak": "I vote Player2"}
    assert picky.to_memory(GT) == "I vote Player2" and picky.to_metadata(GT) == "Player2"


# -- DictDialogAgent.set_parser -----------------------------------------------------------------
def test_set_parser_filters_content_memory_and_metadata():
    agent = DictDialogAgent("Player1", "You play werewolf.", scripted(
        '```json\n{"thought": "Player3 is quiet", "speak": "I suspect Player3", "finish_discussion": true}\n```'))
    agent.set_parser(werewolf_parser())
    spoken = []
    agent.register_hook("pre_speak", "rec", lambda self, msg, stream, last: spoken.append(msg.content))
    hint = Msg("Moderator", "Discuss.", "assistant")
    reply = agent(hint)
    assert reply.content == "I suspect Player3"
    assert reply.metadata == {"finish_discussion": True}
    assert spoken == ["I suspect Player3"]
    assert [(m.name, m.content) for m in agent.memory.get_memory()] == [
        ("Moderator", "Discuss."), ("Player1", "I suspect Player3")]
    system = agent.model.calls[0]["messages"][0]
    assert system["role"] == "system" and "You play werewolf." in system["content"] and "finish_discussion" in system["content"]


def test_set_parser_retries_with_feedback_then_parses():
    agent = DictDialogAgent("Player1", "Play.", scripted(
        "I am not sure.", '{"thought": "ok", "speak": "I vote Player2", "finish_discussion": false}'))
    agent.set_parser(werewolf_parser())
    reply = agent(Msg("Moderator", "Vote.", "assistant"))
    assert reply.content == "I vote Player2" and reply.metadata == {"finish_discussion": False}
    second = agent.model.calls[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "I am not sure."}
    assert second[-1]["role"] == "user" and "could not be used" in second[-1]["content"]


def test_set_parser_falls_back_without_raising():
    agent = DictDialogAgent("Player1", "Play.", scripted('{"speak": "I vote Player4"}'), max_retries=2)
    agent.set_parser(werewolf_parser())
    reply = agent(Msg("Moderator", "Vote.", "assistant"))
    assert len(agent.model.calls) == 3
    assert reply.content == "I vote Player4"  # the keys the model did give are kept
    assert reply.metadata["finish_discussion"] is None and "thought" in reply.metadata["_parse_error"]
    garbled = DictDialogAgent("Player2", "Play.", scripted("mumble mumble"), max_retries=0)
    garbled.set_parser(werewolf_parser())
    reply = garbled(Msg("Moderator", "Vote.", "assistant"))
    assert reply.content == "mumble mumble"  # no speak value: the raw words, never None
    assert not reply.metadata.get("finish_discussion")


def test_set_parser_with_a_defined_fallback_and_a_tag_parser():
    agent = DictDialogAgent("P", "Play.", scripted("garbage"), max_retries=0,
                            fallback={"speak": "I pass.", "vote": "Abstain"})
    agent.set_parser(RegexTaggedContentParser(required_keys=["speak", "vote"], keys_to_content="speak",
                                              keys_to_metadata=["vote"], format_instruction="Use tags."))
    reply = agent(None)
    assert reply.content == "I pass." and reply.metadata["vote"] == "Abstain"
    tagged = DictDialogAgent("Q", "Play.", scripted("<speak>hi</speak><vote>Bob</vote>"))
    tagged.set_parser(RegexTaggedContentParser(keys_to_content="speak", keys_to_metadata="vote",
                                               format_instruction="Use tags."))
    reply = tagged(None)
    assert (reply.content, reply.metadata) == ("hi", "Bob")
    with pytest.raises(TypeError, match="parse"):
        tagged.set_parser("not a parser")


def test_set_parser_on_the_real_embedded_model():
    pytest.importorskip("llama_cpp")
    read_model_configs({"config_name": "tiny-parser", "model_type": "llama_cpp",
                        "generate_args": {"max_tokens": 64, "temperature": 0.0}})
    agent = DictDialogAgent("Player1", "You play werewolf with Player2 and Player3.", "tiny-parser")
    agent.set_parser(MarkdownJsonDictParser(
        content_hint={"speak": "what you say", "vote": "Player2 or Player3"},
        required_keys=["speak", "vote"], keys_to_content="speak", keys_to_metadata=["vote"]))
    reply = agent(Msg("Moderator", "Vote: Player2 or Player3? Say why.", "assistant"))
    assert isinstance(reply.content, str) and reply.content
    assert set(reply.metadata) == {"vote"}, reply.metadata  # the grammar made the JSON valid: no _parse_error
