"""Model registry, responses, the embedded llama.cpp model and openai_chat."""
from __future__ import annotations

import json

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import ModelCallError, ModelConfigError
from agentscope_rpc.message import Msg
from agentscope_rpc.models import (
    DEFAULT_MODEL_CONFIG_NAME,
    LlamaCppChatWrapper,
    ModelResponse,
    OpenAIChatWrapper,
    clear_model_configs,
    find_smollm2_gguf,
    get_model_configs,
    load_model_by_config_name,
    read_model_configs,
)

try:  # tests/ helper module (importable as top-level or as tests._model_server)
    from _model_server import StubServer, free_port, start_llama_server, stop_process
except ImportError:  # pragma: no cover - when tests/ is a package
    from tests._model_server import StubServer, free_port, start_llama_server, stop_process

GEN = {"max_tokens": 24, "temperature": 0.0, "seed": 1234}


@pytest.fixture(autouse=True)
def clean_registry():
    clear_model_configs()
    yield
    clear_model_configs()


# -- registry ----------------------------------------------------------------
def test_read_configs_from_list_dict_and_path(tmp_path):
    read_model_configs([{"config_name": "a", "model_type": "scripted", "responses": ["x"]}])
    read_model_configs({"config_name": "b", "model_type": "openai_chat", "model_name": "m"})
    path = tmp_path / "configs.json"
    path.write_text(json.dumps([{"config_name": "c", "model_type": "llama_cpp", "n_ctx": 512}]))
    read_model_configs(str(path))
    assert [c["config_name"] for c in get_model_configs()] == ["a", "b", "c"]
    assert load_model_by_config_name("a")([]).text == "x"
    assert isinstance(load_model_by_config_name("b"), OpenAIChatWrapper)
    assert load_model_by_config_name("c").n_ctx == 512


def test_unknown_name_lists_known_names():
    read_model_configs({"config_name": "mine", "model_type": "scripted"})
    with pytest.raises(ModelConfigError) as info:
        load_model_by_config_name("nope")
    assert "nope" in str(info.value) and "mine" in str(info.value)
    assert DEFAULT_MODEL_CONFIG_NAME in str(info.value)


def test_duplicates_same_body_ok_different_body_raises():
    config = {"config_name": "d", "model_type": "scripted", "responses": ["1"]}
    read_model_configs(config)
    read_model_configs(dict(config))  # identical: ignored
    with pytest.raises(ModelConfigError, match="already registered"):
        read_model_configs([{"config_name": "e", "model_type": "scripted"},
                            {"config_name": "d", "model_type": "scripted", "responses": ["2"]}])
    # a rejected batch leaves the registry unchanged
    assert [c["config_name"] for c in get_model_configs()] == ["d"]
    read_model_configs({"config_name": "d", "model_type": "scripted", "responses": ["2"]},
                       clear_existing=True)
    assert load_model_by_config_name("d")([]).text == "2"


@pytest.mark.parametrize("bad", [
    {"model_type": "scripted"},
    {"config_name": "x"},
    "not a dict",
])
def test_malformed_configs_raise(bad):
    with pytest.raises(ModelConfigError):
        read_model_configs([bad])


def test_unknown_model_type_warns_and_fails_only_when_used(caplog):
    read_model_configs([{"config_name": "x", "model_type": "no_such_type"},
                        {"config_name": "ok", "model_type": "scripted", "responses": ["fine"]}])
    assert "unknown model_type 'no_such_type'" in caplog.text
    assert load_model_by_config_name("ok")([]).text == "fine"  # the rest of the list works
    with pytest.raises(ModelConfigError, match="unknown model_type 'no_such_type'"):
        load_model_by_config_name("x")


def test_unknown_config_key_is_reported():
    read_model_configs({"config_name": "k", "model_type": "scripted", "bogus": 1})
    with pytest.raises(ModelConfigError, match="bogus"):
        load_model_by_config_name("k")


def test_clear_keeps_builtin_default_and_configs_are_copies():
    read_model_configs({"config_name": "z", "model_type": "scripted"})
    get_model_configs()[0]["config_name"] = "mutated"
    assert get_model_configs()[0]["config_name"] == "z"
    clear_model_configs()
    assert get_model_configs() == []
    with pytest.raises(ModelConfigError):
        load_model_by_config_name("z")
    assert isinstance(load_model_by_config_name(DEFAULT_MODEL_CONFIG_NAME), LlamaCppChatWrapper)


