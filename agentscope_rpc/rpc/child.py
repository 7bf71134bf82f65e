"""Start agent servers as child processes and wait until they serve.

Used by child-mode `to_dist()` and by `RpcAgentServerLauncher`.  The token
travels in the environment (never on the command line); the child reports
its port on a private pipe; it watches its stdin and exits when the parent
goes away, so no server outlives its orchestrator.
"""
from __future__ import annotations

import atexit
import os
import secrets
import select
import subprocess
import sys
import threading
import time
from typing import Optional

from ..exception import AgentServerNotAliveError
from .codec import TOKEN_ENV
READY_TIMEOUT_S = 120.0

_session_token: Optional[str] = None
_children: list["ChildServer"] = []
_lock = threading.Lock()


def session_token() -> str:
    """A fresh random token shared by the child servers of this process."""
    global _session_token  # pylint: disable=global-statement
    with _lock:
        if _session_token is None:
            _session_token = secrets.token_urlsafe(32)
        return _session_token


class ChildServer:
    """An agent server process started by this process."""

    def __init__(self, process: subprocess.Popen, host: str, port: int, token: str) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.token = token

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
        with _lock:
            if self in _children:
                _children.remove(self)


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


def spawn_server(
    flags: list,
    token: Optional[str],
    host: str = "127.0.0.1",
    watch_parent: bool = True,
    timeout: float = READY_TIMEOUT_S,
) -> ChildServer:
    """Run `python -m agentscope_rpc.server start FLAGS`; return once it serves."""
    read_fd, write_fd = os.pipe()
    cmd = [sys.executable, "-m", "agentscope_rpc.server", "start", *flags, "--ready-fd", str(write_fd)]
    if watch_parent:
        cmd.append("--watch-stdin")
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            cmd,
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
            env=_child_env(token),
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
    child = ChildServer(proc, host, port, token or "")
    with _lock:
        _children.append(child)
    return child


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
            raise AgentServerNotAliveError(
                f"agent server exited with code {code} before serving (see its stderr above)",
            )
        data += chunk
    line = data.split(b"\n", 1)[0].decode()
    if not line.startswith("READY "):
        raise AgentServerNotAliveError(f"agent server sent {line!r} instead of READY")
    return int(line.split()[1])


@atexit.register
def _stop_children() -> None:
    for child in list(_children):
        child.stop(timeout=2.0)
