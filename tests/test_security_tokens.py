"""Token hygiene (issue 11 item 9, DESIGN §8).

- A non-loopback bind needs a token of at least 128 bits: a one-character
  token is refused for 0.0.0.0 by `ServerConfig`, the launcher and the CLI;
  `secrets.token_urlsafe(16)` is enough.
- `as_server start --token T` warns that the token is visible to every
  local user, and points at --token-file / the environment.
- No server we start puts its token on a command line (`/proc/<pid>/cmdline`
  is world-readable): not the launcher's, not a child-mode one.
"""
from __future__ import annotations

import secrets
import subprocess
import sys

import psutil
import pytest

from agentscope_rpc.message import Msg
from agentscope_rpc.rpc.codec import TOKEN_ENV
from agentscope_rpc.server import RpcAgentServerLauncher, ServerConfig
from dist_agents import Appender
from fault_tools import script_env

pytestmark = pytest.mark.timeout(120)


def start_cli(*flags: str, token_env: str = "") -> subprocess.Popen:
    """`as_server start FLAGS` with its stderr captured (the token, if any, in the environment)."""
    return subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "agentscope_rpc.server", "start", *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env=script_env(token_env or None),
    )


@pytest.mark.parametrize("token", ["x", "s3cret", "0123456789abcdef"])
def test_a_weak_token_is_refused_for_a_non_loopback_bind(token, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ValueError, match="token"):
        ServerConfig(host="0.0.0.0", token=token).validate()
    with pytest.raises(ValueError, match="token"):
        RpcAgentServerLauncher(host="0.0.0.0", port=0, token=token)
    proc = start_cli("--host", "0.0.0.0", "--port", "0", token_env=token)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, "a weak token was accepted for 0.0.0.0"
    assert "token" in err


def test_a_128_bit_token_is_enough(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    ServerConfig(host="0.0.0.0", token=secrets.token_urlsafe(16)).validate()
    ServerConfig(host="0.0.0.0", token=secrets.token_hex(16)).validate()
    ServerConfig(host="127.0.0.1", token="x").validate()  # loopback: any token, or none


def test_token_on_the_command_line_warns():
    token = secrets.token_urlsafe(32)
    proc = start_cli("--host", "127.0.0.1", "--port", "0", "--token", token)
    try:
        line = proc.stderr.readline()
        while line and "listening" not in line and "warning" not in line.lower():
            line = proc.stderr.readline()
        proc.terminate()  # it has spoken (no --watch-stdin: stopped by a signal)
        _out, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    said = line + rest
    assert "warning" in said.lower() and "--token-file" in said, said


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode(errors="replace")


def _our_servers() -> list:
    """Agent server processes started by this process: (pid, cmdline, the token in their environment)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
            if "agentscope_rpc.server" in cmdline:
                found.append((proc.pid, cmdline, proc.environ().get(TOKEN_ENV, "")))
        except psutil.Error:
            continue
    return found


def test_servers_we_start_keep_their_token_off_the_command_line(server):
    child_mode = Appender("child", to_dist=True)
    try:
        assert child_mode(Msg("user", "ok-")).result(timeout=30).content == "ok-child"
        servers = _our_servers()
        assert server.pid in [pid for pid, _, _ in servers]
        assert len(servers) >= 2, servers  # the launcher's and the child-mode one
        child_token = child_mode.endpoint.token  # forked by the fork server: its token lives only in memory
        cmdlines = " ".join(cmdline for _, cmdline, _ in servers)
        for pid, cmdline, token in servers:
            if "fork_server" not in cmdline:  # a fresh interpreter: the token came in its environment
                assert token, f"server {pid} runs without a token"
        for token in (server.token, child_token):
            assert token and token not in cmdlines, "a server has its token on its command line"
        assert len(child_token) >= 22, "child-mode tokens need 128 bits or more"
    finally:
        child_mode.stop_server()