# -- responses and formatting ------------------------------------------------
def test_stream_marks_last_once_and_text_consumes():
    chunks = list(ModelResponse(stream=iter(["a", "", "b", "c"])).stream)
    assert chunks == [(False, "a"), (False, "ab"), (False, "abc"), (True, "abc")]
    assert list(ModelResponse(stream=iter([])).stream) == [(True, "")]
    response = ModelResponse(stream=iter(["x", "y"]))
    assert response.text == "xy"
    assert list(response.stream) == [(True, "xy")]  # replay after consumption
    assert ModelResponse(text="t").stream is None


def test_format_roles_and_speaker():
    model = load_model_by_config_name(DEFAULT_MODEL_CONFIG_NAME)
    msgs = [Msg("system", "be brief", role="system"), Msg("Bob", "hi", role="assistant"),
            Msg("Ann", "hello", role="assistant")]
    assert model.format(msgs) == [
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert model.format(msgs[0], msgs[1:], None, speaker="Ann") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Bob: hi"},
        {"role": "assistant", "content": "hello"},
    ]


# -- embedded llama.cpp model: real generation ----------------------------------
@pytest.fixture(scope="module")
def llama():
    pytest.importorskip("llama_cpp")
    read_model_configs({"config_name": "t-llama", "model_type": "llama_cpp", "generate_args": GEN})
    model = load_model_by_config_name("t-llama")
    clear_model_configs()
    return model


def test_llama_stream_grows_and_speak_relays_chunks(llama):
    agent = AgentBase("bot")
    seen = []
    agent.register_hook("pre_speak", "rec", lambda a, m, s, last: seen.append((m.id, m.content, s, last)))
    response = llama([{"role": "user", "content": "Count from one to ten."}])
    assert response.is_stream
    msg = agent.speak(response.stream)
    assert len(seen) >= 3
    assert {s[0] for s in seen} == {msg.id}
    assert [s[3] for s in seen] == [False] * (len(seen) - 1) + [True]
    texts = [s[1] for s in seen]
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(texts, texts[1:-1]))
    assert texts[-1] == texts[-2] == msg.content == response.text  # closing event
    assert msg.content.strip()


def test_llama_loaded_once_and_non_stream(llama):
    other = LlamaCppChatWrapper("other", generate_args=GEN)
    assert other.load() is llama.load()
    response = other([{"role": "user", "content": "Say hello."}], stream=False, max_tokens=8)
    assert response.stream is None and response.text.strip()
    assert response.raw["choices"][0]["message"]["content"] == response.text
    assert response.raw["usage"]["completion_tokens"] <= 8  # per-call override applied


def test_llama_open_stream_guard_and_release(llama):
    stream = llama([{"role": "user", "content": "Tell a story."}]).stream
    next(stream)
    with pytest.raises(ModelCallError, match="still open"):  # would deadlock otherwise
        llama([{"role": "user", "content": "Hi"}], stream=False)
    stream.close()  # an abandoned stream releases the model
    assert llama([{"role": "user", "content": "Hi"}], stream=False, max_tokens=4).text


def test_llama_long_history_is_trimmed_to_context():
    pytest.importorskip("llama_cpp")
    model = LlamaCppChatWrapper("small-ctx", n_ctx=512, generate_args={"max_tokens": 4})
    history = [{"role": "system", "content": "You are terse."}] + [
        {"role": "user", "content": f"Fact {i}: " + "the sky is blue and grass is green. " * 6}
        for i in range(20)
    ]
    response = model(history, stream=False)
    assert 0 < response.raw["usage"]["prompt_tokens"] <= 512 - 4


# -- openai_chat against a real llama.cpp server --------------------------------
@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server")
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    proc, base_url = start_llama_server(find_smollm2_gguf(), log)
    try:
        yield base_url
    finally:
        stop_process(proc)


def _server_model(base_url: str, **config) -> OpenAIChatWrapper:
    return OpenAIChatWrapper("t-openai", model_name="smollm2", base_url=base_url,
                             api_key="unused", generate_args=GEN, **config)


def test_openai_real_server_non_stream(llama_server):
    response = _server_model(llama_server)([{"role": "user", "content": "Say hello."}])
    assert response.stream is None
    assert response.text.strip()
    assert response.raw["choices"][0]["message"]["content"] == response.text


