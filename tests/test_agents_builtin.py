"""DialogAgent, DictDialogAgent, UserAgent and the JSON parser."""
from __future__ import annotations

import threading

import pytest

from agentscope_rpc.agents import DialogAgent, DictDialogAgent, UserAgent, UserExit
from agentscope_rpc.exception import ResponseParsingError
from agentscope_rpc.message import Msg
from agentscope_rpc.models import (
    DEFAULT_MODEL_CONFIG_NAME,
    LlamaCppChatWrapper,
    clear_model_configs,
    read_model_configs,
)
from agentscope_rpc.parsers import parse_json_object


@pytest.fixture(autouse=True)
def clean_registry():
    clear_model_configs()
    yield
    clear_model_configs()


def scripted(name: str, *responses: str, stream: bool = False) -> str:
    read_model_configs({"config_name": name, "model_type": "scripted",
                        "responses": list(responses), "stream": stream})
    return name


def record_speech(agent) -> list:
    seen: list = []
    agent.register_hook("pre_speak", "rec",
                        lambda a, msg, stream, last: seen.append((msg.id, msg.content, stream, last)))
    return seen


# -- DialogAgent -----------------------------------------------------------------
def test_dialog_agent_streams_and_remembers():
    agent = DialogAgent("Ann", sys_prompt="Be kind.",
                        model_config_name=scripted("s", "Nice to meet you", stream=True))
    seen = record_speech(agent)
    x = Msg("Bob", "hi Ann", role="assistant")
    reply = agent(x)
    assert reply.content == "Nice to meet you" and reply.name == "Ann"
    assert [s[1] for s in seen] == ["Nice", "Nice to", "Nice to meet", "Nice to meet you",
                                    "Nice to meet you"]  # chunks at once, then the closing event
    assert {s[0] for s in seen} == {reply.id} and [s[3] for s in seen].count(True) == 1
    assert agent.memory.get_memory() == [x, reply]
    assert agent.model.calls[0]["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Bob: hi Ann"},
    ]
    agent(Msg("Bob", "bye", role="assistant"))
    assert agent.model.calls[1]["messages"][2] == {"role": "assistant", "content": "Nice to meet you"}


def test_dialog_agent_without_stream_or_memory():
    agent = DialogAgent("Ann", model_config_name=scripted("s", "ok"), use_memory=False)
    seen = record_speech(agent)
    reply = agent(Msg("Bob", "hi", role="user"))
    assert reply.content == "ok" and seen == [(reply.id, "ok", False, True)]
    assert agent.model.calls[0]["messages"] == [{"role": "user", "content": "Bob: hi"}]


@pytest.mark.parametrize("stream", [True, False])
def test_dialog_agent_cuts_imitated_name_prefix(stream):
    agent = DialogAgent("Ann", model_config_name=scripted(
        "s", "Ann: Bob: Nice to meet you", "Annie is here", stream=stream))
    seen = record_speech(agent)
    assert agent(Msg("Bob", "hi", role="assistant")).content == "Bob: Nice to meet you"
    assert all(not s[1].startswith("Ann") for s in seen)
    assert agent(Msg("Bob", "who?", role="assistant")).content == "Annie is here"


def test_dialog_agent_default_model_is_embedded():
    agent = DialogAgent("Ann", sys_prompt="hi")
    assert isinstance(agent.model, LlamaCppChatWrapper)
    assert agent.model.config_name == DEFAULT_MODEL_CONFIG_NAME and agent.model.stream


def test_dialog_agent_real_embedded_model():
    pytest.importorskip("llama_cpp")
    read_model_configs({"config_name": "tiny", "model_type": "llama_cpp",
                        "generate_args": {"max_tokens": 16, "temperature": 0.0}})
    agent = DialogAgent("Ann", sys_prompt="You are Ann. Answer in one short sentence.",
                        model_config_name="tiny")
    seen = record_speech(agent)
    reply = agent(Msg("Bob", "What colour is the sky?", role="user"))
    assert reply.content.strip() and len(seen) >= 2
    assert {s[0] for s in seen} == {reply.id} and seen[-1][1] == reply.content
    assert agent.memory.get_memory()[-1] is reply


# -- DictDialogAgent -------------------------------------------------------------
def test_dict_agent_retries_with_feedback_then_parses():
    name = scripted("d", "I think I will vote.", '{"speak": "hi", "vote": ',
                    'Sure!\n```json\n{"speak": "I vote Bob", "vote": "Bob"}\n```')
    agent = DictDialogAgent("Ann", sys_prompt="Play.", model_config_name=name,
                            required_keys=["speak", "vote"])
    seen = record_speech(agent)
    reply = agent(Msg("host", "Vote now.", role="user"))
    assert reply.content == {"speak": "I vote Bob", "vote": "Bob"}
    assert reply.metadata == {"attempts": 3}
    assert seen == [(reply.id, "I vote Bob", False, True)]
    calls = agent.model.calls
    assert len(calls) == 3 and all(c["stream"] is False for c in calls)
    assert '"vote"' in calls[0]["messages"][0]["content"]  # format instruction in the system prompt
    second = calls[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "I think I will vote."}
    assert "no JSON object" in second[-1]["content"] and second[-1]["role"] == "user"
    assert "invalid JSON" in calls[2]["messages"][-1]["content"]
    assert agent.memory.get_memory()[-1] is reply


