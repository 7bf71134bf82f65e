"""AgentScope 0.1.6's `RpcClient(host, port, token=None)` and the launcher keywords it observes (issue 9, A4 and A1).

RpcClient: is_alive, stop, get_agent_list, get_agent_memory, get_server_info,
delete_agent, delete_all_agent, set_model_configs (configs pushed to a
running server are then usable by agents created there); a proxy's
`.client` and `.agent_id`.  Item 1's keywords seen from outside: `server_id`
in the server's info, `agent_dir` classes built by name, `capacity` bounding
the replies that run at once, `wait_until_terminate()` after `stop()`.
Real servers on loopback.
"""
from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from agentscope_rpc.agents import AgentBase, DialogAgent
from agentscope_rpc.exception import AgentCreationError, AgentScopeRpcError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import RpcClient
from agentscope_rpc.rpc.codec import TOKEN_ENV
from agentscope_rpc.server import RpcAgentServerLauncher
from v0_dist_helpers import mark, marks

pytestmark = pytest.mark.timeout(120)
AGENT_DIR = Path(__file__).resolve().parents[1] / "dist_agents" / "agent_dir"


class MemoryCounter(AgentBase):
    """0.1.6's DemoRpcAgentWithMemory: remembers the input and its own answer (the memory size)."""

    def reply(self, x: Any = None) -> Msg:
        self.memory.add(x)
        msg = Msg(self.name, {"mem_size": self.memory.size()}, "assistant")
        self.memory.add(msg)
        return msg


class Sleeper(AgentBase):
    """Marks when its reply starts and ends (wall clock), sleeping in between."""

    def __init__(self, name: str, path: str, seconds: float) -> None:
        super().__init__(name)
        self.path = path
        self.seconds = seconds

    def reply(self, x: Any = None) -> Msg:
        start = time.time()
        time.sleep(self.seconds)  # the blocking work whose concurrency the test measures
        mark(self.path, f"{start} {time.time()}")
        return Msg(self.name, "slept", "assistant")


class DirGreeter(AgentBase):
    """Stand-in for the --agent-dir class of that name: only its name travels (code shipping off)."""

    def reply(self, x: Any = None) -> Msg:
        return Msg(self.name, "the client-side stand-in ran", "assistant")


@pytest.fixture
def launcher() -> Iterator[RpcAgentServerLauncher]:
    token = secrets.token_urlsafe(16)
    server = RpcAgentServerLauncher(host="localhost", port=None, local_mode=True, token=token,
                                    server_id="v0-managed", custom_agent_classes=[MemoryCounter])
    server.launch(in_subprocess=True)
    try:
        yield server
    finally:
        server.shutdown()


def options(launcher: RpcAgentServerLauncher) -> dict:
    return {"host": launcher.host, "port": launcher.port, "token": launcher.token}


def test_rpc_client_reads_and_manages_a_server(launcher: RpcAgentServerLauncher) -> None:
    client = RpcClient(launcher.host, launcher.port, token=launcher.token)
    assert client.is_alive()
    assert client.get_agent_list() == []
    agent = MemoryCounter("demo", to_dist=options(launcher))
    resp = agent(Msg("test", "first msg", "user"))
    resp.update_value()
    memory = client.get_agent_memory(agent.agent_id)
    assert len(memory) == 2
    assert memory[0]["content"] == "first msg" and memory[1]["content"]["mem_size"] == 1
    listed = client.get_agent_list()
    assert [a["agent_id"] for a in listed] == [agent.agent_id]
    assert listed[0]["name"] == "demo" and listed[0]["type"] == "MemoryCounter"
    info = client.get_server_info()
    assert {"pid", "id", "cpu", "mem"} <= set(info)
    assert info["pid"] == launcher._child.process.pid  # pylint: disable=protected-access
    assert info["id"] == "v0-managed" and info["mem"] > 1 and info["cpu"] >= 0

    # a proxy carries a client of its server and its agent id
    assert isinstance(agent.agent_id, str) and agent.agent_id
    assert isinstance(agent.client, RpcClient)
    assert (agent.client.host, int(agent.client.port)) == (launcher.host, launcher.port)
    assert [a["agent_id"] for a in agent.client.get_agent_list()] == [agent.agent_id]

    second = MemoryCounter("second", to_dist=options(launcher))
    assert second(Msg("test", "x", "user")).content["mem_size"] == 1
    assert len(client.get_agent_list()) == 2
    assert client.delete_agent(agent.agent_id) is True
    assert [a["agent_id"] for a in client.get_agent_list()] == [second.agent_id]
    with pytest.raises(AgentScopeRpcError):
        agent(Msg("test", "gone", "user")).update_value()
    assert client.delete_agent("no-such-agent") is False
    assert client.delete_all_agent() is True
    assert client.get_agent_list() == []


