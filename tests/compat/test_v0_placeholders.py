"""AgentScope 0.1.6's placeholders (issue 9, A6).

`AsyncResult.update_value()`; a resolved placeholder pickles as its value;
an unresolved one pickles as a reference that fetches the value where it is
unpickled, and one handed to an agent on another server is fetched there;
a `Msg` keeps its id in transit — also a falsy one ("" or 0) — as an
argument, as a result, through pickling and from server to server.
Real servers on loopback.
"""
from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import AsyncResult
from v0_dist_helpers import Gate, wait_gate

pytestmark = pytest.mark.timeout(120)
IDS = ["", 0, "abc", 12345, "0f" * 16]


class Producer(AgentBase):
    """Replies with a message whose id is the input's content; may wait for a gate first."""

    def __init__(self, name: str, gate: str = "") -> None:
        super().__init__(name)
        self.gate = gate

    def reply(self, x: Any = None) -> Msg:
        if self.gate:
            wait_gate(self.gate)
        msg = Msg(self.name, f"made by {self.name}", "assistant")
        if x is not None:
            msg.id = x.content
        return msg


class Inspector(AgentBase):
    """Reports what arrived: the message's id (and its type), name and content."""

    def reply(self, x: Any = None) -> Msg:
        return Msg(self.name, self.describe(x), "assistant")

    def describe(self, x: Any, extra: Any = None) -> dict:
        return {"id": x.id, "id_type": type(x.id).__name__, "name": x.name, "content": x.content,
                "extra": sorted(extra) if isinstance(extra, set) else extra}

    def describe_all(self, items: list) -> list:
        return [self.describe(item) for item in items]


@pytest.fixture(scope="module")
def servers(module_server_factory: Any) -> tuple:
    return module_server_factory(), module_server_factory()


def test_update_value_waits_and_returns_the_value(servers: tuple, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    producer = Producer("p", gate=gate.path, to_dist=servers[0].options)
    result = producer(Msg("user", "id-1", "user"))
    assert isinstance(result, AsyncResult) and not result.done()
    gate.open()
    value = result.update_value()
    assert result.done() and type(value) is Msg and value.id == "id-1"
    assert result.content == "made by p" and result.name == "p" and result["content"] == "made by p"


def test_a_resolved_placeholder_pickles_as_its_value(servers: tuple) -> None:
    producer = Producer("p", to_dist=servers[0].options)
    result = producer(Msg("user", "id-2", "user"))
    result.update_value()
    for dumps in (pickle.dumps, cloudpickle.dumps):
        copy_ = pickle.loads(dumps(result))
        assert type(copy_) is Msg
        assert (copy_.id, copy_.name, copy_.content) == ("id-2", "p", "made by p")
    nested = pickle.loads(pickle.dumps({"round": [result]}))
    assert type(nested["round"][0]) is Msg and nested["round"][0].id == "id-2"
    copied = copy.deepcopy(result)
    assert type(copied) is Msg and copied.id == "id-2"


def test_an_unresolved_placeholder_pickles_as_a_reference_that_fetches(servers: tuple, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    producer = Producer("p", gate=gate.path, to_dist=servers[0].options)
    result = producer(Msg("user", "id-3", "user"))
    data = pickle.dumps(result)
    assert not result.done()
    restored = pickle.loads(data)
    assert isinstance(restored, AsyncResult) and not restored.done()
    gate.open()
    assert restored.content == "made by p" and restored.id == "id-3"
    assert result.content == "made by p"  # the original and the copy both read it


def test_an_unresolved_placeholder_handed_to_another_server_is_fetched_there(servers: tuple, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    producer = Producer("producer", gate=gate.path, to_dist=servers[0].options)
    inspector = Inspector("inspector", to_dist=servers[1].options)
    made = producer(Msg("user", "id-4", "user"))
    seen = inspector(made)  # handed on before it exists: the orchestrator cannot have its value
    assert not made.done() and not seen.done()
    gate.open()
    assert seen.content == {"id": "id-4", "id_type": "str", "name": "producer", "content": "made by producer",
                            "extra": None}
    again = producer(Msg("user", "id-5", "user"))
    listed = inspector.describe_all([again, Msg("user", "plain", "user")])  # inside a list, to a sync method
    assert [d["id"] for d in listed] == ["id-5", listed[1]["id"]] and listed[0]["name"] == "producer"


@pytest.mark.parametrize("msg_id", IDS, ids=repr)
def test_a_msg_keeps_its_id_in_transit(servers: tuple, msg_id: Any) -> None:
    producer = Producer("producer", to_dist=servers[0].options)
    inspector = Inspector("inspector", to_dist=servers[1].options)
    expected_type = type(msg_id).__name__

    sent = Msg("user", "hello", "user")
    sent.id = msg_id
    arrived = inspector(sent).content  # as an argument
    assert (arrived["id"], arrived["id_type"]) == (msg_id, expected_type)
    arrived = inspector.describe(sent, {1, 2})  # a set: the arguments travel pickled, not as JSON
    assert (arrived["id"], arrived["id_type"], arrived["extra"]) == (msg_id, expected_type, [1, 2])

    made = producer(Msg("user", msg_id, "user"))  # as a result
    assert made.id == msg_id and type(made.id) is type(msg_id)
    assert pickle.loads(pickle.dumps(made)).id == msg_id  # a resolved placeholder, pickled

    handed = inspector(producer(Msg("user", msg_id, "user")))  # server to server
    assert (handed.content["id"], handed.content["id_type"]) == (msg_id, expected_type)
    assert Msg.from_dict(sent.to_dict()).id == msg_id  # and through its dict form
