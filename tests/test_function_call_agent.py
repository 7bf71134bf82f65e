"""`FunctionCallAgent`: streaming text, hidden tool calls, tool rounds, every error path.

The OpenAI path runs against a real HTTP server that streams scripted chunk
events (text deltas with tool-call deltas in between, as OpenAI sends them);
the text protocol runs on the scripted model; the real model servers
(llama.cpp's OpenAI-compatible server, the embedded model) and agent
servers are in test_function_call_real.py.
"""
import io
import json

import pytest

import agentscope_rpc
from agentscope_rpc import runtime
from agentscope_rpc.agents import FunctionCallAgent, ReActAgent
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.message import Msg
from agentscope_rpc.models import clear_model_configs
from agentscope_rpc.service import ServiceToolkit
from agentscope_rpc.streaming import pipeline
from agentscope_rpc.tools import ToolCallEvent, ToolResultEvent
from agentscope_rpc.tools.protocol import CLOSE, OPEN
from test_streaming_sse import get_events, serve_app  # noqa: F401  (the fixture)
from tool_funcs import SPANS, explode, get_current_weather, get_forecast, hang, release_hung, search_web

try:
    from _model_server import StubServer
except ImportError:  # pragma: no cover
    from tests._model_server import StubServer

pytestmark = pytest.mark.timeout(60)
WEATHER = [get_current_weather, get_forecast]


class Spy:
    """Every chunk a pre_speak hook sees."""

    def __init__(self, agent):
        self.chunks = []
        agent.register_hook("pre_speak", "spy", self.hook)

    def hook(self, agent, msg, stream, last):
        self.chunks.append((msg.content, last))

    @property
    def texts(self):
        return [text for text, _ in self.chunks]


def assert_no_tool_tokens(texts):
    for text in texts:
        for bad in (OPEN, CLOSE, "<tool", '"arguments"', '{"city"', "tool_call"):
            assert bad not in text, (bad, text)


def scripted(*responses):
    agentscope_rpc.init(model_configs=[{"config_name": "script", "model_type": "scripted", "stream": True,
                                        "responses": list(responses)}])
    return "script"


@pytest.fixture(autouse=True)
def _configs():
    yield
    clear_model_configs()


def call(name, **arguments):
    return f'{OPEN}{{"name": "{name}", "arguments": {json.dumps(arguments)}}}{CLOSE}'


