"""The orchestrator's handle on its fork server, and what every child server start shares.

`init()` starts the fork server (`server/fork_server.py`, the process
side) in the background, so this module imports nothing but the standard
library: a program that never distributes an agent does not load gRPC.
`server/child.py` builds child servers on top of it.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Optional

from ._environ import TOKEN_ENV
from .exception import AgentServerNotAliveError

READY_TIMEOUT_S = 120.0
FORK_REQUEST_MAX = 1 << 16  # bytes of one request / answer on the fork server's socket


class ForkedProcess:
    """A server forked by the fork server: the part of `subprocess.Popen` its owner uses."""

    def __init__(self, pid: int, watch: int) -> None:
        self.pid = pid
        self.stdin = os.fdopen(watch, "wb", buffering=0)  # closing it stops the child
        self.returncode: Optional[int] = None
        try:
            self._pidfd: Optional[int] = os.pidfd_open(pid)
        except OSError:  # already gone
            self._pidfd = None
            self.returncode = 0

    def poll(self) -> Optional[int]:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            if readable:
                self._ended()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None and self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], timeout)  # a pidfd is readable once it exits
            if not readable:
                raise subprocess.TimeoutExpired(f"agent server {self.pid}", timeout)
            self._ended()
        return self.returncode  # type: ignore[return-value]

    def _ended(self) -> None:
        self.returncode = 0  # its exit status went to the fork server, which reaped it
        os.close(self._pidfd)  # type: ignore[arg-type]
        self._pidfd = None

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, sig)


class ForkServer:
    """The orchestrator's handle on its fork server (see module docstring)."""

    def __init__(self, timeout: float = READY_TIMEOUT_S) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._lock = threading.Lock()
        try:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-m", "agentscope_rpc.server.fork_server", str(theirs.fileno())],
                stdin=subprocess.PIPE, pass_fds=(theirs.fileno(),), env=child_env(None), start_new_session=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        self._sock.settimeout(timeout)
        if self._line() != {"ready": True}:
            raise AgentServerNotAliveError("the fork server did not start")

    def _line(self) -> Any:
        data = b""
        while not data.endswith(b"\n"):
            chunk = self._sock.recv(FORK_REQUEST_MAX)
            if not chunk:
                raise AgentServerNotAliveError("the fork server exited")
            data += chunk
        return json.loads(data)

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, settings: dict, token: str, timeout: float) -> tuple:
        """Fork an agent server with `settings` (a `ServerConfig`'s fields) and `token`.

        Returns `(process, port)` once it serves.
        """
        watch_r, watch_w = os.pipe()
        ready_r, ready_w = os.pipe()
        try:
            with self._lock:
                request = json.dumps({"settings": settings, "token": token}).encode() + b"\n"
                socket.send_fds(self._sock, [request], [watch_r, ready_w])
                os.close(watch_r)
                os.close(ready_w)
                watch_r = ready_w = -1
                pid = int(self._line()["pid"])
            process = ForkedProcess(pid, watch_w)
            watch_w = -1
            try:
                port = wait_ready(ready_r, process, timeout)  # type: ignore[arg-type]
            except BaseException:
                process.kill()
                raise
        finally:
            for fd in (watch_r, ready_w, watch_w, ready_r):
                if fd >= 0:
                    os.close(fd)
        return process, port

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._sock.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def child_env(token: Optional[str]) -> dict:
    """The environment of a child server: the token (if any) and this process's import path."""
    env = os.environ.copy()
    if token:
        env[TOKEN_ENV] = token
    else:
        env.pop(TOKEN_ENV, None)
    # what the parent can import (e.g. the module defining an agent class), the child can too
    paths = [p or os.getcwd() for p in sys.path if p == "" or os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


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
