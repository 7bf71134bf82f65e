"""Hooks, DESIGN §6: order, levels, scoping, chaining, fire-once, no recursion."""
import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


from hook_agents import Base, Child, EchoAgent, GrandChild, Sibling, quiet_and_clean


@pytest.fixture(autouse=True)
def _quiet_and_clean(monkeypatch):
    yield from quiet_and_clean(monkeypatch)


def test_seed_example():
    """The AgentScope v0 hooks example, exactly."""
    agent = EchoAgent("echo")

    def pre_reply_hook_1(self, x):
        x.content = "[Pre-hook-1] " + x.content  # mutates a copy, returns None

    def pre_reply_hook_2(self, x):
        x.content = "[Pre-hook-2] " + x.content
        return x

    def post_reply_hook(self, x):
        return Msg(x.name, x.content + " [Post-hook]", x.role)

    agent.register_hook("pre_reply", "pre_hook_1", pre_reply_hook_1)
    agent.register_hook("pre_reply", "pre_hook_2", pre_reply_hook_2)
    agent.register_hook("post_reply", "post_hook", post_reply_hook)

    original = Msg("user", "[原始消息]", "user")
    res = agent(original)
    assert res.content == "[Pre-hook-2] [原始消息] [Post-hook]"
    assert original.content == "[原始消息]"  # the caller's message is untouched


def test_pre_hooks_run_in_registration_order():
    agent = EchoAgent("echo")
    calls = []
    for name in ("c", "a", "b"):
        agent.register_hook(
            "pre_reply",
            name,
            lambda self, x, n=name: calls.append(n),
        )
    agent(Msg("u", "x"))
    assert calls == ["c", "a", "b"]


def test_reregistering_a_name_replaces_the_hook():
    agent = EchoAgent("echo")
    calls = []
    agent.register_hook("pre_reply", "h", lambda self, x: calls.append(1))
    agent.register_hook("pre_reply", "h", lambda self, x: calls.append(2))
    agent(Msg("u", "x"))
    assert calls == [2]


def test_non_none_replaces_none_passes_latest():
    agent = EchoAgent("echo")
    seen = []

    def first(self, x):
        seen.append(x.content)
        return Msg("u", "one")

    def second(self, x):
        seen.append(x.content)  # gets "one"

    def third(self, x):
        seen.append(x.content)  # still "one"
        return Msg("u", x.content + "+three")

    for name, hook in (("1", first), ("2", second), ("3", third)):
        agent.register_hook("pre_reply", name, hook)
    assert agent(Msg("u", "zero")).content == "one+three"
    assert seen == ["zero", "one", "one"]


def test_all_none_passes_original_value():
    agent = EchoAgent("echo")
    agent.register_hook("pre_reply", "h", lambda self, x: None)
    msg = Msg("u", "x")
    assert agent(msg) == msg


def test_object_level_runs_before_class_level():
    calls = []
    EchoAgent.register_class_hook("pre_reply", "cls", lambda self, x: calls.append("class"))
    agent = EchoAgent("echo")
    agent.register_hook("pre_reply", "obj", lambda self, x: calls.append("object"))
    agent(Msg("u", "x"))
    assert calls == ["object", "class"]


def test_class_levels_run_most_derived_first():
    calls = []
    AgentBase.register_class_hook("pre_reply", "h", lambda self, x: calls.append("AgentBase"))
    Base.register_class_hook("pre_reply", "h", lambda self, x: calls.append("Base"))
    Child.register_class_hook("pre_reply", "h", lambda self, x: calls.append("Child"))
    Child("c")(Msg("u", "x"))
    assert calls == ["Child", "Base", "AgentBase"]


def test_class_hooks_scoped_to_class_and_subclasses():
    fired = []
    Child.register_class_hook("pre_reply", "h", lambda self, x: fired.append(type(self).__name__))
    for klass in (Base, Child, GrandChild, Sibling):
        klass("a")(Msg("u", "x"))
    assert fired == ["Child", "GrandChild"]  # not Base, not Sibling

    fired.clear()
    EchoAgent("e")(Msg("u", "x"))
    assert fired == []


def test_agentbase_class_hook_applies_to_every_agent():
    fired = []
    AgentBase.register_class_hook("pre_reply", "h", lambda self, x: fired.append(self.name))
    EchoAgent("e")(Msg("u", "x"))
    Sibling("s")(Msg("u", "x"))
    assert fired == ["e", "s"]


