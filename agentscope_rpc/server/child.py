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
import os
import secrets
import subprocess
import sys
from typing import Any

from .._forks import READY_TIMEOUT_S, ForkServer, child_env, wait_ready
from ..rpc.codec import Endpoint
from .config import ServerConfig

__all__ = ["ChildServer", "ForkServer", "spawn", "spawn_child_server", "wait_ready"]


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

    Forked by `forks` (an `agentscope_rpc._forks.ForkServer`) when given, else a fresh interpreter.
    """
    settings.setdefault("host", "127.0.0.1")
    settings.setdefault("port", 0)
    settings.setdefault("token", secrets.token_urlsafe(32))
    settings.setdefault("log_level", "WARNING")
    config = ServerConfig(**settings)
    if forks is None:
        return spawn(config)
    token = config.resolved_token() or ""
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if f.name not in ("token", "token_file", "ready_fd", "watch_stdin")}
    process, port = forks.spawn(fields, token, READY_TIMEOUT_S)
    return ChildServer(process, Endpoint(config.advertise_host or config.host, port, token))