def test_dict_agent_missing_keys_fall_back_without_raising():
    agent = DictDialogAgent("Ann", model_config_name=scripted("d", '{"speak": "hello"}'),
                            required_keys=["speak", "vote"], max_retries=2)
    seen = record_speech(agent)
    reply = agent(Msg("host", "Vote now.", role="user"))
    assert len(agent.model.calls) == 3
    assert "missing required key(s) ['vote']" in agent.model.calls[1]["messages"][-1]["content"]
    assert reply.content["speak"] is None and reply.content["vote"] is None
    assert "vote" in reply.content["_parse_error"]
    assert reply.metadata["parse_failed"] is True and reply.metadata["attempts"] == 3
    assert reply.metadata["raw"] == '{"speak": "hello"}'
    assert seen[0][0] == reply.id and seen[0][1] == reply.content  # no speak value: whole dict


def test_dict_agent_defined_fallback_and_no_retries():
    agent = DictDialogAgent("Ann", model_config_name=scripted("d", "garbage"),
                            required_keys=["vote"], max_retries=0,
                            fallback={"vote": "abstain", "speak": "I pass."})
    seen = record_speech(agent)
    reply = agent(None)
    assert len(agent.model.calls) == 1
    assert reply.content == {"vote": "abstain", "speak": "I pass."}
    assert reply.metadata["parse_failed"] and seen[0][1] == "I pass."


def test_dict_agent_junk_around_braces_parses_first_time():
    agent = DictDialogAgent("Ann", model_config_name=scripted(
        "d", 'Here you go: {"speak": "yes", "n": 2} hope it helps}'), required_keys=["n"])
    reply = agent(Msg("host", "go", role="user"))
    assert reply.content == {"speak": "yes", "n": 2} and len(agent.model.calls) == 1


def test_dict_agent_real_embedded_model_json_mode():
    pytest.importorskip("llama_cpp")
    read_model_configs({"config_name": "tiny-json", "model_type": "llama_cpp",
                        "generate_args": {"max_tokens": 64, "temperature": 0.0}})
    agent = DictDialogAgent("Ann", sys_prompt="You play a game with Bob and Carl.",
                            model_config_name="tiny-json", required_keys=["speak", "vote"])
    seen = record_speech(agent)
    reply = agent(Msg("Moderator", "Vote: Bob or Carl? Say why.", role="user"))
    assert set(reply.content) >= {"speak", "vote"}, reply.metadata
    assert "parse_failed" not in reply.metadata  # the grammar made the JSON valid
    assert seen[-1][0] == reply.id and seen[-1][1] == reply.content["speak"]


# -- JSON parsing ----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
    ('```\n{"a": 1}\n```\nThat is all.', {"a": 1}),
    ('Answer: {"a": {"b": "}"}} trailing {', {"a": {"b": "}"}}),
    ('{"a": 1, "b": [2, 3,],}', {"a": 1, "b": [2, 3]}),
    ("{'a': True, 'b': None}", {"a": True, "b": None}),
    ('```json\n{"a": 1}', {"a": 1}),  # unterminated fence
])
def test_parse_json_object(text, expected):
    assert parse_json_object(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("no braces here", "no JSON object"),
    ("[1, 2]", "got a JSON list"),
    ('{"a": 1', "invalid JSON"),
])
def test_parse_json_object_errors(text, reason):
    with pytest.raises(ResponseParsingError, match=reason) as info:
        parse_json_object(text)
    assert info.value.raw == text


# -- UserAgent -------------------------------------------------------------------
def test_user_agent_reads_line():
    prompts = []
    user = UserAgent("Me", input_func=lambda p: prompts.append(p) or "  hello  ")
    seen = record_speech(user)
    reply = user(Msg("Bot", "hi", role="assistant"))
    assert (reply.name, reply.content, reply.role) == ("Me", "hello", "user")
    assert prompts == ["User Input: "] and seen == [(reply.id, "hello", False, True)]
    assert [m.content for m in user.memory.get_memory()] == ["hi", "hello"]


@pytest.mark.parametrize("answer", ["exit", " EXIT "])
def test_user_agent_exit_replies_exit(answer):
    user = UserAgent(input_func=lambda _p: answer)
    reply = user()  # the seed README's loop: `if x.content == "exit": break`
    assert reply.content == "exit" and reply.role == "user"
    assert user.memory.get_memory()[-1] is reply


def test_user_agent_input_hint_and_url():
    prompts = []
    answers = iter(["look at this", " http://example.com/cat.png "])
    user = UserAgent("Me", input_hint="> ", require_url=True,
                     input_func=lambda p: prompts.append(p) or next(answers))
    reply = user()
    assert prompts[0] == "> " and len(prompts) == 2
    assert (reply.content, reply.url) == ("look at this", "http://example.com/cat.png")


def test_user_agent_eof_is_exit():
    def closed(_prompt):
        raise EOFError
    with pytest.raises(UserExit, match="input closed"):
        UserAgent(input_func=closed)()
    assert issubclass(UserExit, SystemExit)


def test_user_agent_timeout_keeps_pending_read():
    release = threading.Event()
    calls = []

    def slow_input(prompt):
        calls.append(prompt)
        release.wait()
        return "late answer"

    user = UserAgent(input_func=slow_input, timeout=0.05)
    first = user()
    assert first.content == "" and first.metadata == {"timed_out": True}
    release.set()
    user.timeout = 10
    assert user().content == "late answer"
    assert len(calls) == 1  # the pending read was reused, not a second prompt
