"""`agentscope_rpc.serialize` (issue 9, item 14): what 0.1.6's serialize_test checks, and more."""
from __future__ import annotations

import json

import pytest

from agentscope_rpc.message import Msg
from agentscope_rpc.serialize import deserialize, is_serializable, serialize


def test_a_message_and_a_list_of_messages_round_trip():
    msg1, msg2 = Msg("A", "A", "assistant"), Msg("B", "B", "assistant")
    text = serialize(msg1)
    assert isinstance(text, str)
    back = deserialize(text)
    assert isinstance(back, Msg) and back == msg1
    data = json.loads(text)
    assert {k: data[k] for k in ("id", "name", "content", "role", "timestamp", "metadata")} == {
        "id": msg1.id, "name": "A", "content": "A", "role": "assistant",
        "timestamp": msg1.timestamp, "metadata": None,
    }
    listed = deserialize(serialize([msg1, msg2]))
    assert listed == [msg1, msg2] and all(isinstance(m, Msg) for m in listed)


def test_nested_values_keep_their_messages():
    value = {"round": 2, "said": [Msg("A", "x", "user")], "nested": {"last": Msg("B", "y", "user")}}
    back = deserialize(serialize(value))
    assert back == value


def test_reads_what_agentscope_016_wrote():
    written_by_v0 = json.dumps([{
        "id": "abc", "name": "user", "content": "Hello", "role": "user", "metadata": None,
        "timestamp": "2024-11-11 11:11:11", "__module__": "agentscope.message.msg", "__name__": "Msg",
    }])
    (msg,) = deserialize(written_by_v0)
    assert isinstance(msg, Msg) and (msg.id, msg.content, msg.timestamp) == ("abc", "Hello", "2024-11-11 11:11:11")


def test_never_imports_a_module_named_by_the_data():
    text = json.dumps({"__module__": "os", "__name__": "system", "name": "x"})
    assert deserialize(text) == {"__module__": "os", "__name__": "system", "name": "x"}


def test_unserialisable_values():
    assert is_serializable([Msg("a", "b", "user"), 1, "x"])
    assert not is_serializable({"s": {1, 2}})
    with pytest.raises(TypeError, match="set"):
        serialize({1, 2})