# -- the text protocol (scripted model) ----------------------------------------------------
def test_text_before_the_tag_streams_the_tag_never_does_and_the_answer_streams_after():
    config = scripted(f"Let me check the weather. {call('get_current_weather', city='Tokyo')}",
                      "It is sunny in Tokyo, 21 degrees.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER)
    spy = Spy(agent)
    reply = agent(Msg("user", "Weather in Tokyo?", "user"))
    assert reply.content == "Let me check the weather. It is sunny in Tokyo, 21 degrees."
    assert_no_tool_tokens(spy.texts)
    assert [last for _, last in spy.chunks].count(True) == 1  # one message over both rounds
    assert len(spy.chunks) > 10  # word by word, both rounds
    first_answer = next(i for i, t in enumerate(spy.texts) if "sunny" in t)
    assert first_answer < len(spy.chunks) - 2 and "degrees" not in spy.texts[first_answer]  # still streaming
    assert reply.metadata["tool_calls"][0]["tool"] == "get_current_weather"
    assert reply.metadata["tool_calls"][0]["arguments"] == {"city": "Tokyo"}
    second_prompt = agent.model.calls[1]["messages"]
    assert second_prompt[-1]["role"] == "user" and '"sky": "sunny"' in second_prompt[-1]["content"]
    assert "get_current_weather(city: string" in second_prompt[0]["content"]  # the protocol is taught
    assert agent.memory.get_memory()[-1].content == reply.content


def test_two_calls_in_one_answer_run_in_parallel():
    SPANS.clear()
    config = scripted(call("get_current_weather", city="Tokyo") + call("get_forecast", city="Oslo", days=2),
                      "Done.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER)
    reply = agent(Msg("user", "both", "user"))
    assert reply.content == "Done." and len(reply.metadata["tool_calls"]) == 2
    (_, s1, e1), (_, s2, _) = sorted(SPANS, key=lambda s: s[1])
    assert s2 < e1


def test_malformed_call_gets_one_retry_with_the_parse_error():
    config = scripted(f"{OPEN}{{\"name\": \"get_forecast\", \"arguments\": {{city: Oslo}}}}{CLOSE}",
                      call("get_forecast", city="Oslo", days=1), "Cloudy tomorrow.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER)
    reply = agent(Msg("user", "forecast", "user"))
    assert reply.content == "Cloudy tomorrow." and "fallback" not in reply.metadata
    retry_prompt = agent.model.calls[1]["messages"][-1]["content"]
    assert "could not be read" in retry_prompt and "not valid JSON" in retry_prompt


def test_malformed_twice_ends_with_the_defined_fallback():
    bad = f'Sure. {OPEN}{{"name": "get_forecast", "arguments": [{CLOSE}'
    config = scripted(bad, bad, "never asked")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER)
    spy = Spy(agent)
    reply = agent(Msg("user", "forecast", "user"))
    assert reply.metadata["fallback"] == "malformed_tool_call"
    assert reply.content.startswith("Sure. Sure. (I could not make a valid tool call:")
    assert len(agent.model.calls) == 2
    assert_no_tool_tokens(spy.texts)


def test_round_limit_is_a_clear_final_message():
    config = scripted(call("get_forecast", city="Oslo"))  # repeats forever
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER, max_iters=3)
    reply = agent(Msg("user", "loop", "user"))
    assert reply.metadata["fallback"] == "max_iters" and len(agent.model.calls) == 3
    assert "stopped after 3 tool rounds" in reply.content and "get_forecast" in reply.content
    assert len(reply.metadata["tool_calls"]) == 2  # the third round's call was not run


@pytest.mark.parametrize("tool_call, expected", [
    (call("explode", reason="fuse"), "RuntimeError: the tool broke: fuse"),
    (call("teleport", to="Mars"), "unknown tool 'teleport'"),
    (call("get_forecast", town="Oslo"), "missing required argument(s): city"),
])
def test_tool_errors_go_back_to_the_model_as_results(tool_call, expected):
    config = scripted(tool_call, "Sorry, that did not work.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER + [explode])
    reply = agent(Msg("user", "go", "user"))
    assert reply.content == "Sorry, that did not work."
    assert expected in agent.model.calls[1]["messages"][-1]["content"]
    assert reply.metadata["tool_calls"][0]["ok"] is False


def test_a_hanging_tool_is_answered_with_a_timeout():
    config = scripted(call("hang"), "It took too long.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=[hang], tool_timeout=0.5)
    try:
        reply = agent(Msg("user", "wait", "user"))
    finally:
        release_hung()
    assert reply.content == "It took too long."
    assert "timed out after 0.5s" in agent.model.calls[1]["messages"][-1]["content"]


def test_tool_choice_is_checked_and_none_hides_the_tools():
    config = scripted("No tools today.")
    with pytest.raises(ValueError, match="tool_choice 'teleport'"):
        FunctionCallAgent("A", model_config_name=config, tools=WEATHER, tool_choice="teleport")
    agent = FunctionCallAgent("A", model_config_name=config, tools=WEATHER, tool_choice="none")
    assert agent(Msg("user", "hi", "user")).content == "No tools today."
    assert OPEN not in json.dumps(agent.model.calls[0]["messages"])


def test_react_agent_takes_agentscope_016_arguments():
    config = scripted(call("search_web", query="green tea"), "Found it.")
    toolkit = ServiceToolkit()
    toolkit.add(search_web, api_key="secret")
    agent = ReActAgent("assistant", config, toolkit, max_iters=4, verbose=False)
    assert agent.sys_prompt == "You're a helpful assistant named assistant." and agent.service_toolkit is toolkit
    reply = agent(Msg("user", "tea?", "user"))
    assert reply.content == "Found it." and reply.metadata["tool_calls"][0]["ok"]
    assert "result for green tea" in agent.model.calls[1]["messages"][-1]["content"]
    assert "api_key" not in json.dumps(agent.model.calls[0]["messages"])  # presets stay hidden


def test_terminal_shows_text_and_tool_lines_never_the_call():
    config = scripted(f"Checking. {call('get_current_weather', city='Tokyo')}", "Sunny.")
    out = io.StringIO()
    runtime.default().set_printer(ConsolePrinter(out=out, colour=False))
    FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER)(Msg("user", "?", "user"))
    text = out.getvalue()
    assert "Assistant: Checking." in text and "Sunny." in text
    assert "get_current_weather(city='Tokyo')" in text  # the tool line
    assert OPEN not in text and '"arguments"' not in text


# -- native tool calls over HTTP (openai_chat, streamed) -----------------------------------
def chunk(content=None, tool_calls=None, finish=None):
    delta = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def tc(index, arguments="", call_id=None, name=None):
    entry = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        entry.update(id=call_id, type="function")
        entry["function"]["name"] = name
    return [entry]


ROUND_ONE = [
    chunk(content="Let me check "),
    chunk(tool_calls=tc(0, call_id="call_a", name="get_current_weather")),
    chunk(content="both "),
    chunk(tool_calls=tc(1, call_id="call_b", name="get_forecast")),
    chunk(tool_calls=tc(0, '{"city": ')),
    chunk(tool_calls=tc(1, '{"city": "Oslo", ')),
    chunk(tool_calls=tc(0, '"Tokyo"}')),
    chunk(tool_calls=tc(1, '"days": 2}')),
    chunk(content="for you."),
    chunk(finish="tool_calls"),
]
ROUND_TWO = [chunk(content="Tokyo is sunny"), chunk(content=" and Oslo cloudy."), chunk(finish="stop")]


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


def stub_config(stub):
    agentscope_rpc.init(model_configs=[{"config_name": "stub", "model_type": "openai_chat", "model_name": "m",
                                        "base_url": stub.base_url, "stream": True, "max_retries": 0}])
    return "stub"


def test_native_stream_speaks_text_deltas_and_assembles_parallel_calls(stub):
    SPANS.clear()
    stub.script = [ROUND_ONE, ROUND_TWO]
    agent = FunctionCallAgent("Assistant", model_config_name=stub_config(stub), tools=WEATHER)
    spy = Spy(agent)
    reply = agent(Msg("user", "Weather in Tokyo and Oslo?", "user"))
    assert reply.content == "Let me check both for you. Tokyo is sunny and Oslo cloudy."
    assert spy.texts[:3] == ["Let me check ", "Let me check both ", "Let me check both for you."]
    assert_no_tool_tokens(spy.texts)
    first, second = (r["body"] for r in stub.requests)
    assert first["stream"] is True and first["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in first["tools"]] == ["get_current_weather", "get_forecast"]
    assistant, *tool_messages = second["messages"][-3:]
    assert assistant["role"] == "assistant" and assistant["content"] == "Let me check both for you."
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in assistant["tool_calls"]] == [("call_a", "get_current_weather", {"city": "Tokyo"}),
                                                 ("call_b", "get_forecast", {"city": "Oslo", "days": 2})]
    assert [(m["role"], m["tool_call_id"]) for m in tool_messages] == [("tool", "call_a"), ("tool", "call_b")]
    assert json.loads(tool_messages[0]["content"])["sky"] == "sunny"
    assert len(json.loads(tool_messages[1]["content"])) == 2
    (_, s1, e1), (_, s2, _) = sorted(SPANS, key=lambda s: s[1])
    assert s2 < e1  # the two calls overlapped


def test_native_bad_arguments_and_unknown_tool_are_reported_as_results(stub):
    stub.script = [[chunk(tool_calls=tc(0, call_id="c1", name="get_forecast")), chunk(tool_calls=tc(0, '{"city": ')),
                    chunk(tool_calls=tc(1, call_id="c2", name="teleport")), chunk(tool_calls=tc(1, "{}")),
                    chunk(finish="tool_calls")], ROUND_TWO]
    agent = FunctionCallAgent("Assistant", model_config_name=stub_config(stub), tools=WEATHER)
    reply = agent(Msg("user", "?", "user"))
    assert reply.content == "Tokyo is sunny and Oslo cloudy."
    results = {m["tool_call_id"]: m["content"] for m in stub.requests[1]["body"]["messages"] if m["role"] == "tool"}
    assert "not valid JSON" in results["c1"] and "unknown tool 'teleport'" in results["c2"]


def test_native_text_protocol_tags_in_content_are_hidden_too(stub):
    # a server without a tool parser passes the model's own tags through as text
    stub.script = [[chunk(content="One moment. <tool"), chunk(content='_call>{"name": "get_forecast", '),
                    chunk(content='"arguments": {"city": "Rome"}}</tool_call>'), chunk(finish="stop")], ROUND_TWO]
    agent = FunctionCallAgent("Assistant", model_config_name=stub_config(stub), tools=WEATHER)
    spy = Spy(agent)
    reply = agent(Msg("user", "?", "user"))
    assert reply.content == "One moment. Tokyo is sunny and Oslo cloudy."
    assert_no_tool_tokens(spy.texts)
    assert reply.metadata["tool_calls"][0]["arguments"] == {"city": "Rome"}


def test_required_and_named_tool_choice_reach_the_server(stub):
    stub.script = [ROUND_TWO, ROUND_TWO]
    config = stub_config(stub)
    FunctionCallAgent("A", model_config_name=config, tools=WEATHER, tool_choice="get_forecast")(None)
    FunctionCallAgent("A", model_config_name=config, tools=WEATHER, tool_choice="required")(None)
    assert stub.requests[0]["body"]["tool_choice"] == {"type": "function", "function": {"name": "get_forecast"}}
    assert stub.requests[1]["body"]["tool_choice"] == "required"


def test_sse_stream_has_typed_tool_events_and_clean_text(stub, serve_app):  # noqa: F811
    stub.script = [ROUND_ONE, ROUND_TWO]
    agent = FunctionCallAgent("Assistant", model_config_name=stub_config(stub), tools=WEATHER)

    @pipeline
    def app():
        agent(Msg("user", "Weather?", "user"))

    events = get_events(serve_app(app))
    kinds = [k for k, _ in events]
    chunks = [d for k, d in events if k == "chunk"]
    assert_no_tool_tokens([d.get("delta", d.get("text", "")) for d in chunks])
    msg_id = chunks[0]["id"]
    calls = [d for k, d in events if k == "tool_call"]
    results = [d for k, d in events if k == "tool_result"]
    assert [(c["tool"], c["arguments"], c["msg_id"]) for c in calls] == [
        ("get_current_weather", {"city": "Tokyo"}, msg_id), ("get_forecast", {"city": "Oslo", "days": 2}, msg_id)]
    assert [(r["call_id"], r["ok"]) for r in results] == [("call_a", True), ("call_b", True)]
    # order: text of round one, the calls, their results, text of round two, the message, the end
    first_call, last_result = kinds.index("tool_call"), len(kinds) - 1 - kinds[::-1].index("tool_result")
    assert "chunk" in kinds[:first_call] and "chunk" in kinds[last_result:]
    assert kinds[-2:] == ["message", "end"]
    assert "".join(d["delta"] for d in chunks) == "Let me check both for you. Tokyo is sunny and Oslo cloudy."


def test_tool_events_in_a_local_app_stream_are_objects_in_order():
    config = scripted(f"Hm. {call('get_forecast', city='Oslo')}", "Cloudy.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER)

    @pipeline(chunks=True)
    def app():
        agent(Msg("user", "?", "user"))

    items = list(app())
    kinds = [type(i).__name__ for i in items]
    assert kinds.count("ToolCallEvent") == 1 and kinds.count("ToolResultEvent") == 1
    call_at, result_at = kinds.index("ToolCallEvent"), kinds.index("ToolResultEvent")
    assert call_at < result_at and isinstance(items[call_at], ToolCallEvent)
    assert isinstance(items[result_at], ToolResultEvent) and items[result_at].ok
    assert "SpeakChunk" in kinds[:call_at] and "SpeakChunk" in kinds[result_at:]
