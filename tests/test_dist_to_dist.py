"""Moving agents to servers: `to_dist=` at construction, `agent.to_dist()`, child mode."""
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from agentscope_rpc.exception import AgentServerNotAliveError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import RemoteAgent
from dist_agents import Appender, Recorder
from procs import process_gone

pytestmark = pytest.mark.timeout(120)


def test_to_dist_true_starts_a_child_server():
    agent = Appender("child", to_dist=True)
    try:
        assert isinstance(agent, RemoteAgent)
        assert agent._child is not None and agent._child.alive()
        assert agent._child.process.pid != os.getpid()
        assert agent(Msg("user", "in a ")).result(timeout=10).content == "in a child"
    finally:
        agent.stop_server()
    assert not agent._child.alive()


def test_to_dist_dict_is_not_mutated(module_server):
    options = dict(module_server.options, max_pool_size=8192, lazy_launch=False)  # v0 options: ignored
    snapshot = dict(options)
    agent = Appender("dict", delay=0.0, to_dist=options)
    assert options == snapshot
    assert agent(None).result(timeout=10).content == "dict"
    with pytest.raises(TypeError, match="no_such_option"):
        Appender("bad", to_dist=dict(module_server.options, no_such_option=1))


def test_to_dist_to_a_port_where_nothing_listens():
    with socket.socket() as sock:  # a port that is free right now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = Appender("nowhere", to_dist={"host": "127.0.0.1", "port": port})  # returned at once
    with pytest.raises(AgentServerNotAliveError):
        proxy.wait_ready(timeout=30)
    with pytest.raises(AgentServerNotAliveError):
        proxy(None)


def test_to_dist_method_keeps_settings_memory_id_and_hooks(module_server):
    local = Recorder("mover", work=0.01)
    local.observe([Msg("user", "one"), Msg("user", "two")])
    local.register_hook("pre_reply", "tag", lambda _agent, x: Msg(x.name, f"hooked:{x.content}"))
    proxy = local.to_dist(module_server.host, module_server.port, token=module_server.token)
    assert isinstance(proxy, RemoteAgent)
    assert proxy.agent_id == local.agent_id
    assert proxy.work == 0.01
    assert [m.content for m in proxy.get_memory()] == ["one", "two"]
    assert proxy(Msg("user", "three")).result(timeout=10).content == 1
    assert [m.content for m in proxy.get_memory()] == ["one", "two", "hooked:three"]  # hook ran here


def test_to_dist_method_child_mode():
    local = Recorder("kid")
    local.observe(Msg("user", "remember"))
    proxy = local.to_dist()
    try:
        assert proxy._child is not None
        assert [m.content for m in proxy.get_memory()] == ["remember"]
    finally:
        proxy.stop_server()


ORCHESTRATOR = textwrap.dedent(
    """
    import sys
    from agentscope_rpc import runtime
    runtime.default().set_printer(None)
    from dist_agents import Appender

    a = Appender("a", to_dist=True)
    b = Appender("b").to_dist()
    assert a(None).content == "a" and b(None).content == "b"
    print("PIDS", a._child.process.pid, b._child.process.pid, flush=True)
    if sys.argv[1] == "wait":
        sys.stdin.read()  # until killed
    """,
)



@pytest.mark.parametrize("ending", ["exit", "sigkill"])
def test_child_servers_do_not_outlive_the_orchestrator(ending):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", ORCHESTRATOR, "exit" if ending == "exit" else "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        readable, _, _ = select.select([proc.stdout], [], [], 60)
        assert readable, "the orchestrator script printed nothing"
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), line
        pids = [int(p) for p in line.split()[1:]]
        assert len(set(pids)) == 2 and not any(process_gone(pid, 0) for pid in pids)
        if ending == "sigkill":
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == (0 if ending == "exit" else -signal.SIGKILL)
        for pid in pids:
            assert process_gone(pid, 10), f"child server {pid} outlived its orchestrator"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
