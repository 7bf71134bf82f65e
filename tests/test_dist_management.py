"""Managing agent servers: listing, memory, info, deletion, stop, health, CLI, --agent-dir."""
import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import AgentNotFoundError, AgentScopeRpcError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc import runtime
from agentscope_rpc.rpc.codec import TOKEN_ENV, Endpoint
from dist_agents import Appender, BigProducer, Recorder

pytestmark = pytest.mark.timeout(120)
AGENT_DIR = pathlib.Path(__file__).parent / "dist_agents" / "agent_dir"


def rpc(server, method, request=None):
    connection = runtime.default().connection(Endpoint(server.host, server.port, server.token))
    return connection.run(method, request or pb.Empty())


def test_list_agents_memory_and_info(server):
    first = Recorder("first", to_dist=server.options)
    second = Appender("second", to_dist=server.options)
    first.observe(Msg("user", "remember me"))
    first.observe(Msg("user", "and me"))
    assert first(Msg("user", "last")).result(timeout=10).content == 1  # after the observes
    listed = {a.agent_id: a for a in rpc(server, "ListAgents").agents}
    assert set(listed) == {first.agent_id, second.agent_id}
    assert (listed[first.agent_id].name, listed[first.agent_id].class_name) == ("first", "Recorder")
    assert listed[first.agent_id].memory_size == 3
    assert listed[second.agent_id].class_name == "Appender"
    assert [m.content for m in first.get_memory()] == ["remember me", "and me", "last"]
    info = rpc(server, "GetServerInfo")
    assert info.pid == server.pid
    assert info.port == server.port
    assert info.agent_count == 2
    assert info.memory_mb > 1 and info.cpu_percent >= 0
    assert info.code_shipping and info.version and info.uptime_s > 0


def test_delete_agent_and_delete_all(server):
    agents = [Appender(f"d{i}", to_dist=server.options) for i in range(3)]
    agents[0].delete()
    assert {a.agent_id for a in rpc(server, "ListAgents").agents} == {agents[1].agent_id, agents[2].agent_id}
    with pytest.raises(AgentNotFoundError):
        agents[0](None).result(timeout=10)
    with pytest.raises(AgentNotFoundError):
        agents[0].delete()
    with pytest.raises(AgentNotFoundError):
        agents[0].get_memory()
    assert rpc(server, "DeleteAllAgents").detail == "deleted 2 agents"
    assert list(rpc(server, "ListAgents").agents) == []
    assert rpc(server, "GetServerInfo").agent_count == 0
    assert Appender("again", to_dist=server.options)(None).result(timeout=10).content == "again"


def test_deleting_a_busy_agent_fails_its_queued_calls(server):
    busy = BigProducer("busy", 10, delay=1.0, to_dist=server.options)
    started = threading.Event()
    busy.register_hook("pre_speak", "started", lambda *_: started.set())
    running, queued = busy(None), busy(None)
    assert started.wait(10)
    busy.delete()
    # queued behind the running call (or, if it arrived after the deletion, refused)
    with pytest.raises(AgentScopeRpcError, match="deleted|no agent"):
        queued.result(timeout=10)
    assert running.result(timeout=10).content == "abcdefghij"  # the running call finishes


def test_stop_server_by_rpc(server):
    assert rpc(server, "StopServer").ok
    assert server.process.wait(15) == 0


def test_sigterm_stops_the_server_cleanly(server):
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(15) == 0


def test_health_check_serving(module_server):
    channel = grpc.insecure_channel(f"{module_server.host}:{module_server.port}")
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        metadata = (("authorization", f"Bearer {module_server.token}"),)
        for service in ("", "agentscope_rpc.AgentServer"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), metadata=metadata, timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "agentscope_rpc.server", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_cli_start_status_stop():
    token = "cli-token-123"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **{TOKEN_ENV: token})
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "agentscope_rpc.server", "start", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    try:
        port = None
        while port is None:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", lines.get(timeout=60))
            port = int(match.group(1)) if match else None
        status = _cli("status", "--port", str(port), "--token", token)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pid"] == proc.pid
        assert _cli("status", "--port", str(port), "--token", "wrong").returncode == 4  # refused
        stop = _cli("stop", "--port", str(port), "--token", token)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(15) == 0
        assert _cli("status", "--port", str(port), "--token", token, "--timeout", "2").returncode == 3  # unreachable
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


class DirGreeter(AgentBase):
    """Client-side stand-in: only its name travels; the server builds its own DirGreeter."""

    def reply(self, x=None):
        return Msg(self.name, "the client-side stand-in ran")


def test_agent_dir_classes_are_built_by_name(server_factory):
    server = server_factory(agent_dir=[str(AGENT_DIR)], code_shipping=False)
    greeter = DirGreeter("greeter", to_dist=server.options)
    assert greeter(Msg("user", "tester")).result(timeout=10).content == "hello tester, from the agent dir"
    assert [a.class_name for a in rpc(server, "ListAgents").agents] == ["DirGreeter"]
