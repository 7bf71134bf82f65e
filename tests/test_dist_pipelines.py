"""Pipelines and msghub over a mix of local agents and distributed ones."""
import pytest

from agentscope_rpc.message import Msg
from agentscope_rpc.msghub import msghub
from agentscope_rpc.pipelines import (
    ForLoopPipeline,
    IfElsePipeline,
    SequentialPipeline,
    SwitchPipeline,
    WhileLoopPipeline,
    forlooppipeline,
    ifelsepipeline,
    sequentialpipeline,
    switchpipeline,
    whilelooppipeline,
)
from dist_agents import Appender, Recorder

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def agents(module_server):
    """Two local and two remote appenders: L1, L2 here; R1, R2 on the server."""
    return (
        Appender("L1"),
        Appender("L2"),
        Appender("R1", to_dist=module_server.options),
        Appender("R2", to_dist=module_server.options),
    )


def start():
    return Msg("user", ">")


def test_sequential(agents):
    l1, l2, r1, r2 = agents
    assert SequentialPipeline([l1, r1, l2, r2])(start()).content == ">L1R1L2R2"
    assert sequentialpipeline([r1, r2, l1], start()).content == ">R1R2L1"
    assert sequentialpipeline([r1, [l1, r2]], start()).content == ">R1L1R2"


def test_ifelse(agents):
    l1, _, r1, _ = agents
    remote_says_yes = lambda x: x.content.endswith("R1")  # noqa: E731 - reads a placeholder
    assert IfElsePipeline(remote_says_yes, l1, r1)(r1(start())).content == ">R1L1"
    assert ifelsepipeline(remote_says_yes, l1, r1, l1(start())).content == ">L1R1"


def test_switch(agents):
    l1, l2, r1, r2 = agents
    cases = {"L1": r1, "R1": l2}
    last = lambda x: x.content[-2:]  # noqa: E731
    assert SwitchPipeline(last, cases, r2)(l1(start())).content == ">L1R1"
    assert switchpipeline(last, cases, r2, r1(start())).content == ">R1L2"
    assert switchpipeline(last, cases, r2, start()).content == ">R2"


def test_for_loop(agents):
    l1, _, r1, _ = agents
    long_enough = lambda x: len(x.content) >= 9  # noqa: E731
    assert ForLoopPipeline([r1, l1], max_loop=5, break_func=long_enough)(start()).content == ">R1L1R1L1"
    assert forlooppipeline(r1, 3, x=start()).content == ">R1R1R1"


def test_while_loop(agents):
    _, l2, _, r2 = agents
    assert WhileLoopPipeline([l2, r2], lambda i, x: i < 2)(start()).content == ">L2R2L2R2"
    assert whilelooppipeline(r2, lambda i, x: not x.content.endswith("R2R2"), start()).content == ">R2R2"


def _said(memory):
    return [(m.name, m.content) for m in memory]


def test_msghub_with_remote_participants(module_server_factory):
    """AgentScope semantics: everyone observes the announcement, and every
    reply reaches every *other* participant's memory, in call order."""
    other = module_server_factory()
    first, second, third = (Recorder(n, to_dist=o.options) for n, o in (("first", other), ("second", other), ("third", other)))
    with msghub([first, second, third], announcement=Msg("host", "welcome")) as hub:
        # a Recorder records its input, then replies with its call count;
        # each reply is a placeholder the others hear at once, in call order
        x = first(Msg("user", "go"))
        x = second(x)
        hub.broadcast(Msg("host", "vote"))
        x = third(x)
        first(x)
    third(Msg("user", "after the hub"))  # no longer forwarded
    assert third(Msg("user", "sync")).result(timeout=10).content == 3
    # a message already in memory (same id: heard from the hub and then given as input) is kept once (0.1.6)
    assert _said(first.get_memory()) == [
        ("host", "welcome"), ("user", "go"), ("second", 1), ("host", "vote"), ("third", 1),
    ]
    assert _said(second.get_memory()) == [
        ("host", "welcome"), ("first", 1), ("host", "vote"), ("third", 1), ("first", 2),
    ]
    assert _said(third.get_memory()) == [
        ("host", "welcome"), ("first", 1), ("second", 1), ("host", "vote"), ("first", 2),
        ("user", "after the hub"), ("user", "sync"),
    ]


def test_msghub_with_local_and_remote_participants(module_server_factory):
    other = module_server_factory()
    local = Recorder("local")
    near = Recorder("near", to_dist=other.options)
    far = Recorder("far", to_dist=other.options)
    with msghub([local, near, far], announcement=Msg("host", "welcome")) as hub:
        x = local(Msg("user", "go"))
        x = near(x)
        x = far(x)
        hub.broadcast(Msg("host", "vote"))
        local(x)
    far(Msg("user", "after the hub"))  # no longer forwarded
    assert far(Msg("user", "sync")).result(timeout=10).content == 3
    assert _said(local.memory.get_memory()) == [
        ("host", "welcome"), ("user", "go"), ("near", 1), ("far", 1), ("host", "vote"),
    ]
    assert _said(near.get_memory()) == [
        ("host", "welcome"), ("local", 1), ("far", 1), ("host", "vote"), ("local", 2),
    ]
    assert _said(far.get_memory()) == [
        ("host", "welcome"), ("local", 1), ("near", 1), ("host", "vote"), ("local", 2),
        ("user", "after the hub"), ("user", "sync"),
    ]
