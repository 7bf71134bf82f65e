"""Pipelined agent creation (issue 12, item 1) and what child-mode servers are made of.

`to_dist` / `to_dist=` return the proxy while the constructor still runs on
the server; calls made meanwhile queue behind the creation and run after
it, in the order made.  A failed creation raises `AgentCreationError` at the
proxy's first use and from `wait_ready()`.  Child-mode servers come from the
fork server, each with a fresh token of its own, and die with their
orchestrator even when it is SIGKILLed.  Real servers on loopback.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import AgentCreationError, AgentScopeRpcError, StreamTimeoutError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import AsyncResult, RpcClient, async_func
from procs import parent_pid, process_gone

pytestmark = pytest.mark.timeout(180)


def _wait_file(path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)  # polling a file the test creates from another process; bounded


class SlowStart(AgentBase):
    """Its constructor waits for a gate file; everything it does is logged in order."""

    def __init__(self, name: str, gate: str) -> None:
        super().__init__(name)
        self.events = ["init started"]
        _wait_file(gate)
        self.events.append("init done")

    def reply(self, x: Any = None) -> Msg:
        self.events.append(f"reply {x.content}")
        return Msg(self.name, len(self.events), "assistant")

    def observe(self, x: Any) -> None:
        self.events.append(f"observe {x.content}")

    @async_func
    def later(self, tag: str) -> str:
        self.events.append(f"later {tag}")
        return tag

    def log(self) -> list:
        return list(self.events)


class Explodes(AgentBase):
    """Its constructor raises."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        raise RuntimeError("constructor exploded on purpose")

    def reply(self, x: Any = None) -> Msg:
        return Msg(self.name, "never", "assistant")

    def ping(self) -> str:
        return "pong"


class Plain(AgentBase):
    """Replies with its server's pid."""

    def reply(self, x: Any = None) -> Msg:
        return Msg(self.name, os.getpid(), "assistant")


# -- FIFO of creation, then calls -------------------------------------------------------------
@pytest.mark.parametrize("where", ["server", "child"])
def test_calls_made_right_after_to_dist_run_after_the_constructor_in_order(
    module_server: Any, tmp_path: Path, where: str,
) -> None:
    gate = str(tmp_path / "gate")
    target = module_server.options if where == "server" else True
    agent = SlowStart("slow", gate, to_dist=target)  # returned while the constructor waits
    try:
        with pytest.raises(StreamTimeoutError):
            agent.wait_ready(timeout=0.5)  # not built yet: the gate is closed
        first = agent(Msg("user", "one", "user"))
        agent.observe(Msg("user", "two", "user"))
        third = agent.later("three")
        fourth = agent.reply(Msg("user", "four", "user"))
        assert all(isinstance(p, AsyncResult) and not p.done() for p in (first, third, fourth))
        Path(gate).touch()
        assert agent.wait_ready(timeout=60) is agent
        assert (first.content, third.result(timeout=30), fourth.content) == (3, "three", 6)
        assert agent.log() == ["init started", "init done", "reply one", "observe two", "later three", "reply four"]
    finally:
        agent.stop_server()


def test_many_pipelined_creations_then_calls(module_server: Any) -> None:
    agents = [Plain(f"p{i}", to_dist=module_server.options) for i in range(200)]
    replies = [agent(None) for agent in agents]  # all queued behind their creations
    pids = {reply.result(timeout=60).content for reply in replies}
    assert pids == {module_server.pid}
    assert len(RpcClient(module_server.host, module_server.port, token=module_server.token).get_agent_list()) >= 200


# -- creation errors ----------------------------------------------------------------------------
def test_a_failed_creation_raises_from_wait_ready(module_server: Any) -> None:
    agent = Explodes("boom", to_dist=module_server.options)  # no error yet: the creation is pipelined
    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        agent.wait_ready(timeout=60)
    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        agent.wait_ready(timeout=60)  # and every time after


