"""Child-mode agent servers: a runtime's `ChildServers`, its fork server's handle, what every start shares.

`init()` starts the fork server (`server/fork_server.py`, the process
side) in the background, so this module imports nothing but the standard
library: a program that never distributes an agent does not load gRPC.
`server/child.py` builds child servers on top of it.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

from ._environ import TOKEN_ENV
from .exception import AgentServerNotAliveError

log = logging.getLogger(__name__)

FORK_SERVER_ENV = "AGENTSCOPE_RPC_FORK_SERVER"  # "0": child servers are fresh interpreters
READY_TIMEOUT_S = 120.0
FORK_REQUEST_MAX = 1 << 16  # bytes of one request / answer on the fork server's socket


class ForkedProcess:
    """A server forked by the fork server: the part of `subprocess.Popen` its owner uses.

    Its pidfd stays open for as long as the object lives, also after the
    child ended: poll/wait/kill may run on several threads at once, and a
    pidfd closed by one of them could be reused by the next pipe or pidfd
    the process opens — another server's — which a late `kill` or a second
    close would then hit.
    """

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

    def __del__(self) -> None:
        fd, self._pidfd = getattr(self, "_pidfd", None), None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.returncode is None and self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, sig)
            except ProcessLookupError:  # it has just ended
                pass


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


class ChildServers:
    """A runtime's child-mode agent servers and the fork server they come from.

    `start(forks, **settings)` starts one server (`server.child.spawn_child_server`,
    given by the runtime so that this module stays free of the transport).
    """

    def __init__(self, start: Callable[..., Any]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._children: list = []
        self._forks: Optional[concurrent.futures.Future] = None  # -> the fork server (or None)

    def warm_up(self) -> None:
        """Start the fork server in the background (once).

        `AGENTSCOPE_RPC_FORK_SERVER=0` in the environment: no fork server,
        every child server is a fresh interpreter.
        """
        with self._lock:
            if self._forks is not None:
                return
            self._forks = concurrent.futures.Future()
            if os.environ.get(FORK_SERVER_ENV, "1") == "0":
                self._forks.set_result(None)
                return
        threading.Thread(target=self._start_fork_server, name="agentscope-rpc-fork-server", daemon=True).start()

    def _start_fork_server(self) -> None:
        try:
            self._forks.set_result(ForkServer())  # type: ignore[union-attr]
        except Exception as err:  # pylint: disable=broad-except
            log.warning("agentscope-rpc: no fork server (%s); child servers start as fresh interpreters", err)
            self._forks.set_result(None)  # type: ignore[union-attr]

    def spawn(self, **settings: Any) -> Any:
        """Start a loopback agent server owned by this runtime (child-mode `to_dist`); its `ChildServer`."""
        self.warm_up()
        forks = self._forks.result()  # type: ignore[union-attr]
        if forks is not None and not forks.alive():
            forks = None
        child = self._start(forks, **settings)
        with self._lock:
            self._children.append(child)
        return child

    def stop(self, patience: float = 2.0) -> None:
        """Stop the child servers (in parallel) and the fork server.

        Each is asked to stop, then given `patience` seconds per step before
        being terminated, then killed.
        """
        with self._lock:
            children, self._children = self._children, []
            forks, self._forks = self._forks, None
        threads = [threading.Thread(target=child.stop, kwargs={"timeout": patience}) for child in children]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if forks is not None and forks.done() and forks.result() is not None:
            forks.result().stop()