def test_set_model_configs_are_used_by_agents_created_afterwards(launcher: RpcAgentServerLauncher) -> None:
    client = RpcClient(launcher.host, launcher.port, token=launcher.token)
    name = f"pushed-{uuid.uuid4().hex[:8]}"  # registered nowhere in this process
    before = DialogAgent("dialogue", sys_prompt="You are a helpful assistant.", model_config_name=name,
                         to_dist=options(launcher))
    with pytest.raises(AgentCreationError, match=name):
        before.wait_ready(30)
    assert client.set_model_configs([
        {"config_name": name, "model_type": "scripted", "responses": ["an answer from the pushed config"]},
    ]) is True
    assert client.set_model_configs({"config_name": name + "-single", "model_type": "scripted",
                                     "responses": ["a single config"]}) is True
    after = DialogAgent("dialogue", sys_prompt="You are a helpful assistant.", model_config_name=name,
                        to_dist=options(launcher))
    assert after(Msg("user", "hello", "user")).content == "an answer from the pushed config"
    single = DialogAgent("single", sys_prompt="Be brief.", model_config_name=name + "-single",
                         to_dist=options(launcher))
    assert single(Msg("user", "hello", "user")).content == "a single config"


def test_token_comes_from_the_environment_and_a_wrong_one_is_refused(
    launcher: RpcAgentServerLauncher, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, launcher.token)
    assert RpcClient(launcher.host, launcher.port).get_agent_list() == []  # token=None: the environment's
    monkeypatch.delenv(TOKEN_ENV)
    wrong = RpcClient(launcher.host, launcher.port, token=secrets.token_urlsafe(16))
    with pytest.raises(AgentScopeRpcError):
        wrong.get_agent_list()
    with pytest.raises(AgentScopeRpcError):
        wrong.delete_all_agent()


@pytest.mark.parametrize("in_subprocess", [True, False], ids=["subprocess", "in-process"])
def test_stop_ends_the_server_and_wait_until_terminate_returns(in_subprocess: bool) -> None:
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=None, token=token)
    try:
        port = launcher.launch(in_subprocess=in_subprocess)
        client = RpcClient("127.0.0.1", port, token=token)
        assert client.is_alive()
        client.stop()
        launcher.wait_until_terminate(timeout=30)
        assert not RpcClient("127.0.0.1", port, token=token).is_alive()
    finally:
        launcher.shutdown()


def test_agent_dir_classes_and_server_id_from_launcher_keywords() -> None:
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="localhost", port=None, token=token, agent_dir=str(AGENT_DIR),
                                      server_id="dir-server", code_shipping=False)
    try:
        port = launcher.launch(in_subprocess=True)
        greeter = DirGreeter("greeter", to_dist={"host": "localhost", "port": port, "token": token})
        assert greeter(Msg("user", "tester", "user")).content == "hello tester, from the agent dir"
        client = RpcClient("localhost", port, token=token)
        assert client.get_server_info()["id"] == "dir-server"
        assert [a["type"] for a in client.get_agent_list()] == ["DirGreeter"]
    finally:
        launcher.shutdown()


def _most_at_once(lines: list) -> int:
    events = sorted([(float(s), 1) for s, _ in map(str.split, lines)] + [(float(e), -1) for _, e in map(str.split, lines)])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize("capacity", [2, 6])
def test_capacity_bounds_the_replies_running_at_once(tmp_path: Path, capacity: int) -> None:
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=None, token=token, capacity=capacity)
    path = str(tmp_path / "spans")
    try:
        port = launcher.launch(in_subprocess=True)
        opts = {"host": "127.0.0.1", "port": port, "token": token}
        sleepers = [Sleeper(f"s{i}", path, 1.0, to_dist=opts) for i in range(6)]
        for sleeper in sleepers:
            sleeper.wait_ready(30)
        results = [s(None) for s in sleepers]
        assert [r.result(timeout=60).content for r in results] == ["slept"] * 6
        most = _most_at_once(marks(path))
        assert most <= capacity
        assert most >= min(capacity, 6) - (0 if capacity == 2 else 2)  # 6 one-second sleeps overlap
    finally:
        launcher.shutdown()