def test_openai_real_server_stream(llama_server):
    response = _server_model(llama_server, stream=True)([{"role": "user", "content": "Count to five."}])
    chunks = list(response.stream)
    assert len(chunks) >= 3
    assert chunks[-1][0] is True and not any(last for last, _ in chunks[:-1])
    assert chunks[-1][1] == chunks[-2][1] == response.text and response.text.strip()
    assert len(response.raw) >= len(chunks)  # the SSE events, decoded


def test_openai_real_server_accepts_tools(llama_server):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]
    model = _server_model(llama_server)
    response = model([{"role": "user", "content": "Weather in Paris?"}], tools=tools)
    assert isinstance(response.tool_calls, list)
    assert response.raw["choices"][0]["finish_reason"] in {"stop", "length", "tool_calls"}


# -- retries, against a scripted local HTTP server ------------------------------
@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


def _stub_model(stub, **config) -> OpenAIChatWrapper:
    config.setdefault("max_retries", 3)
    return OpenAIChatWrapper("t-stub", model_name="m", base_url=stub.base_url, api_key="k",
                             retry_base_delay=0.01, retry_max_delay=0.05, timeout=5, **config)


def test_retries_503_then_succeeds(stub):
    stub.script = ["503", "503", "ok"]
    response = _stub_model(stub)([{"role": "user", "content": "hi"}])
    assert response.text == "Hello there"
    assert len(stub.requests) == 3
    assert stub.requests[-1]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert stub.requests[-1]["headers"]["authorization"] == "Bearer k"


def test_json_mode_args(stub):
    assert _stub_model(stub).json_mode_args(["a"]) == {}
    model = _stub_model(stub, json_mode=True)
    model([{"role": "user", "content": "JSON please"}], **model.json_mode_args(["a"]))
    assert stub.requests[-1]["body"]["response_format"] == {"type": "json_object"}
    schema = LlamaCppChatWrapper("j").json_mode_args(["a", "b"])["response_format"]["schema"]
    assert schema["required"] == ["a", "b"] and set(schema["properties"]) == {"a", "b"}


def test_400_is_not_retried(stub):
    stub.script = ["400", "ok"]
    with pytest.raises(ModelCallError) as info:
        _stub_model(stub)([{"role": "user", "content": "hi"}])
    assert info.value.status_code == 400
    assert "bad request body" in str(info.value)
    assert len(stub.requests) == 1


def test_retries_exhausted_raise_with_status(stub):
    stub.script = ["429"] * 5
    with pytest.raises(ModelCallError) as info:
        _stub_model(stub, max_retries=2)([{"role": "user", "content": "hi"}])
    assert info.value.status_code == 429 and "3 attempt" in str(info.value)
    assert len(stub.requests) == 3


def test_connection_error_is_retried_then_raises():
    model = OpenAIChatWrapper("t-down", model_name="m", base_url=f"http://127.0.0.1:{free_port()}/v1",
                              max_retries=2, retry_base_delay=0.01, retry_max_delay=0.02)
    with pytest.raises(ModelCallError) as info:
        model([{"role": "user", "content": "hi"}])
    assert info.value.status_code is None and "ConnectError" in str(info.value)


def test_stream_with_tool_call_deltas_after_retry(stub):
    stub.script = ["500", "broken-before-token", "stream"]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    response = _stub_model(stub, stream=True)([{"role": "user", "content": "hi"}], tools=tools)
    assert list(response.stream) == [(False, "Hel"), (False, "Hello"), (False, "Hello there"),
                                     (True, "Hello there")]
    assert response.tool_calls == [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert len(stub.requests) == 3 and stub.requests[-1]["body"]["tools"] == tools
    assert stub.requests[-1]["body"]["stream"] is True


def test_stream_broken_after_first_token_is_not_retried(stub):
    stub.script = ["broken-after-token", "stream"]
    response = _stub_model(stub, stream=True)([{"role": "user", "content": "hi"}])
    seen = []
    with pytest.raises(ModelCallError, match="stream broke"):
        for chunk in response.stream:
            seen.append(chunk)
    assert seen == [(False, "Hel")]  # what arrived before the break is handed over
    assert len(stub.requests) == 1
    assert response.text == "Hel"


def test_init_reads_model_configs():
    import agentscope_rpc

    agentscope_rpc.init(model_configs=[{"config_name": "via-init", "model_type": "scripted",
                                        "responses": ["ok"]}], console=False)
    assert [c["config_name"] for c in get_model_configs()] == ["via-init"]
    assert load_model_by_config_name("via-init")([]).text == "ok"
