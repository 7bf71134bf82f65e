"""Token hygiene (issue 11 item 9, DESIGN §8).

- A non-loopback bind needs a token of at least 128 bits: a one-character
  token is refused for 0.0.0.0 by `ServerConfig`, the launcher and the CLI;
  `secrets.token_urlsafe(16)` is enough.
- `as_server start --token T` warns that the token is visible to every
  local user, and points at --token-file / the environment.
- No server we start puts its token on a command line (`/proc/<pid>/cmdline`
  is world-readable): not the launcher's, not a child-mode one — and each of
  them has a token all the same (a token-less request is refused).
"""
from __future__ import annotations

import secrets
import subprocess
import sys

import grpc
import psutil
import pytest

import raw_wire as raw
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
    """Agent server processes started by this process: (pid, cmdline, listening ports)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = proc.cmdline()
            if any("agentscope_rpc.server" in part for part in cmdline):
                ports = [c.laddr.port for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
                found.append((proc.pid, cmdline, ports))
        except psutil.Error:
            continue
    return found


def test_servers_we_start_keep_their_token_off_the_command_line(server):
    child_mode = Appender("child", to_dist=True)
    try:
        assert child_mode(Msg("user", "ok-")).result(timeout=30).content == "ok-child"
        processes = _our_servers()  # servers, and any helper that starts them (a fork server)
        for pid, cmdline, _ports in processes:
            assert "--token" not in cmdline, f"process {pid} was given a token on its command line"
            assert server.token not in " ".join(cmdline)
        servers = [(pid, ports) for pid, _cmdline, ports in processes if ports]
        assert server.pid in [pid for pid, _ in servers]
        assert len(servers) >= 2, processes  # the launcher's and the child-mode one
        for pid, ports in servers:
            for port in ports:  # it has a token all the same: a token-less request is refused
                intruder = raw.Target("127.0.0.1", port, None)
                try:
                    outcome = raw.manage(intruder, "GetServerInfo")
                finally:
                    intruder.close()
                assert outcome.status == grpc.StatusCode.UNAUTHENTICATED, f"server {pid} without a token: {outcome}"
    finally:
        child_mode.stop_server()
