"""Modules and names AgentScope 0.1.6 programs import (issue 9, items 9, 14)."""
from __future__ import annotations

import datetime
import subprocess
import sys

import pytest

import agentscope_rpc
from agentscope_rpc import exception
from agentscope_rpc.exception import ModelConfigError
from agentscope_rpc.manager import ModelManager
from agentscope_rpc.models import ModelResponse, ModelWrapperBase, clear_model_configs, get_model_configs


@pytest.fixture(autouse=True)
def _clean_configs():
    clear_model_configs()
    yield
    clear_model_configs()


def test_top_level_names_and_submodules_as_attributes():
    for name in ("init", "msghub", "state_dict", "print_llm_usage", "register_model_wrapper_class"):
        assert callable(getattr(agentscope_rpc, name)), name
    # `import agentscope` then `agentscope.agents.X`: submodules load on first use
    code = "import agentscope_rpc; print(agentscope_rpc.agents.DialogAgent.__name__, agentscope_rpc.memory.TemporaryMemory.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["DialogAgent", "TemporaryMemory"]
    with pytest.raises(AttributeError):
        agentscope_rpc.no_such_module  # pylint: disable=pointless-statement


def test_from_agentscope_rpc_import_msghub_is_the_callable():
    from agentscope_rpc import msghub
    from agentscope_rpc.msghub import MsgHubManager, msghub as the_same

    assert msghub is the_same and isinstance(msghub([]), MsgHubManager)


def test_exception_names_programs_catch():
    for name in ("ResponseParsingError", "JsonParsingError", "JsonTypeError", "RequiredFieldNotFoundError",
                 "TagNotFoundError", "JsonDictValidationError", "QuotaExceededError", "FunctionCallError",
                 "FunctionNotFoundError", "ArgumentNotFoundError", "ArgumentTypeError", "FunctionCallFormatError",
                 "StudioError", "StudioRegisterError", "AgentServerNotAliveError", "AgentCreationError",
                 "AgentCallError", "AgentServerError", "AgentServerUnsupportedMethodError"):
        assert issubclass(getattr(exception, name), Exception), name
    error = exception.TagNotFoundError("missing ```json", "raw text", missing_begin_tag=True)
    assert (error.raw_response, error.missing_begin_tag, error.missing_end_tag) == ("raw text", True, False)
    assert exception.QuotaExceededError("tokens").name == "tokens"
    remote = exception.RemoteSpeakError("ValueError", "bad chunk")
    assert isinstance(remote, exception.StreamError) and remote.remote_type == "ValueError"


def test_model_manager():
    manager = ModelManager.get_instance()
    assert manager is ModelManager.get_instance()
    manager.load_model_configs([{"config_name": "a", "model_type": "scripted", "responses": ["one"]}])
    manager.load_model_configs({"config_name": "a", "model_type": "scripted", "responses": ["two"]})  # kept first
    assert manager.get_model_config("a")["responses"] == ["one"]
    assert manager.get_config_by_name("a")["responses"] == ["one"] and manager.get_config_by_name("zz") is None
    assert manager.get_model_by_config_name("a")([]).text == "one"
    assert set(manager.model_configs) == {"a"} and "scripted" in manager.model_wrapper_mapping
    state = manager.state_dict()
    manager.clear_model_configs()
    assert get_model_configs() == []
    manager.load_dict(state)
    assert manager.get_model_config("a")["responses"] == ["one"]
    manager.load_model_configs([{"config_name": "b", "model_type": "scripted"}], clear_existing=True)
    assert set(manager.model_configs) == {"b"}
    with pytest.raises(ModelConfigError):
        manager.get_model_config("a")


def test_register_model_wrapper_class():
    class Shouting(ModelWrapperBase):
        model_type = "shouting_for_test"

        def _call(self, messages, stream, **kwargs):
            return ModelResponse(text=messages[-1]["content"].upper())

    agentscope_rpc.register_model_wrapper_class(Shouting)
    with pytest.raises(ValueError, match="already registered"):
        class Other(Shouting):
            pass
        agentscope_rpc.register_model_wrapper_class(Other)
    agentscope_rpc.register_model_wrapper_class(Shouting, exist_ok=True)
    with pytest.raises(TypeError):
        agentscope_rpc.register_model_wrapper_class(dict)
    ModelManager.get_instance().load_model_configs({"config_name": "loud", "model_type": "shouting_for_test"})
    assert ModelManager.get_instance().get_model_by_config_name("loud")([{"role": "user", "content": "hi"}]).text == "HI"


def test_utils_common_timestamp_helpers():
    from agentscope_rpc.utils.common import _convert_to_str, _get_timestamp, _join_str_with_comma_and, get_timestamp

    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    assert _get_timestamp("%Y%m%d-%H%M%S", when) == "20240506-070809"
    assert len(get_timestamp()) == len("2024-05-06 07:08:09")
    assert _convert_to_str({"a": 1}) == '{"a": 1}' and _convert_to_str("x") == "x"
    assert _join_str_with_comma_and(["a", "b", "c"]) == "a, b and c"


def test_agentbase_is_distributable():
    from agentscope_rpc.agents import AgentBase, DialogAgent

    assert AgentBase.__agentscope_distributable__ is True
    assert DialogAgent.__agentscope_distributable__ is True
