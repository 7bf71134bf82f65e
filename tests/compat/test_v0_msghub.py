"""msghub as AgentScope 0.1.6 programs use it (issue 9, item 9)."""
from __future__ import annotations

import pytest

from agentscope_rpc import msghub, runtime
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.msghub import OpenHubs


class Keeper(AgentBase):
    """Remembers its input and returns it ({} when called without one, as 0.1.6's test agent)."""

    def reply(self, x=None):
        if x is not None:
            self.memory.add(x)
            return x
        return {}


def test_add_delete_and_broadcast():
    agent1, agent2, agent3 = Keeper("agent1"), Keeper("agent2"), Keeper("agent3")
    msgs = [Msg(f"a{i}", f"msg{i}", "assistant") for i in range(1, 5)]
    with msghub(participants=[agent1, agent2]) as hub:
        agent1(msgs[0])
        agent2(msgs[1])
        hub.delete(agent1)
        hub.add(agent3)
        agent3(msgs[2])
        hub.broadcast(msgs[3])
    assert agent2.memory.get_memory() == msgs
    assert agent1.memory.get_memory() == msgs[:2]
    assert agent3.memory.get_memory() == msgs[2:]


def test_only_participants_hear():
    whisper, agent1, agent2, agent3 = (Keeper(n) for n in ("whisper", "agent1", "agent2", "agent3"))
    secret = [Msg("w1", "my password is 123456", "assistant")]
    with msghub(participants=[whisper, agent1, agent2]):
        whisper(secret)
    assert agent1.memory.get_memory() == secret and agent2.memory.get_memory() == secret
    assert agent3.memory.get_memory() == []


def test_positional_participants_announcement_and_exit():
    wolves = [Keeper("w1"), Keeper("w2")]
    hint = Msg("Moderator", "wolves, wake up", "assistant")
    with msghub(wolves, announcement=hint):
        wolves[0](Msg("w1", "kill Bob", "assistant"))
    wolves[0](Msg("w1", "after the hub", "assistant"))
    assert [m.content for m in wolves[1].memory.get_memory()] == ["wolves, wake up", "kill Bob"]


def test_a_non_msg_reply_in_a_hub_names_the_agent_and_type():
    speaker, listener = Keeper("speaker"), Keeper("listener")
    with msghub([speaker, listener]):
        with pytest.raises(TypeError) as info:
            speaker()  # returns {}
    assert "'speaker'" in str(info.value) and "dict" in str(info.value) and "observe" in str(info.value)
    assert listener.memory.get_memory() == []


def test_adding_twice_and_deleting_a_stranger_warn(caplog):
    one, two = Keeper("one"), Keeper("two")
    with msghub([one]) as hub:
        hub.add(one)
        hub.delete(two)
    assert "already a participant" in caplog.text and "not a participant" in caplog.text


def test_open_hubs_belong_to_the_runtime():
    own = runtime.Runtime("isolated")
    a, b = Keeper("a"), Keeper("b")
    with runtime.bound(own):
        hub = msghub([a, b])
    with hub:
        assert own.service("msghub.open", OpenHubs).hubs == [hub]
        assert hub not in runtime.default().service("msghub.open", OpenHubs).hubs
