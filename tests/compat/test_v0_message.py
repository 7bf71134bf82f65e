"""`Msg` as AgentScope 0.1.6 programs build and read it (issue 9, item 17)."""
from __future__ import annotations

import copy
import io
import json
import pickle
from functools import partial

import pytest

from agentscope_rpc import runtime
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.message import Msg


def test_positional_order_is_name_content_role_metadata():
    msg = Msg("A", "B", "assistant", {"k": 1})
    assert (msg.name, msg.content, msg.role, msg.metadata) == ("A", "B", "assistant", {"k": 1})
    assert msg.url is None
    # 0.1.6's message_test
    plain = Msg(name="A", content="B", role="assistant")
    assert (plain.name, plain.content, plain.role, plain.metadata) == ("A", "B", "assistant", None)


def test_keywords_url_metadata_echo_id_timestamp():
    msg = Msg("A", "see", "user", url=["a.png", "b.png"], metadata={"n": [1]}, echo=False,
              id="my-id", timestamp="2024-01-01 00:00:00")
    assert msg.url == ["a.png", "b.png"] and msg.id == "my-id" and msg.timestamp == "2024-01-01 00:00:00"


def test_to_dict_from_dict_round_trip_keeps_everything():
    msg = Msg(name="A", content="B", role="assistant")
    back = Msg.from_dict(msg.to_dict())
    for field in ("id", "name", "content", "role", "metadata", "timestamp"):
        assert getattr(back, field) == getattr(msg, field)


@pytest.mark.parametrize("falsy", ["", 0])
def test_a_falsy_id_is_kept(falsy):
    msg = Msg("A", "B", "user", id=falsy)
    assert msg.id == falsy
    assert Msg.from_dict(msg.to_dict()).id == falsy
    assert Msg.from_dict(json.loads(msg.serialize())).id == falsy
    assert copy.deepcopy(msg).id == falsy and pickle.loads(pickle.dumps(msg)).id == falsy


def test_serialize_is_a_json_string():
    msg = Msg("A", {"vote": "B"}, "assistant", metadata={"round": 2})
    data = json.loads(msg.serialize())
    assert data["content"] == {"vote": "B"} and data["metadata"] == {"round": 2} and data["id"] == msg.id


def test_dict_style_access():
    msg = Msg("A", "B", "user")
    assert msg["content"] == "B" and msg.get("name") == "A" and msg.get("nope", 7) == 7
    assert "role" in msg and "nope" not in msg
    msg["content"] = "C"
    assert msg.content == "C"
    with pytest.raises(KeyError):
        msg["nope"]  # pylint: disable=pointless-statement
    assert set(msg.keys()) >= {"id", "name", "content", "role", "metadata", "timestamp", "url"}


def test_metadata_must_be_json_serialisable():
    with pytest.raises(TypeError, match="JSON-serialisable"):
        Msg("A", "B", "user", metadata={"s": {1, 2}})
    assert Msg("A", "B", "user", metadata=0).metadata == 0


def test_echo_prints_the_message_through_the_console():
    out = io.StringIO()
    previous = runtime.default().set_printer(ConsolePrinter(out=out, colour=False))
    try:
        host_msg = partial(Msg, name="Moderator", role="assistant", echo=True)  # 0.1.6's werewolf
        host_msg(content="Night falls.")
        Msg("quiet", "not printed", "user")
    finally:
        runtime.default().set_printer(previous)
    assert "Moderator: Night falls." in out.getvalue()
    assert "not printed" not in out.getvalue()


def test_get_text_content():
    assert Msg("a", "text", "user").get_text_content() == "text"
    blocks = [{"type": "text", "text": "one "}, {"type": "image", "url": "x.png"}, {"type": "text", "text": "two"}]
    assert Msg("a", blocks, "user").get_text_content() == "one two"
    assert Msg("a", {"k": 1}, "user").get_text_content() is None
