"""Agents as AgentScope 0.1.6 builds them (issue 9, items 16 and the agent core)."""
from __future__ import annotations

import pickle

import pytest

from agentscope_rpc.agents import AgentBase, DialogAgent, DictDialogAgent, UserAgent
from agentscope_rpc.message import Msg
from agentscope_rpc.models import clear_model_configs, read_model_configs


class TestAgent(AgentBase):
    """0.1.6's agent_test agent: extra keywords land in its init settings."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str, sys_prompt: str = None, **kwargs) -> None:
        super().__init__(
            name=name,
            sys_prompt=sys_prompt,
            model_config_name=kwargs.get("model_config"),
            use_memory=kwargs.get("use_memory"),
        )

    def reply(self, x=None):
        return x


class TestAgentCopy(TestAgent):
    pass


@pytest.fixture(autouse=True)
def _configs():
    clear_model_configs()
    read_model_configs({"config_name": "s", "model_type": "scripted", "responses": ["fine", "exit now"]})
    yield
    clear_model_configs()


def test_init_settings_and_agent_ids():
    a1 = TestAgent("a", "Hi", use_memory=False, attribute_1="hello world")
    assert a1._init_settings["args"] == ("a", "Hi")
    assert a1._init_settings["kwargs"] == {"use_memory": False, "attribute_1": "hello world"}
    args, kwargs = a1._init_settings  # and it still unpacks (how agents move to servers)
    assert args == ("a", "Hi") and kwargs["attribute_1"] == "hello world"
    assert pickle.loads(pickle.dumps(a1._init_settings))["kwargs"] == kwargs
    a2 = TestAgent("b", sys_prompt="Hello", attribute_2="Bye")
    assert a2._init_settings["args"] == ("b",) and a2._init_settings["kwargs"] == {"sys_prompt": "Hello", "attribute_2": "Bye"}
    assert a1.agent_id != a2.agent_id != TestAgentCopy("c").agent_id
    a4 = TestAgent("d")
    a4.agent_id = "agent_id_for_d"
    assert a4.agent_id == "agent_id_for_d"
    assert a1.memory is None and a2.memory is None  # use_memory=None, as in 0.1.6
    assert TestAgent.generate_agent_id() != TestAgent.generate_agent_id()


def test_dialog_agent_v0_signature_and_call():
    agent = DialogAgent("Ann", "You are Ann.", "s")
    reply = agent(Msg("Bob", "hi", "assistant"))
    assert (reply.name, reply.content, reply.role) == ("Ann", "fine", "assistant")
    assert [m.content for m in agent.memory.get_memory()] == ["hi", "fine"]


def test_dict_dialog_agent_v0_positional_arguments():
    agent = DictDialogAgent("Ann", "Play.", "s", True, 1)
    assert agent.max_retries == 1 and agent.sys_prompt == "Play." and agent.memory is not None
    assert DictDialogAgent("Bob", "Play.", "s", max_retries=None).max_retries == 3


def test_user_agent_signature_and_exit_loop():
    answers = iter(["hello", "EXIT"])
    user = UserAgent(name="Me", require_url=False, input_hint="You: ", input_func=lambda prompt: next(answers))
    bot = DialogAgent("Bot", "Be brief.", "s")
    x = None
    turns = 0
    while True:  # the seed README's loop
        x = bot(x)
        x = user(x)
        turns += 1
        if x.content == "exit":
            break
    assert turns == 2 and x.content == "exit"


def test_v0_object_hook_helpers():
    agent = TestAgent("a", use_memory=True)
    calls = []
    agent.register_pre_reply_hook("h", lambda self, x: calls.append("named"))
    agent(Msg("u", "x", "user"))
    agent.clear_all_obj_hooks()
    agent(Msg("u", "x", "user"))
    assert calls == ["named"]
