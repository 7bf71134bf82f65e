"""TemporaryMemory: add, query, delete, clear, export/load, pickling."""
import json
import pickle

import pytest

from agentscope_rpc.agents import AgentBase, TemporaryMemory
from agentscope_rpc.message import Msg


def _msgs(*texts):
    return [Msg("u", t) for t in texts]


@pytest.fixture
def memory():
    mem = TemporaryMemory()
    mem.add(_msgs("a", "b", "c", "d"))
    return mem


def _contents(items):
    return [m.content for m in items]


def test_add_single_list_and_none():
    mem = TemporaryMemory()
    assert mem.size() == 0 and len(mem) == 0
    mem.add(Msg("u", "one"))
    mem.add(_msgs("two", "three"))
    mem.add(None)
    mem.add([])
    assert mem.size() == 3 and len(mem) == 3
    assert _contents(mem.get_memory()) == ["one", "two", "three"]


def test_add_generator():
    mem = TemporaryMemory()
    mem.add(m for m in _msgs("x", "y"))
    assert _contents(mem.get_memory()) == ["x", "y"]


def test_add_rejects_non_msg_atomically():
    mem = TemporaryMemory()
    with pytest.raises(TypeError):
        mem.add([Msg("u", "ok"), {"name": "u", "content": "dict"}])
    assert mem.size() == 0


def test_get_memory_returns_a_copy_of_the_list(memory):
    items = memory.get_memory()
    items.clear()
    assert memory.size() == 4


def test_recent_n(memory):
    assert _contents(memory.get_memory(recent_n=2)) == ["c", "d"]
    assert _contents(memory.get_memory(recent_n=10)) == ["a", "b", "c", "d"]
    assert memory.get_memory(recent_n=0) == []


def test_filter_func(memory):
    odd = memory.get_memory(filter_func=lambda i, m: i % 2 == 1)
    assert _contents(odd) == ["b", "d"]
    named = memory.get_memory(filter_func=lambda i, m: m.content in {"a", "c"})
    assert _contents(named) == ["a", "c"]


def test_recent_n_then_filter_indexes_the_recent_slice(memory):
    picked = memory.get_memory(recent_n=3, filter_func=lambda i, m: i == 0)
    assert _contents(picked) == ["b"]


def test_delete_index_and_indices(memory):
    memory.delete(0)
    assert _contents(memory.get_memory()) == ["b", "c", "d"]
    memory.delete([0, 2])
    assert _contents(memory.get_memory()) == ["c"]


def test_delete_negative_index(memory):
    memory.delete(-1)
    assert _contents(memory.get_memory()) == ["a", "b", "c"]


def test_delete_out_of_range_is_skipped_with_a_warning(memory, caplog):
    memory.delete([1, 9])  # AgentScope 0.1.6: the bad index is skipped, the good one deleted
    assert _contents(memory.get_memory()) == ["a", "c", "d"]
    assert "invalid index [9]" in caplog.text


def test_clear(memory):
    memory.clear()
    assert memory.size() == 0
    assert memory.get_memory() == []


def test_export_load_round_trip(memory):
    memory.add(Msg("v", {"vote": "a"}, role="user"))
    data = memory.export()
    json.dumps(data)
    assert all(isinstance(d, dict) for d in data)

    other = TemporaryMemory()
    other.add(Msg("old", "gone"))
    other.load(data, overwrite=True)
    assert other.get_memory() == memory.get_memory()

    other.load(data, overwrite=False)  # the same ids again: nothing added
    assert other.size() == memory.size()
    other.load([Msg("new", "one").to_dict()], overwrite=False)
    assert other.size() == memory.size() + 1


def test_load_rejects_garbage():
    with pytest.raises(ValueError):
        TemporaryMemory().load([{"no": "name"}])


def test_pickle_round_trip(memory):
    back = pickle.loads(pickle.dumps(memory))
    assert back.get_memory() == memory.get_memory()
    back.add(Msg("u", "new"))  # the lock was rebuilt
    assert back.size() == memory.size() + 1


def test_agent_memory_and_use_memory_false():
    class Quiet(AgentBase):
        def reply(self, x=None):
            return x

    agent = Quiet("a")
    assert isinstance(agent.memory, TemporaryMemory)
    agent.observe(Msg("u", "x"))
    assert agent.memory.size() == 1

    forgetful = Quiet("b", use_memory=False)
    assert forgetful.memory is None
    forgetful.observe(Msg("u", "x"))  # no error, nothing stored
