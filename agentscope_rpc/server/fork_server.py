"""A fork server: child-mode agent servers in milliseconds instead of a second.

Starting a child server as a fresh interpreter means importing Python,
grpc and this package again — about a second on two cores.  Forking the
orchestrator itself would be quicker but is unsafe once gRPC runs in it.
So the orchestrator starts, once, a *fork server*: a fresh interpreter
(fork + exec, safe at any time) that imports everything an agent server
needs, creates no channel and no thread, and then forks a ready-made agent
server on request.  `init()` starts it in the background, so the first
`to_dist()` usually finds it warm.

The trade-off: one extra idle process (~40 MB) while the program runs, and
children start from what the fork server imported — modules the program
imports later are imported by the child on first use, or their classes
travel by value, as with any server.

This module is the fork server process (`python -m
agentscope_rpc.server.fork_server FD`); the orchestrator's side is
`agentscope_rpc._forks.ForkServer`.  Protocol (a Unix socket pair): the orchestrator sends one JSON line — the
child's `ServerConfig` settings and token — with two file descriptors, the
read end of a *watch* pipe (the child stops when it closes: when the
orchestrator stops it or dies) and the write end of its ready pipe; the
fork server forks, answers with the child's pid, and reaps children as they
exit.  It exits itself when the orchestrator goes away (its stdin closes).
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
from typing import Any

from ..rpc.codec import TOKEN_ENV
from .._forks import FORK_REQUEST_MAX
from .config import ServerConfig


# -- the fork server process ---------------------------------------------------------------
def _reap(_signum: int, _frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(sock: socket.socket, request: dict, watch: int, ready: int) -> None:
    """In the forked child: become an agent server."""
    from .cli import _serve  # imported before the fork: nothing to load here

    sock.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    os.dup2(watch, 0)  # the server stops when its stdin closes
    os.close(watch)
    if request["token"]:
        os.environ[TOKEN_ENV] = request["token"]
    settings = dict(request["settings"], ready_fd=ready, watch_stdin=True)
    code = 1
    try:
        code = _serve(ServerConfig(**settings))
    finally:
        os._exit(code)  # never run the fork server's own cleanup


def serve(fd: int) -> None:
    """Run the fork server on the inherited socket `fd` until stdin closes."""
    from . import cli  # noqa: F401  what every child needs, imported once, before any fork

    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator handles Ctrl-C and stops us
    sock.sendall(b'{"ready": true}\n')
    while True:
        try:
            readable, _, _ = select.select([sock, 0], [], [])
        except InterruptedError:
            continue
        if 0 in readable and not os.read(0, 4096):
            return  # the orchestrator went away
        if sock not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(sock, FORK_REQUEST_MAX, 2)
        if not message:
            return
        if len(fds) != 2:
            for extra in fds:
                os.close(extra)
            continue
        watch, ready = fds
        pid = os.fork()
        if pid == 0:
            _child(sock, json.loads(message), watch, ready)
        os.close(watch)
        os.close(ready)
        sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass  # the orchestrator is gone: so are we
