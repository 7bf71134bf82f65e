"""`FunctionCallAgent` against real things: an agent server, llama.cpp's OpenAI server, the embedded model."""
import io
import json
import os

import pytest

import agentscope_rpc
from agentscope_rpc import runtime
from agentscope_rpc.agents import FunctionCallAgent
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.message import Msg
from agentscope_rpc.models import clear_model_configs
from agentscope_rpc.models.llama_cpp_model import find_smollm2_gguf
from agentscope_rpc.streaming import pipeline
from agentscope_rpc.tools import ToolCallEvent, ToolResultEvent
from test_function_call_agent import Spy, assert_no_tool_tokens, call
from tool_funcs import get_current_weather, get_forecast, recording_weather

try:
    from _model_server import start_llama_server, stop_process
except ImportError:  # pragma: no cover
    from tests._model_server import start_llama_server, stop_process

pytestmark = pytest.mark.timeout(300)
WEATHER = [get_current_weather, get_forecast]


@pytest.fixture(autouse=True)
def _configs():
    yield
    clear_model_configs()


def _scripted(*responses):
    agentscope_rpc.init(model_configs=[{"config_name": "script", "model_type": "scripted", "stream": True,
                                        "responses": list(responses)}])
    return "script"


# -- distributed ------------------------------------------------------------------------
def test_distributed_agent_runs_tools_on_its_server_and_streams_only_text(module_server):
    config = _scripted(f"Let me see. {call('get_current_weather', city='Tokyo')}", "Sunny in Tokyo.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER, to_dist=module_server.options)
    spy = Spy(agent)  # a hook on the proxy, in this process
    reply = agent(Msg("user", "Weather?", "user")).result(timeout=60)
    assert reply.content == "Let me see. Sunny in Tokyo."
    assert_no_tool_tokens(spy.texts)
    assert [last for _, last in spy.chunks].count(True) == 1
    [record] = reply.metadata["tool_calls"]
    assert json.loads(record["content"])["pid"] == module_server.pid != os.getpid()  # ran on the server


def test_distributed_tool_events_reach_the_app_stream_in_order(module_server):
    config = _scripted(f"One moment. {call('get_forecast', city='Oslo', days=2)}", "Cloudy, then cloudy.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER, to_dist=module_server.options)

    @pipeline(chunks=True)
    def app():
        agent(Msg("user", "Forecast?", "user")).result(timeout=60)

    items = list(app())
    kinds = [type(i).__name__ for i in items]
    call_at, result_at = kinds.index("ToolCallEvent"), kinds.index("ToolResultEvent")
    assert "SpeakChunk" in kinds[:call_at] and "SpeakChunk" in kinds[result_at + 1:]
    event, result = items[call_at], items[result_at]
    assert isinstance(event, ToolCallEvent) and event.arguments == {"city": "Oslo", "days": 2}
    assert isinstance(result, ToolResultEvent) and result.ok and result.call_id == event.call_id
    chunks = [i for i in items if type(i).__name__ == "SpeakChunk"]
    assert event.msg_id == chunks[0].msg.id == chunks[-1].msg.id  # one message around the call
    assert_no_tool_tokens([c.msg.content for c in chunks])
    assert chunks[-1].msg.content == "One moment. Cloudy, then cloudy."


def test_distributed_tool_lines_on_the_orchestrators_terminal(module_server):
    config = _scripted(call("get_current_weather", city="Lima"), "Warm.")
    agent = FunctionCallAgent("Assistant", model_config_name=config, tools=WEATHER, to_dist=module_server.options)
    out = io.StringIO()
    runtime.default().set_printer(ConsolePrinter(out=out, colour=False))
    agent(Msg("user", "?", "user")).result(timeout=60)
    text = out.getvalue()
    assert "get_current_weather(city='Lima')" in text and "Assistant: Warm." in text
    assert "<tool_call>" not in text


# -- llama-cpp-python's OpenAI-compatible server -----------------------------------------------
@pytest.fixture(scope="module")
def tool_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server")
    log = tmp_path_factory.mktemp("llama_tools") / "server.log"
    proc, base_url = start_llama_server(find_smollm2_gguf(), log, extra_args=("--chat_format", "chatml-function-calling"))
    yield base_url
    stop_process(proc)


def test_real_openai_server_streams_a_native_tool_call_then_the_answer(tool_server):
    agentscope_rpc.init(model_configs=[{"config_name": "srv", "model_type": "openai_chat", "model_name": "smollm2",
                                        "base_url": tool_server, "stream": True, "max_retries": 0,
                                        "generate_args": {"temperature": 0.0, "max_tokens": 48}}])
    get_current_weather, calls = recording_weather()

    # llama-cpp-python's server streams a named tool choice (not an automatic one), and no choice without tools
    agent = FunctionCallAgent("Assistant", sys_prompt="You are a helpful assistant.", model_config_name="srv",
                              tools=[get_current_weather], tool_choice="get_current_weather",
                              follow_up_tool_choice="none")
    spy = Spy(agent)
    reply = agent(Msg("user", "What is the weather in Tokyo right now?", "user"))
    assert len(calls) == 1 and isinstance(calls[0], str) and calls[0]
    assert reply.metadata["tool_calls"][0]["ok"]
    assert reply.content.strip() and len(spy.chunks) > 2  # the answer streamed, token by token
    assert_no_tool_tokens(spy.texts)


# -- the embedded model and the text protocol ----------------------------------------------------
def test_embedded_model_makes_a_grammar_constrained_call_and_answers():
    pytest.importorskip("llama_cpp")
    agentscope_rpc.init(model_configs=[{"config_name": "local", "model_type": "llama_cpp", "stream": True,
                                        "generate_args": {"temperature": 0.0, "max_tokens": 48, "seed": 1}}])
    get_current_weather, calls = recording_weather()

    agent = FunctionCallAgent("Assistant", sys_prompt="You are a helpful assistant.", model_config_name="local",
                              tools=[get_current_weather], tool_choice="required", follow_up_tool_choice="none")
    spy = Spy(agent)
    reply = agent(Msg("user", "What is the weather in Tokyo right now?", "user"))
    assert calls == ["Tokyo"]  # greedy decoding under the grammar copies the city from the question
    assert reply.content.strip() and len(spy.chunks) > 2
    assert_no_tool_tokens(spy.texts)
    assert "fallback" not in reply.metadata


def test_embedded_model_takes_over_a_call_the_model_opened_in_free_text():
    """`auto`: text streams until the model writes the tag; the grammar then writes the call.

    SmolLM2-135M seldom opens a tag by itself, so the first reply's free text
    is scripted (it opens the tag and would go on with garbage); the call and
    the answer after it are generated by the real model.
    """
    pytest.importorskip("llama_cpp")
    from agentscope_rpc.models import register_model_type
    from agentscope_rpc.models.llama_cpp_model import LlamaCppChatWrapper
    from agentscope_rpc.models.response import ModelResponse

    class OpensATag(LlamaCppChatWrapper):
        model_type = "test_llama_opens_a_tag"
        free_calls = 0

        def _call(self, messages, stream, **kwargs):
            OpensATag.free_calls += 1
            if OpensATag.free_calls == 1:
                return ModelResponse(stream=iter(["Let me ", "check. <tool", '_call>{"na', "me: garbage"]))
            return super()._call(messages, stream, **kwargs)

    register_model_type(OpensATag)
    agentscope_rpc.init(model_configs=[{"config_name": "half", "model_type": "test_llama_opens_a_tag",
                                        "stream": True, "generate_args": {"temperature": 0.0, "max_tokens": 48}}])
    get_current_weather, calls = recording_weather()
    agent = FunctionCallAgent("Assistant", sys_prompt="You are a helpful assistant.", model_config_name="half",
                              tools=[get_current_weather], follow_up_tool_choice="none")
    spy = Spy(agent)
    reply = agent(Msg("user", "What is the weather in Tokyo right now?", "user"))
    assert calls == ["Tokyo"]  # written by the grammar after "Let me check. <tool_call>"
    assert reply.content.startswith("Let me check. ") and len(reply.content) > len("Let me check. ")
    assert_no_tool_tokens(spy.texts)
    assert "garbage" not in reply.content  # the free generation stopped at the tag
