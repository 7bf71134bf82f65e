"""`as_server`: every expected failure is one line and an exit status (issue 14).

Each case runs the real command in a subprocess, as a user would, and
checks the message and the code (`agentscope_rpc.server.cli.EXIT_CODES`).
"""
from __future__ import annotations

import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, Optional

import pytest

from agentscope_rpc.rpc.codec import TOKEN_ENV

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]


def cli_env(token: Optional[str] = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if token is not None:
        env[TOKEN_ENV] = token
    return env


def as_server(*args: str, token: Optional[str] = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `as_server ARGS` to completion (no token in the environment unless given)."""
    return subprocess.run([sys.executable, "-m", "agentscope_rpc.server", *args], capture_output=True,
                          text=True, timeout=timeout, env=cli_env(token), check=False)


def one_line(text: str) -> str:
    """The single line of an error output (no traceback)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


class RunningServer:
    """`as_server start ...` in the background; port read from its 'listening on' line."""

    def __init__(self, *args: str, token: Optional[str] = None) -> None:
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "agentscope_rpc.server", "start", "--port", "0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=cli_env(token),
        )
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.stderr: list = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.port = 0
        while not self.port:
            line = self.lines.get(timeout=60)
            if line is None:
                raise RuntimeError(f"server exited: {''.join(self.stderr)}")
            match = re.search(r"listening on \S+:(\d+)", line)
            self.port = int(match.group(1)) if match else 0

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        while self.lines.get(timeout=10) is not None:  # drain until the pump saw EOF
            pass
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def running(token: str) -> Iterator[RunningServer]:
    server = RunningServer(token=token)
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- start: configuration errors exit 2 ------------------------------------------------------
def test_invalid_model_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "models.json"
    bad.write_text("{not json")
    done = as_server("start", "--model-config-path", str(bad))
    assert done.returncode == 2
    assert "is not valid JSON" in one_line(done.stderr)


@pytest.mark.parametrize("args, message", [
    (("--model-config-path", "/nonexistent/models.json"), "--model-config-path /nonexistent/models.json: no such file"),
    (("--agent-dir", "/nonexistent/agents"), "--agent-dir /nonexistent/agents is not a directory"),
    (("--token-file", "/nonexistent/token"), "cannot read --token-file /nonexistent/token"),
    (("--tls-cert", "/nonexistent/c.pem"), "--tls-cert and --tls-key go together"),
    (("--port", "70000"), "bad port 70000"),
    (("--log-level", "LOUD"), "--log-level 'LOUD'"),
    (("--host", "0.0.0.0"), "requires an auth token"),
    (("--capacity", "0"), "--capacity must be at least 1"),
    (("--pool-type", "memcached"), "pool_type 'memcached'"),
])
def test_start_configuration_errors(args: tuple, message: str) -> None:
    done = as_server("start", *args)
    assert done.returncode == 2, done.stderr
    assert message in one_line(done.stderr)


def test_weak_token_refused_for_a_non_loopback_bind() -> None:
    done = as_server("start", "--host", "0.0.0.0", token="s3cret")
    assert done.returncode == 2
    assert "the token is too weak" in one_line(done.stderr)


def test_usage_errors_are_argparse_exit_2() -> None:
    done = as_server("start", "--no-such-flag")
    assert done.returncode == 2 and "unrecognized arguments: --no-such-flag" in done.stderr
    done = as_server("status")
    assert done.returncode == 2 and "--port" in done.stderr
    done = as_server("start", "--local-mode", "maybe")
    assert done.returncode == 2 and "expected true or false" in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "models.json"
    bad.write_text("[1, 2")
    done = as_server("start", "--model-config-path", str(bad), "--debug")
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "is not valid JSON" in done.stderr.splitlines()[-1]


def test_token_on_the_command_line_warns(tmp_path: Path) -> None:
    done = as_server("status", "--port", str(free_port()), "--token", "t" * 40, "--timeout", "2")
    assert "warning: --token is visible to every local user" in done.stderr
    assert "--token-file" in done.stderr


# -- network: exit 3, refused: exit 4 -------------------------------------------------------------
def test_busy_port_exits_3(running: RunningServer, token: str) -> None:
    done = as_server("start", "--port", str(running.port), token=token)
    assert done.returncode == 3
    assert "address in use" in one_line(done.stderr)


def test_status_of_nothing_exits_3() -> None:
    done = as_server("status", "--port", str(free_port()), "--timeout", "2")
    assert done.returncode == 3
    assert "not reachable" in one_line(done.stderr)


def test_wrong_or_missing_token_exits_4(running: RunningServer, tmp_path: Path) -> None:
    for token in ("wrong-token-" + "x" * 20, None):
        done = as_server("status", "--port", str(running.port), token=token)
        assert done.returncode == 4, done.stderr
        assert "token" in one_line(done.stderr)


def test_status_token_file_missing_exits_2() -> None:
    done = as_server("status", "--port", str(free_port()), "--token-file", "/nonexistent")
    assert done.returncode == 2
    assert one_line(done.stderr) == "as_server status: cannot read --token-file /nonexistent: No such file or directory"


# -- the happy path and stopping -------------------------------------------------------------------
def test_status_then_stop_through_a_token_file(running: RunningServer, token: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    done = as_server("status", "--port", str(running.port), "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    assert f'"pid": {running.proc.pid}' in done.stdout
    done = as_server("stop", "--port", str(running.port), "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    assert running.wait() == 0


def test_non_loopback_bind_with_a_strong_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(secrets.token_urlsafe(16))  # 22 characters: the shortest that passes
    token_file.chmod(0o600)
    server = RunningServer("--host", "0.0.0.0", "--token-file", str(token_file))
    try:
        done = as_server("status", "--port", str(server.port), "--token-file", str(token_file))
        assert done.returncode == 0, done.stderr
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()


def test_ctrl_c_exits_130_with_one_line(running: RunningServer) -> None:
    running.proc.send_signal(signal.SIGINT)
    assert running.wait() == 130
    tail = [line for line in running.stderr if "listening on" not in line and line.strip()]
    assert tail == ["as_server: interrupted; agent server stopped\n"], running.stderr


# -- help ----------------------------------------------------------------------------------------------
def test_help_is_truthful() -> None:
    top = as_server("--help")
    assert top.returncode == 0
    assert "Run an agent server in the foreground" in top.stdout
    assert "status a running" not in top.stdout
    start = as_server("start", "--help").stdout
    for hidden in ("--ready-fd", "--watch-stdin", "--class-file"):
        assert hidden not in start
    assert re.search(r"--no-code-shipping\s+refuse agent classes shipped by clients", start)
    assert "address to bind (default: 127.0.0.1)" in start
    assert "(default: 512)" in start
    assert "exit status:" in start and "130" in start
    for flag in ("--local-mode", "--max-pool-size", "--max-expire-time", "--max-timeout-seconds",
                 "--server-id", "--agent-dir", "--model-config-path"):
        assert flag in start
    for command in ("stop", "status"):
        text = as_server(command, "--help").stdout
        options = text.split("options:")[1].split("exit status:")[0]
        flags = re.findall(r"^  (--[a-z-]+)", options, re.M)
        assert {"--host", "--port", "--token", "--token-file", "--timeout"} <= set(flags)
        for line in options.splitlines():  # every flag has a help text on its line or the next
            if re.match(r"^  --", line) and len(line.split()) <= 2:
                following = options.splitlines()[options.splitlines().index(line) + 1]
                assert following.startswith(" " * 10), f"{command}: {line!r} has no help"
