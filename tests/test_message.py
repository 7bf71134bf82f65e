"""Msg: fields, identity, conversions, dict-style access, equality, pickling."""
import copy
import json
import pickle
import re

import pytest

from agentscope_rpc.message import Msg, content_text


def test_fields_and_defaults():
    msg = Msg("alice", "hello", role="user", url="http://x/y.png", metadata={"k": 1})
    assert msg.name == "alice"
    assert msg.content == "hello"
    assert msg.role == "user"
    assert msg.url == "http://x/y.png"
    assert msg.metadata == {"k": 1}

    bare = Msg("bob")
    assert bare.content is None
    assert bare.role == "assistant"
    assert bare.url is None
    assert bare.metadata is None


def test_positional_signature_matches_agentscope_v0():
    msg = Msg("host", "day breaks", "system")
    assert (msg.name, msg.content, msg.role) == ("host", "day breaks", "system")


def test_id_is_fresh_uuid_hex():
    a, b = Msg("a", "x"), Msg("a", "x")
    assert re.fullmatch(r"[0-9a-f]{32}", a.id)
    assert a.id != b.id


def test_explicit_id_and_timestamp_are_kept():
    msg = Msg("a", "x", id="abc", timestamp="2024-01-02 03:04:05")
    assert msg.id == "abc"
    assert msg.timestamp == "2024-01-02 03:04:05"


def test_timestamp_format():
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", Msg("a").timestamp)


@pytest.mark.parametrize(
    "content",
    ["text", {"speak": "hi", "vote": ["a", 1]}, [1, "two", {"three": 3}], None, ""],
)
def test_dict_round_trip_keeps_content_type(content):
    msg = Msg("a", content, role="user", url=["u1", "u2"], metadata={"m": [1]})
    data = msg.to_dict()
    json.dumps(data)  # JSON-able
    back = Msg.from_dict(json.loads(json.dumps(data)))
    assert back == msg
    assert type(back.content) is type(content)
    assert back.content == content
    assert back.id == msg.id
    assert back.timestamp == msg.timestamp


def test_to_dict_shape():
    data = Msg("a", "x", id="i1", timestamp="t").to_dict()
    assert data == {
        "__type": "Msg",
        "id": "i1",
        "name": "a",
        "role": "assistant",
        "content": "x",
        "url": None,
        "metadata": None,
        "timestamp": "t",
    }


@pytest.mark.parametrize("garbage", [None, "Msg", 3, ["name"], {}, {"content": "x"}])
def test_from_dict_rejects_garbage(garbage):
    with pytest.raises(ValueError):
        Msg.from_dict(garbage)


def test_dict_style_access():
    msg = Msg("a", "x")
    assert msg["name"] == "a"
    assert msg["content"] == "x"
    msg["content"] = "y"
    assert msg.content == "y"
    assert msg.get("role") == "assistant"
    assert msg.get("nope", 7) == 7
    with pytest.raises(KeyError):
        msg["nope"]
    with pytest.raises(KeyError):
        msg["nope"] = 1


def test_equality_compares_every_field():
    msg = Msg("a", "x", id="same", timestamp="t")
    assert msg == Msg("a", "x", id="same", timestamp="t")
    assert msg != Msg("a", "x", id="other", timestamp="t")
    assert msg != Msg("a", "y", id="same", timestamp="t")
    assert msg != Msg("b", "x", id="same", timestamp="t")
    assert msg != Msg("a", "x", role="user", id="same", timestamp="t")
    assert msg != {"name": "a"}


def test_unhashable():
    with pytest.raises(TypeError):
        hash(Msg("a"))


def test_pickle_round_trip():
    msg = Msg("a", {"k": [1, 2]}, role="user", url="u", metadata={"m": 1})
    back = pickle.loads(pickle.dumps(msg))
    assert back == msg
    assert back is not msg
    assert back.id == msg.id


def test_copies():
    msg = Msg("a", {"k": [1]})
    deep = msg.copy()
    assert deep == msg
    deep.content["k"].append(2)
    assert msg.content == {"k": [1]}
    shallow = copy.copy(msg)
    assert shallow == msg and shallow is not msg
    assert shallow.content is msg.content


def test_formatted_str_and_content_text():
    assert Msg("a", "hi").formatted_str() == "a: hi"
    assert Msg("a", {"k": "é"}).formatted_str() == 'a: {"k": "é"}'
    assert content_text(None) == ""
    assert content_text([1, 2]) == "[1, 2]"
