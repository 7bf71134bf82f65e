"""Agent servers as child processes of this one (fresh interpreters, or forked by a fork server).

Used by child-mode `to_dist()` (through the runtime, which owns its
children and stops them at exit) and by `RpcAgentServerLauncher`.  The
child is `python -m agentscope_rpc.server start` with the flags of a
`ServerConfig`; its token travels in the environment (never on the command
line), it reports its port on a private pipe, and it watches its stdin and
exits when the parent goes away, so no server outlives its orchestrator.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Optional

from ..exception import AgentServerNotAliveError
from ..rpc.codec import TOKEN_ENV, Endpoint
from .config import ServerConfig

READY_TIMEOUT_S = 120.0
FORK_REQUEST_MAX = 1 << 16  # bytes of one request / answer on the fork server's socket


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

    def spawn(self, config: ServerConfig, timeout: float = READY_TIMEOUT_S) -> ChildServer:
        """Fork an agent server for `config`; returns once it serves."""
        token = config.resolved_token() or ""
        settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                    if f.name not in ("token", "token_file", "ready_fd", "watch_stdin")}
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
        return ChildServer(process, Endpoint(config.advertise_host or config.host, port, token))  # type: ignore[arg-type]

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


def spawn(config: ServerConfig, watch_parent: bool = True, timeout: float = READY_TIMEOUT_S) -> ChildServer:
    """Start a server for `config` in a child process; returns once it serves."""
    token = config.resolved_token()
    read_fd, write_fd = os.pipe()
    flags = dataclasses.replace(config, token=None, ready_fd=write_fd, watch_stdin=watch_parent).to_argv()
    cmd = [sys.executable, "-m", "agentscope_rpc.server", "start", *flags]
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            # its own session: a Ctrl-C at the terminal reaches the parent, which stops it
            cmd, stdin=subprocess.PIPE, pass_fds=(write_fd,), env=child_env(token), start_new_session=True,
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


def spawn_child_server(forks: Any = None, **settings: Any) -> ChildServer:
    """A loopback child server with a fresh random token (child-mode `to_dist`).

    Forked by `forks` (a `fork_server.ForkServer`) when given, else a fresh interpreter.
    """
    settings.setdefault("host", "127.0.0.1")
    settings.setdefault("port", 0)
    settings.setdefault("token", secrets.token_urlsafe(32))
    settings.setdefault("log_level", "WARNING")
    config = ServerConfig(**settings)
    return forks.spawn(config) if forks is not None else spawn(config)


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
