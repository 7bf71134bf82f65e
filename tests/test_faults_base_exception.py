"""Agent code raising SystemExit or another BaseException fails its call, never the server
(issue 11 item 6, DESIGN §8).

`Exiter` raises the given BaseException from a sync `reply`, a sync public
method and an async public method.  Each call must fail with
`AgentCallError` whose `remote_type` names the exception, within a bound,
and the server keeps serving (the same agent answers `ping`).  Before the core
rebuild a sync one never settled and an async one ended the server.
"""
from __future__ import annotations

import pytest

from agentscope_rpc.exception import AgentCallError
from agentscope_rpc.message import Msg
from fault_agents import Exiter
from fault_tools import settled as settled_within

pytestmark = pytest.mark.timeout(120)

SETTLE_S = 10.0


def settled(value):
    """A method's value, waiting for it (at most SETTLE_S) when the proxy returned a placeholder."""
    return settled_within(value, SETTLE_S)


@pytest.mark.parametrize("kind", ["SystemExit", "KeyboardInterrupt", "Abort"])
@pytest.mark.parametrize("how", ["reply", "sync method", "async method"])
def test_a_base_exception_fails_only_its_call(server, how, kind):
    agent = Exiter("exiter", to_dist=server.options)
    calls = {
        "reply": lambda: agent(Msg("user", kind, "user")),
        "sync method": lambda: agent.boom(kind),
        "async method": lambda: agent.aboom(kind),
    }
    with pytest.raises(AgentCallError) as info:
        settled(calls[how]())
    assert info.value.remote_type == kind, info.value
    assert server.process.poll() is None, "the agent's exception ended the server"
    assert settled(agent.ping()) == "pong"
