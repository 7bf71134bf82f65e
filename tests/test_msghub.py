"""msghub: announcement, auto-broadcast of replies, membership, nesting."""
import pytest

from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.msghub import MsgHubManager, msghub
from agentscope_rpc.pipelines import sequentialpipeline


class Talker(AgentBase):
    """Replies `<name>#<n>` without reading its input."""

    def __init__(self, name):
        super().__init__(name)
        self.turns = 0

    def reply(self, x=None):
        self.turns += 1
        return Msg(self.name, f"{self.name}#{self.turns}")


class FakeProxy:
    """Stands in for a distributed agent's proxy: only call, observe and
    reply listeners, which fire here (in the orchestrator)."""

    def __init__(self, name):
        self.name = name
        self.observed = []
        self._post_reply = {}
        self.turns = 0

    def __call__(self, x=None):
        self.turns += 1
        result = Msg(self.name, f"{self.name}#{self.turns}")
        for listener in list(self._post_reply.values()):
            listener(result)
        return result

    def observe(self, x):
        self.observed.extend(x if isinstance(x, list) else [x])

    def register_reply_listener(self, name, func):
        self._post_reply[name] = func

    def remove_reply_listener(self, name):
        return self._post_reply.pop(name, None) is not None


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(runtime.default(), "_printer", None)


@pytest.fixture
def trio():
    return Talker("a"), Talker("b"), Talker("c")


def contents(agent):
    return [m.content for m in agent.memory.get_memory()]


def test_announcement_observed_by_all(trio):
    hint = Msg("host", "welcome", role="system")
    with msghub(trio, announcement=hint) as hub:
        assert isinstance(hub, MsgHubManager)
        for agent in trio:
            assert agent.memory.get_memory() == [hint]


def test_announcement_list(trio):
    hints = [Msg("host", "one"), Msg("host", "two")]
    with msghub(list(trio), announcement=hints):
        pass
    for agent in trio:
        assert contents(agent) == ["one", "two"]


def test_no_announcement_observes_nothing(trio):
    with msghub(trio):
        pass
    assert all(agent.memory.size() == 0 for agent in trio)


def test_replies_reach_the_others_not_the_speaker(trio):
    a, b, c = trio
    with msghub(trio):
        reply = a()
        b()
        b()
    assert reply.content == "a#1"
    assert contents(a) == ["b#1", "b#2"]
    assert contents(b) == ["a#1"]
    assert contents(c) == ["a#1", "b#1", "b#2"]
    assert c.memory.get_memory()[0].id == reply.id


def test_forwarding_does_not_change_the_reply(trio):
    a, _, _ = trio
    with msghub(trio):
        assert a().content == "a#1"


def test_pipeline_inside_hub(trio):
    with msghub(trio, announcement=Msg("host", "go")):
        sequentialpipeline(list(trio))
    sizes = [agent.memory.size() for agent in trio]
    assert sizes == [1 + 2, 1 + 2, 1 + 2]  # announcement + the two others


def test_broadcast_reaches_everyone(trio):
    msg = Msg("host", "vote now")
    with msghub(trio) as hub:
        hub.broadcast(msg)
        hub.broadcast([Msg("host", "x"), Msg("host", "y")])
    for agent in trio:
        assert contents(agent) == ["vote now", "x", "y"]


def test_add_mid_hub(trio):
    a, b, c = trio
    d = Talker("d")
    with msghub([a, b], announcement=Msg("host", "hi")) as hub:
        a()
        hub.add(d)
        hub.add(d)  # already a member: no double delivery
        b()
        d()
    assert contents(d) == ["b#1"]  # no announcement, nothing from before joining
    assert contents(a) == ["hi", "b#1", "d#1"]
    assert contents(b) == ["hi", "a#1", "d#1"]
    assert c.memory.size() == 0


def test_add_list_mid_hub(trio):
    a, b, c = trio
    with msghub([a]) as hub:
        hub.add([b, c])
        a()
    assert contents(b) == ["a#1"] and contents(c) == ["a#1"]