def test_remove_and_clear_object_hooks():
    agent = EchoAgent("echo")
    calls = []
    agent.register_hook("pre_reply", "a", lambda self, x: calls.append("a"))
    agent.register_hook("pre_reply", "b", lambda self, x: calls.append("b"))
    agent.register_hook("post_reply", "p", lambda self, x: calls.append("p"))
    assert agent.remove_hook("pre_reply", "a") is True
    assert agent.remove_hook("pre_reply", "a") is False
    agent(Msg("u", "x"))
    assert calls == ["b", "p"]

    calls.clear()
    agent.clear_hooks("pre_reply")
    agent(Msg("u", "x"))
    assert calls == ["p"]

    calls.clear()
    agent.clear_hooks()
    agent(Msg("u", "x"))
    assert calls == []


def test_object_hooks_are_per_object():
    one, two = EchoAgent("1"), EchoAgent("2")
    calls = []
    one.register_hook("pre_reply", "h", lambda self, x: calls.append(self.name))
    two(Msg("u", "x"))
    one(Msg("u", "x"))
    assert calls == ["1"]


def test_remove_and_clear_class_hooks():
    calls = []
    Base.register_class_hook("pre_reply", "a", lambda self, x: calls.append("a"))
    Base.register_class_hook("post_reply", "p", lambda self, x: calls.append("p"))
    Child.register_class_hook("pre_reply", "c", lambda self, x: calls.append("c"))

    assert Base.remove_class_hook("pre_reply", "a") is True
    assert Base.remove_class_hook("pre_reply", "a") is False
    Child("c")(Msg("u", "x"))
    assert calls == ["c", "p"]

    calls.clear()
    Base.clear_class_hooks("post_reply")
    Child("c")(Msg("u", "x"))
    assert calls == ["c"]

    calls.clear()
    Base.register_class_hook("pre_reply", "a", lambda self, x: calls.append("a"))
    Base.clear_all_class_hooks()  # Base's own registry only
    Child("c")(Msg("u", "x"))
    assert calls == ["c"]

    calls.clear()
    Child.clear_class_hooks()
    Child("c")(Msg("u", "x"))
    assert calls == []


def test_class_hooks_reach_existing_instances():
    agent = Child("c")
    calls = []
    Child.register_class_hook("pre_reply", "h", lambda self, x: calls.append(1))
    agent(Msg("u", "x"))
    assert calls == [1]


def test_post_reply_chaining():
    agent = EchoAgent("echo")
    seen = []

    def first(self, x):
        seen.append(x.content)
        return Msg(x.name, x.content + "+1")

    def second(self, x):
        seen.append(x.content)

    def third(self, x):
        seen.append(x.content)
        return Msg(x.name, x.content + "+3")

    for name, hook in (("1", first), ("2", second), ("3", third)):
        agent.register_hook("post_reply", name, hook)
    assert agent(Msg("u", "r")).content == "r+1+3"
    assert seen == ["r", "r+1", "r+1"]


def test_post_reply_returning_none_keeps_the_reply():
    agent = EchoAgent("echo")
    agent.register_hook("post_reply", "h", lambda self, x: None)
    msg = Msg("u", "r")
    assert agent(msg) == msg


def test_pre_observe_replaces_what_is_stored():
    agent = EchoAgent("echo")
    agent.register_hook("pre_observe", "h", lambda self, x: Msg(x.name, x.content.upper()))
    agent.observe(Msg("u", "quiet"))
    assert [m.content for m in agent.memory.get_memory()] == ["QUIET"]


def test_pre_observe_none_stores_original():
    agent = EchoAgent("echo")
    agent.register_hook("pre_observe", "h", lambda self, x: None)
    msg = Msg("u", "x")
    agent.observe(msg)
    assert agent.memory.get_memory() == [msg]


def test_post_observe_called_once_with_agent():
    agent = EchoAgent("echo")
    calls = []
    agent.register_hook("post_observe", "h", lambda self: calls.append(self))
    agent.observe([Msg("u", "1"), Msg("u", "2")])
    assert calls == [agent]
    assert agent.memory.size() == 2


def test_post_observe_after_store():
    agent = EchoAgent("echo")
    sizes = []
    agent.register_hook("post_observe", "h", lambda self: sizes.append(self.memory.size()))
    agent.observe(Msg("u", "1"))
    assert sizes == [1]
