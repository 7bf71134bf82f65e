"""Agent classes and the clean-up fixture shared by the hook tests."""
from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


class EchoAgent(AgentBase):
    """Speaks its input and returns it."""

    def reply(self, x=None):
        self.speak(x)
        return x


class Base(AgentBase):
    def reply(self, x=None):
        return Msg(self.name, f"base({x.content})")


class Child(Base):
    def reply(self, x=None):
        inner = super().reply(x)
        return Msg(self.name, f"child({inner.content})")


class GrandChild(Child):
    def reply(self, x=None):
        inner = super().reply(x)
        return Msg(self.name, f"grand({inner.content})")


class Sibling(Base):
    pass


CLASSES = (AgentBase, EchoAgent, Base, Child, GrandChild, Sibling)


def quiet_and_clean(monkeypatch):
    """Body of the hook tests' autouse fixture: no console, no leftover class hooks."""
    monkeypatch.setattr(runtime.default(), "_printer", None)
    yield
    for klass in CLASSES:
        klass.clear_all_class_hooks()
