"""Helpers of the AgentScope 0.1.6 distribution tests (issue 9 part A): gates, marks, ports, a cuttable link.

Agents run in server processes, so what a test needs to see or control
inside them goes through the file system: a *gate* is a file a remote
method waits for (the test creates it), a *mark* is a line a remote method
appends to a file (the test reads it).  Both work across processes and need
no timing: a call blocked on a closed gate is certainly still running.
"""
from __future__ import annotations

import os
import select
import socket
import threading
import time
from pathlib import Path

from procs import parent_pid, process_gone  # noqa: F401  (re-exported for the compat tests)

GATE_TIMEOUT_S = 60.0


def wait_gate(path: str, timeout: float = GATE_TIMEOUT_S) -> None:
    """Block until the file `path` exists (called inside remote agents); TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {path} still closed after {timeout}s")
        time.sleep(0.01)  # polling a file another process creates; bounded by the deadline


def mark(path: str, line: str) -> None:
    """Append one line to `path` (atomic for short lines: O_APPEND)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def marks(path: "str | Path") -> list:
    """The lines appended to `path` so far ([] before the first)."""
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_for_marks(path: "str | Path", count: int, timeout: float = 30.0) -> list:
    """Poll until `path` holds at least `count` lines (or `timeout` passes); the lines."""
    deadline = time.monotonic() + timeout
    while True:
        lines = marks(path)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)  # polling a file a server process writes; bounded by the deadline


class Gate:
    """A closed gate in a test's tmp directory; `open()` lets the waiting remote code go on."""

    def __init__(self, directory: Path, name: str = "gate") -> None:
        self.path = str(directory / name)

    def open(self) -> None:
        Path(self.path).touch()


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TcpForwarder:
    """A loopback TCP relay to `target_port` whose open connections `cut()` drops at once.

    New connections are accepted again after a cut, so a client that
    reconnects reaches the same server: what it re-sends is visible there.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: list = []
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, name="tcp-forwarder", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._links.append((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> int:
        """Drop every open connection (RST, as a cut cable would look); how many were dropped."""
        with self._lock:
            links, self._links = self._links, []
        for pair in links:
            for sock in pair:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        return len(links)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._listener.close()
        self.cut()
