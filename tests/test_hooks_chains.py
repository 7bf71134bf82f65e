"""Hooks fire once per call: super() chains, hooks calling their own target, registrars."""
import pytest

from agentscope_rpc import speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


from hook_agents import Base, Child, EchoAgent, GrandChild, quiet_and_clean


@pytest.fixture(autouse=True)
def _quiet_and_clean(monkeypatch):
    yield from quiet_and_clean(monkeypatch)


def test_observe_hooks_fire_once_through_super_chain():
    class Recording(AgentBase):
        def observe(self, x):
            super().observe(x)

    class Deeper(Recording):
        def observe(self, x):
            super().observe(x)

    agent = Deeper("d")
    pre, post = [], []
    agent.register_hook("pre_observe", "h", lambda self, x: pre.append(x.content))
    agent.register_hook("post_observe", "h", lambda self: post.append(1))
    agent.observe(Msg("u", "x"))
    assert pre == ["x"] and post == [1]
    assert agent.memory.size() == 1


def test_post_speak_called_once_per_speak():
    agent = EchoAgent("echo")
    calls = []
    agent.register_hook("post_speak", "h", lambda self: calls.append(self))
    agent(Msg("u", "x"))
    assert calls == [agent]


def test_pre_speak_signature():
    agent = EchoAgent("echo")
    seen = []
    agent.register_hook("pre_speak", "h", lambda self, msg, stream, last: seen.append((self, msg.content, stream, last)))
    agent(Msg("u", "x"))
    assert seen == [(agent, "x", False, True)]


@pytest.mark.parametrize(
    "klass, expected",
    [
        (Child, "child(base(x))"),
        (GrandChild, "grand(child(base(x)))"),
    ],
)
def test_hooks_fire_once_through_super_reply_chain(klass, expected):
    agent = klass("a")
    pre, post = [], []

    def pre_hook(self, x):
        pre.append(x.content)
        return Msg(x.name, x.content + "!")

    def post_hook(self, x):
        post.append(x.content)
        return Msg(x.name, "<" + x.content + ">")

    agent.register_hook("pre_reply", "pre", pre_hook)
    agent.register_hook("post_reply", "post", post_hook)
    res = agent(Msg("u", "x"))
    assert pre == ["x"]
    assert post == [expected.replace("(x)", "(x!)")]
    assert res.content == "<" + expected.replace("(x)", "(x!)") + ">"


def test_class_hook_on_base_fires_once_for_chained_subclass():
    calls = []
    Base.register_class_hook("pre_reply", "h", lambda self, x: calls.append(1))
    Base.register_class_hook("post_reply", "p", lambda self, x: calls.append(2))
    GrandChild("g")(Msg("u", "x"))
    assert calls == [1, 2]


def test_reply_called_directly_also_fires_hooks_once():
    agent = Child("c")
    calls = []
    agent.register_hook("pre_reply", "h", lambda self, x: calls.append(1))
    agent.reply(Msg("u", "x"))
    assert calls == [1]


def test_pre_reply_hook_calling_reply_does_not_recurse():
    agent = EchoAgent("echo")
    calls = []

    def hook(self, x):
        calls.append(x.content)
        inner = self.reply(Msg("u", "inner"))  # no hooks for this inner call
        return Msg(x.name, x.content + "/" + inner.content)

    agent.register_hook("pre_reply", "h", hook)
    assert agent(Msg("u", "outer")).content == "outer/inner"
    assert calls == ["outer"]


def test_post_reply_hook_calling_agent_does_not_recurse():
    agent = EchoAgent("echo")
    calls = []

    def hook(self, x):
        calls.append(x.content)
        self(Msg("u", "again"))

    agent.register_hook("post_reply", "h", hook)
    assert agent(Msg("u", "first")).content == "first"
    assert calls == ["first"]


def test_observe_hooks_calling_observe_do_not_recurse():
    agent = EchoAgent("echo")
    pre, post = [], []

    def pre_hook(self, x):
        pre.append(x.content)
        self.observe(Msg("u", "extra"))

    def post_hook(self):
        post.append(1)
        self.observe(Msg("u", "more"))

    agent.register_hook("pre_observe", "h", pre_hook)
    agent.register_hook("post_observe", "h", post_hook)
    agent.observe(Msg("u", "x"))
    assert pre == ["x"] and post == [1]
    assert [m.content for m in agent.memory.get_memory()] == ["extra", "x", "more"]


def test_speak_hooks_calling_speak_do_not_recurse():
    agent = EchoAgent("echo")
    pre, post = [], []
    heard = []

    def pre_hook(self, msg, stream, last):
        pre.append(msg.content)
        self.speak("aside")  # reaches listeners, but runs no hooks

    def post_hook(self):
        post.append(1)
        self.speak("coda")

    agent.register_hook("pre_speak", "h", pre_hook)
    agent.register_hook("post_speak", "h", post_hook)
    with speech.bind_sinks(lambda event: heard.append(event.msg.content) or True):
        agent.speak("main")
    assert pre == ["main"] and post == [1]
    assert heard == ["aside", "main", "coda"]


def test_unknown_hook_type_raises_value_error():
    agent = EchoAgent("echo")
    with pytest.raises(ValueError):
        agent.register_hook("pre_dance", "h", lambda *a: None)
    with pytest.raises(ValueError):
        agent.remove_hook("pre_dance", "h")
    with pytest.raises(ValueError):
        agent.clear_hooks("pre_dance")
    with pytest.raises(ValueError):
        EchoAgent.register_class_hook("post_dance", "h", lambda *a: None)


def test_non_callable_hook_rejected():
    with pytest.raises(TypeError):
        EchoAgent("e").register_hook("pre_reply", "h", "not callable")


@pytest.mark.parametrize(
    "hook_type",
    ["pre_reply", "post_reply", "pre_speak", "post_speak", "pre_observe", "post_observe"],
)
def test_agentscope_v0_named_registrars(hook_type):
    agent = EchoAgent("echo")
    calls = []
    getattr(agent, f"register_{hook_type}_hook")("h", lambda *args: calls.append(hook_type))
    agent(Msg("u", "x"))
    agent.observe(Msg("u", "y"))
    assert calls == [hook_type]
    assert getattr(agent, f"remove_{hook_type}_hook")("h") is True
    agent(Msg("u", "x"))
    agent.observe(Msg("u", "y"))
    assert calls == [hook_type]
