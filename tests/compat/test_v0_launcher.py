"""AgentScope 0.1.6's RpcAgentServerLauncher keywords and `as_server start` flags (issue 9, A1).

Real servers on loopback, in-process and in a subprocess.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from agentscope_rpc.exception import AgentCreationError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc.codec import TOKEN_ENV
from agentscope_rpc.server import RpcAgentServerLauncher

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]

SCRIPT = '''
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


class ScriptEcho(AgentBase):
    """Defined in a file no server can import: it must travel by value."""

    def reply(self, x=None):
        return Msg(self.name, "script:" + str(x.content), "assistant")
'''


@pytest.fixture(scope="module")
def script_module(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """A module loaded from a file outside every import path (like a script's classes)."""
    path = tmp_path_factory.mktemp("script") / "v0_launcher_script_agents.py"
    path.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("v0_launcher_script_agents", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not in sys.modules: not importable, in this process either
    return module


V0_KEYWORDS = dict(
    local_mode=True, server_id="v0-server", capacity=8, max_pool_size=1000, max_expire_time=120,
    max_timeout_seconds=5, studio_url="http://127.0.0.1:5000", pool_type="local",
    redis_url="redis://localhost:6379",
)


@pytest.mark.parametrize("in_subprocess", [True, False], ids=["subprocess", "in-process"])
def test_v0_keywords_and_custom_classes_without_code_shipping(script_module: ModuleType, in_subprocess: bool) -> None:
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(
        host="localhost", port=None, custom_agent_classes=[script_module.ScriptEcho],
        agent_dir=str(REPO / "tests" / "dist_agents" / "agent_dir"),
        token=token, code_shipping=False, **V0_KEYWORDS,
    )
    assert launcher.port is None
    assert launcher.config.max_results == 1000 and launcher.config.result_ttl == 120
    assert launcher.config.host == "127.0.0.1" and launcher.server_id == "v0-server"
    try:
        port = launcher.launch(in_subprocess=in_subprocess)
        assert isinstance(port, int) and port > 0 and launcher.port == port
        options = {"host": launcher.host, "port": port, "token": token}
        echo = script_module.ScriptEcho("echo", to_dist=options)
        assert echo(Msg("user", "hi", "user")).content == "script:hi"
    finally:
        launcher.shutdown()
    assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("agentscope-classes-")
                and os.stat(os.path.join(tempfile.gettempdir(), p)).st_uid == os.getuid()
                and os.path.exists(os.path.join(tempfile.gettempdir(), p, "classes.pkl"))]


@pytest.mark.parametrize("in_subprocess", [True, False], ids=["subprocess", "in-process"])
def test_unregistered_class_is_refused_without_code_shipping(script_module: ModuleType, in_subprocess: bool) -> None:
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=None, token=token, code_shipping=False)
    try:
        port = launcher.launch(in_subprocess=in_subprocess)
        with pytest.raises(AgentCreationError, match="code shipping is off"):
            script_module.ScriptEcho("echo", to_dist={"host": "127.0.0.1", "port": port, "token": token}).wait_ready(30)
    finally:
        launcher.shutdown()


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="max_pool_sise"):
        RpcAgentServerLauncher(host="localhost", max_pool_sise=5)


def test_local_mode_false_binds_every_interface_and_keeps_the_token_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match="requires an auth token"):
        RpcAgentServerLauncher(host="localhost", port=None, local_mode=False)
    with pytest.raises(ValueError, match="too weak"):
        RpcAgentServerLauncher(host="localhost", port=None, local_mode=False, token="short")
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="localhost", port=None, local_mode=False, token=token)
    assert launcher.config.host == "0.0.0.0" and launcher.host == "localhost"
    try:
        port = launcher.launch()
        from dist_agents import Appender

        agent = Appender("a", to_dist={"host": "127.0.0.1", "port": port, "token": token})
        assert agent(Msg("user", "x", "user")).content == "xa"
    finally:
        launcher.shutdown()


def test_as_server_start_takes_v0_flags(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    models.write_text('[{"config_name": "echo", "model_type": "scripted"}]')
    token = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env.update({TOKEN_ENV: token, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "agentscope_rpc.server", "start", "--host", "localhost", "--port", "0",
         "--local-mode", "True", "--max-pool-size", "100", "--max-expire-time", "60",
         "--max-timeout-seconds", "5", "--server-id", "v0-cli", "--agent-dir",
         str(REPO / "tests" / "dist_agents" / "agent_dir"), "--model-config-path", str(models),
         "--studio-url", "http://127.0.0.1:5000", "--pool-type", "local", "--no-log", "--use-monitor"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        seen = []
        while not seen or "listening on" not in seen[-1]:  # log lines (a broken agent file) come first
            seen.append(proc.stderr.readline())
            assert seen[-1], "".join(seen)  # the server exited
        assert "agent server v0-cli listening on 127.0.0.1:" in seen[-1]
        port = int(seen[-1].split("127.0.0.1:")[1].split()[0])
        status = subprocess.run([sys.executable, "-m", "agentscope_rpc.server", "status", "--port", str(port)],
                                capture_output=True, text=True, env=env, timeout=60, check=False)
        assert status.returncode == 0, status.stderr
        stop = subprocess.run([sys.executable, "-m", "agentscope_rpc.server", "stop", "--port", str(port)],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
