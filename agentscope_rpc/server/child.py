"""Agent servers as child processes of this one.

Used by child-mode `to_dist()` (through the runtime, which owns its
children and stops them at exit) and by `RpcAgentServerLauncher`.  The
child is `python -m agentscope_rpc.server start` with the flags of a
`ServerConfig`; its token travels in the environment (never on the command
line), it reports its port on a private pipe, and it watches its stdin and
exits when the parent goes away, so no server outlives its orchestrator.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import select
import subprocess
import sys
import time
from typing import Optional

from ..exception import AgentServerNotAliveError
from ..rpc.codec import TOKEN_ENV, Endpoint
from .config import ServerConfig

READY_TIMEOUT_S = 120.0


class ChildServer:
    """An agent server process started by this process."""

    def __init__(self, process: subprocess.Popen, endpoint: Endpoint) -> None:
        self.process = process
        self.endpoint = endpoint

    @property
    def host(self) -> str:
        return self.endpoint.host

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def token(self) -> str:
        return self.endpoint.token

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to exit (close its stdin), then terminate, then kill."""
        proc = self.process
        if proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        for action in (None, proc.terminate, proc.kill):
            if action is not None and proc.poll() is None:
                action()
            try:
                proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue


def _child_env(token: Optional[str]) -> dict:
    env = os.environ.copy()
    if token:
        env[TOKEN_ENV] = token
    else:
        env.pop(TOKEN_ENV, None)
    # what the parent can import (e.g. the module defining an agent class), the child can too
    paths = [p or os.getcwd() for p in sys.path if p == "" or os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def spawn(config: ServerConfig, watch_parent: bool = True, timeout: float = READY_TIMEOUT_S) -> ChildServer:
    """Start a server for `config` in a child process; returns once it serves."""
    token = config.resolved_token()
    read_fd, write_fd = os.pipe()
    flags = dataclasses.replace(config, token=None, ready_fd=write_fd, watch_stdin=watch_parent).to_argv()
    cmd = [sys.executable, "-m", "agentscope_rpc.server", "start", *flags]
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            # its own session: a Ctrl-C at the terminal reaches the parent, which stops it
            cmd, stdin=subprocess.PIPE, pass_fds=(write_fd,), env=_child_env(token), start_new_session=True,
        )
    finally:
        os.close(write_fd)
    try:
        port = wait_ready(read_fd, proc, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(read_fd)
    return ChildServer(proc, Endpoint(config.advertise_host or config.host, port, token or ""))


def spawn_child_server(**settings: object) -> ChildServer:
    """A loopback child server with a fresh random token (child-mode `to_dist`)."""
    settings.setdefault("host", "127.0.0.1")
    settings.setdefault("port", 0)
    settings.setdefault("token", secrets.token_urlsafe(32))
    settings.setdefault("log_level", "WARNING")
    return spawn(ServerConfig(**settings))  # type: ignore[arg-type]


def wait_ready(fd: int, proc: subprocess.Popen, timeout: float) -> int:
    """Read "READY <port>" from a starting server's ready pipe; its port."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AgentServerNotAliveError(f"agent server (pid {proc.pid}) not ready after {timeout}s")
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            continue
        chunk = os.read(fd, 256)
        if not chunk:  # the child closed the pipe without being ready: it died
            code = proc.wait()
            raise AgentServerNotAliveError(f"agent server exited with code {code} before serving (see its stderr above)")
        data += chunk
    line = data.split(b"\n", 1)[0].decode()
    if not line.startswith("READY "):
        raise AgentServerNotAliveError(f"agent server sent {line!r} instead of READY")
    return int(line.split()[1])