@pytest.mark.parametrize("first_use", ["reply", "sync method", "observe then reply", "attribute"])
def test_a_failed_creation_raises_at_first_use(module_server: Any, first_use: str) -> None:
    agent = Explodes("boom", to_dist=module_server.options)

    def use() -> Any:
        if first_use == "reply":
            return agent(Msg("user", "hi", "user")).result(timeout=60)  # raised by the call or by its placeholder
        if first_use == "sync method":
            return agent.ping()
        if first_use == "observe then reply":
            agent.observe(Msg("user", "heard", "user"))  # fire-and-forget: returns
            return agent(Msg("user", "hi", "user")).result(timeout=60)
        return agent.sys_prompt

    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        use()
    with pytest.raises(AgentCreationError):  # and the uses after it
        agent(Msg("user", "again", "user"))
    with pytest.raises(AgentCreationError):
        agent.ping()


def test_a_refused_class_is_a_creation_error(server_factory: Any) -> None:
    class Unimportable(AgentBase):
        """Defined in a function: no server can import it by name, so it would have to travel by value."""

        def reply(self, x: Any = None) -> Msg:
            return Msg(self.name, "ran", "assistant")

    server = server_factory(code_shipping=False)
    agent = Unimportable("shipped", to_dist=server.options)
    with pytest.raises(AgentCreationError, match="code shipping is off"):
        agent.wait_ready(timeout=60)
    with pytest.raises(AgentCreationError):
        agent(None).result(timeout=60)


# -- child-mode servers ---------------------------------------------------------------------------
def test_child_servers_have_fresh_tokens_of_their_own() -> None:
    agents = [Plain(f"kid{i}", to_dist=True) for i in range(3)]
    try:
        endpoints = [agent.endpoint for agent in agents]
        tokens = [ep.token for ep in endpoints]
        assert len(set(tokens)) == 3
        for token in tokens:
            assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token), token  # >= 128 bits, url-safe
        for i, ep in enumerate(endpoints):
            assert RpcClient(ep.host, ep.port, token=ep.token).get_agent_list()[0]["agent_id"] == agents[i].agent_id
            other = tokens[(i + 1) % 3]
            with pytest.raises(AgentScopeRpcError):
                RpcClient(ep.host, ep.port, token=other).get_agent_list()  # a sibling's token is refused
            pid = RpcClient(ep.host, ep.port, token=ep.token).get_server_info()["pid"]
            assert ep.token not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    finally:
        for agent in agents:
            agent.stop_server()


ORCHESTRATOR = textwrap.dedent('''
    import os
    import sys
    import time

    from agentscope_rpc import runtime
    from agentscope_rpc.agents import AgentBase
    from agentscope_rpc.message import Msg
    from agentscope_rpc.rpc import RpcClient

    runtime.default().set_printer(None)


    class Worker(AgentBase):
        def reply(self, x=None):
            if x is not None and x.content == "sleep":
                time.sleep(120)  # busy when the orchestrator dies
            return Msg(self.name, os.getpid(), "assistant")


    agents = [Worker(f"w{i}", to_dist=True) for i in range(3)]
    pids = [a(None).content for a in agents]
    busy = agents[0](Msg("host", "sleep", "user"))  # left running
    print("PIDS", os.getpid(), *pids, flush=True)
    sys.stdin.read()  # until killed
''')




@pytest.mark.parametrize("fork_server", ["1", "0"], ids=["fork-server", "fresh-interpreters"])
def test_child_servers_die_with_a_sigkilled_orchestrator(fork_server: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), AGENTSCOPE_RPC_FORK_SERVER=fork_server)
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", ORCHESTRATOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        readable, _, _ = select.select([proc.stdout], [], [], 90)
        assert readable, "the orchestrator printed nothing"
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), line
        orchestrator, *children = (int(p) for p in line.split()[1:])
        assert orchestrator == proc.pid and len(set(children)) == 3
        parents = {parent_pid(pid) for pid in children}
        assert len(parents) == 1
        watched = list(children)
        if fork_server == "1":  # forked by the fork server, itself the orchestrator's child
            fork_server_pid = parents.pop()
            assert fork_server_pid != orchestrator and parent_pid(fork_server_pid) == orchestrator
            watched.append(fork_server_pid)
        else:  # switched off: each child is a fresh interpreter the orchestrator started
            assert parents == {orchestrator}
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
        for pid in watched:
            assert process_gone(pid, 10), f"process {pid} outlived its SIGKILLed orchestrator"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
