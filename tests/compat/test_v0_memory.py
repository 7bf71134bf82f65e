"""`agentscope_rpc.memory` (issue 9, item 14): 0.1.6's TemporaryMemory semantics."""
from __future__ import annotations

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.memory import MemoryBase, TemporaryMemory
from agentscope_rpc.message import Msg
from agentscope_rpc.serialize import serialize


@pytest.fixture
def msgs():
    return (Msg("user", "Hello", role="user"), Msg("agent", "Hello! How can I help you?", role="assistant"),
            Msg("user", "Translate the following sentence", role="assistant"))


def test_add_one_or_a_list(msgs):
    memory = TemporaryMemory()
    memory.add(msgs[0])
    assert memory.get_memory() == [msgs[0]]
    memory.add([msgs[1], msgs[2]])
    assert memory.get_memory() == list(msgs)
    assert isinstance(memory, MemoryBase)


def test_a_message_already_stored_is_not_added_again(msgs):
    memory = TemporaryMemory()
    memory.add(msgs[0])
    memory.add([msgs[0], msgs[1], msgs[1]])
    assert memory.get_memory() == [msgs[0], msgs[1]]


def test_delete_skips_an_invalid_index_with_a_warning(msgs, caplog):
    memory = TemporaryMemory()
    memory.add(list(msgs))
    memory.delete(index=0)
    assert memory.get_memory() == [msgs[1], msgs[2]]
    memory.delete(index=100)
    assert memory.get_memory() == [msgs[1], msgs[2]]
    assert "invalid index [100]" in caplog.text
    TemporaryMemory().delete(0)  # empty: a warning, no error
    assert "empty" in caplog.text


def test_adding_something_that_is_not_a_message_is_a_clear_error():
    memory = TemporaryMemory()
    with pytest.raises(TypeError, match="not dict"):
        memory.add({"invalid_key": "invalid_value"})
    assert memory.size() == 0


def test_load_export_to_memory_file_and_json_string(msgs, tmp_path):
    memory = TemporaryMemory()
    memory.load([msgs[0], msgs[1]])
    assert memory.export(to_mem=True) == [msgs[0], msgs[1]]
    path = tmp_path / "memory.json"
    assert memory.export(file_path=str(path)) is None
    memory.clear()
    assert memory.get_memory() == []
    memory.load(str(path))
    assert serialize(memory.get_memory()) == serialize([msgs[0], msgs[1]])
    fresh = TemporaryMemory()
    fresh.load(path.read_text(encoding="utf-8"))  # a JSON string, not a path
    assert fresh.get_memory() == [msgs[0], msgs[1]]
    fresh.load(msgs[2], overwrite=True)
    assert fresh.get_memory() == [msgs[2]]


def test_load_rejects_other_things():
    with pytest.raises(TypeError):
        TemporaryMemory().load(42)
    with pytest.raises(ValueError, match="not a file nor JSON"):
        TemporaryMemory().load("definitely not json {")


def test_get_memory_recent_n_and_filter(msgs):
    memory = TemporaryMemory()
    memory.add(list(msgs))
    assert memory.get_memory(recent_n=2) == [msgs[1], msgs[2]]
    assert memory.get_memory(recent_n=10) == list(msgs)
    assert memory.get_memory(filter_func=lambda i, m: m.role == "user") == [msgs[0]]
    assert memory.size() == 3


def test_an_empty_memory_is_truthy_as_v0_code_expects():
    class V0Style(AgentBase):
        def reply(self, x=None):
            if self.memory:  # 0.1.6 agents write this
                self.memory.add(x)
            return x

    agent = V0Style("a")
    agent(Msg("user", "first", "user"))
    assert agent.memory.size() == 1


def test_embedding_memory_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="embedding"):
        TemporaryMemory(embedding_model="some-embedding")
    with pytest.raises(NotImplementedError):
        TemporaryMemory().add(Msg("a", "b", "user"), embed=True)