def test_delete_mid_hub(trio):
    a, b, c = trio
    with msghub(trio) as hub:
        a()
        hub.delete(b)
        a()
        b()  # b's replies are no longer forwarded
        c()
    assert contents(b) == ["a#1"]
    assert contents(a) == ["c#1"]
    assert contents(c) == ["a#1", "a#2"]


def test_delete_list_and_non_member(trio):
    a, b, c = trio
    stranger = Talker("s")
    with msghub(trio) as hub:
        hub.delete([a, b, stranger])
        a()
        c()
    assert a.memory.size() == b.memory.size() == c.memory.size() == 0


def test_no_forwarding_after_exit(trio):
    a, b, c = trio
    with msghub(trio):
        a()
    a()
    b()
    assert contents(b) == ["a#1"]
    assert contents(c) == ["a#1"]
    assert contents(a) == []


def test_hooks_removed_on_exit_even_after_error(trio):
    a, b, _ = trio
    with pytest.raises(RuntimeError):
        with msghub(trio):
            raise RuntimeError("game crashed")
    a()
    assert b.memory.size() == 0


def test_user_hooks_survive_the_hub(trio):
    a, b, _ = trio
    calls = []
    a.register_hook("post_reply", "mine", lambda self, x: calls.append(x.content))
    with msghub(trio):
        a()
    a()
    assert calls == ["a#1", "a#2"]
    assert contents(b) == ["a#1"]


def test_nested_hubs(trio):
    a, b, c = trio
    d = Talker("d")
    with msghub([a, b, c]):
        with msghub([a, d]):
            a()  # b, c via the outer hub; d via the inner
            d()  # only a hears d
            b()  # a, c
        a()  # inner closed: b, c only
    assert contents(a) == ["d#1", "b#1"]
    assert contents(b) == ["a#1", "a#2"]
    assert contents(c) == ["a#1", "b#1", "a#2"]
    assert contents(d) == ["a#1"]


def test_nested_hubs_deliver_once_to_shared_members(trio):
    a, b, c = trio
    with msghub([a, b, c]):
        with msghub([a, b]):
            a()
            b()
        a()
    assert contents(b) == ["a#1", "a#2"]
    assert contents(a) == ["b#1"]
    assert contents(c) == ["a#1", "b#1", "a#2"]


def test_inner_hub_keeps_forwarding_after_outer_exits(trio):
    a, b, c = trio
    outer = msghub([a, b, c])
    inner = msghub([a, b])
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    a()
    inner.__exit__(None, None, None)
    a()
    assert contents(b) == ["a#1"]
    assert contents(c) == []


def test_hub_can_be_reused_but_not_reentered(trio):
    a, b, _ = trio
    hub = msghub([a, b])
    with hub:
        with pytest.raises(RuntimeError):
            hub.__enter__()
        a()
    with hub:
        a()
    a()
    assert contents(b) == ["a#1", "a#2"]


def test_participants_from_any_iterable(trio):
    a, b, c = trio
    with msghub(agent for agent in trio):
        a()
    assert contents(b) == ["a#1"] and contents(c) == ["a#1"]


def test_duplicate_participants_deliver_once(trio):
    a, b, _ = trio
    with msghub([a, b, b]):
        a()
    assert contents(b) == ["a#1"]


def test_proxy_like_participants():
    """Only register_reply_listener/remove_reply_listener/observe/__call__ are used."""
    p, q = FakeProxy("p"), FakeProxy("q")
    local = Talker("l")
    with msghub([p, q, local], announcement=Msg("host", "hi")) as hub:
        p()
        local()
        hub.broadcast(Msg("host", "bye"))
    p()
    assert [m.content for m in p.observed] == ["hi", "l#1", "bye"]
    assert [m.content for m in q.observed] == ["hi", "p#1", "l#1", "bye"]
    assert contents(local) == ["hi", "p#1", "bye"]
    assert p._post_reply == {} and q._post_reply == {}
