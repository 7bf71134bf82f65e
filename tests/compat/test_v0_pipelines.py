"""Pipelines with AgentScope 0.1.x's names (issue 9, item 10), and a clear error for non-Msg replies."""
from __future__ import annotations

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.pipelines import (
    SequentialPipeline,
    forloop_pipeline,
    ifelse_pipeline,
    sequential_pipeline,
    switch_pipeline,
    whileloop_pipeline,
)
from agentscope_rpc.pipelines._functional import sequential_pipeline as from_private_module


class AddAgent(AgentBase):
    def __init__(self, value: int) -> None:
        super().__init__(name="Add")
        self.value = value

    def reply(self, x):
        x.metadata += self.value
        return x


class MultAgent(AgentBase):
    def __init__(self, value: int) -> None:
        super().__init__(name="Mult")
        self.value = value

    def reply(self, x):
        x.metadata *= self.value
        return x


class DictReplier(AgentBase):
    """Returns a plain dict: legitimate on its own, not as input of another agent."""

    def reply(self, x=None):
        return {"said": "a dict"}


def start():
    return Msg("user", "", "user", metadata=0)


def test_functional_sequential_pipeline():
    add1, add2, mult3 = AddAgent(1), AddAgent(2), MultAgent(3)
    assert sequential_pipeline([add1, add2, mult3], start()).metadata == 9
    assert sequential_pipeline([add1, mult3, add2], start()).metadata == 5
    assert sequential_pipeline([mult3, add1, add2], start()).metadata == 3
    assert from_private_module is sequential_pipeline  # 0.1.6 examples import it from there


def test_class_sequential_pipeline():
    add1, add2, mult3 = AddAgent(1), AddAgent(2), MultAgent(3)
    assert SequentialPipeline([add1, add2, mult3])(start()).metadata == 9
    assert SequentialPipeline([mult3, add1, add2])(start()).metadata == 3


def test_the_other_v0_names():
    add1, mult3 = AddAgent(1), MultAgent(3)
    assert ifelse_pipeline(lambda x: x.metadata == 0, add1, mult3, start()).metadata == 1
    assert switch_pipeline(lambda x: "m", {"m": [add1, mult3]}, add1, start()).metadata == 3
    assert forloop_pipeline(add1, 5, lambda x: x.metadata >= 3, start()).metadata == 3
    assert whileloop_pipeline(add1, lambda i, x: i < 4, start()).metadata == 4


def test_a_dict_reply_handed_to_the_next_agent_is_a_clear_error():
    with pytest.raises(TypeError) as info:
        sequential_pipeline([DictReplier("Dicty"), AddAgent(1)], start())
    text = str(info.value)
    assert "'Dicty'" in text and "dict" in text and "'Add'" in text and "not a Msg" in text


def test_non_msg_values_still_flow_where_no_agent_needs_a_msg():
    assert sequential_pipeline([DictReplier("Dicty")], None) == {"said": "a dict"}  # last: returned as is
    assert sequential_pipeline([DictReplier("Dicty"), lambda d: d["said"]], None) == "a dict"
    assert sequential_pipeline([lambda x: 1, lambda n: n + 1], None) == 2
