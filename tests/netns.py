"""A small lab of network namespaces that stand in for separate machines.

    lab = NetnsLab(["orch", "h1", "h2", "h3"])   # 10.231.0.1, .2, .3, .4
    lab.create()
    server = lab.start_server("h1", port=7100, token_file=path, env=env)
    lab.run("orch", [...])
    lab.set_link("h1", up=False)                 # cut h1 off (its veth port on the switch down)
    lab.destroy()                                # always: processes, then namespaces

Every node namespace has one veth whose peer sits in a private "switch"
namespace, enslaved to a bridge there; nodes reach each other on the test
subnet and nothing else (no link to the root namespace, no route out).
Namespace names carry this process's pid (and an optional `label`), so
parallel runs, and two labs of one process, do not collide.
Needs root and iproute2 (`ip`); `netns_unavailable()` says why not, for a skip.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator, Optional

import pytest

from agentscope_rpc.server.child import wait_ready

SUBNET = "10.231.0"
READY_TIMEOUT_S = 60.0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def netns_unavailable() -> Optional[str]:
    """Why namespaces cannot be used here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is missing; `make sysdeps` installs it"
    probe = f"wwprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        bridge = _ip("-n", probe, "link", "add", "br0", "type", "bridge", check=False)
        if bridge.returncode != 0:
            return f"cannot create a bridge in a namespace: {bridge.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


@dataclass
class ServerProcess:
    """An agent server running inside a node namespace."""

    node: str
    host: str
    port: int
    process: subprocess.Popen

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


class NetnsLab:
    """Node namespaces on one bridged test subnet (see module docstring)."""

    def __init__(self, nodes: list, subnet: str = SUBNET, label: str = "") -> None:
        self.tag = f"ww{os.getpid()}"
        self.prefix = f"{self.tag}-{label}"
        self.switch = f"{self.prefix}sw"
        self.nodes = list(nodes)
        self.addresses = {node: f"{subnet}.{i + 1}" for i, node in enumerate(self.nodes)}
        self.namespaces: list = []
        self.processes: list = []

    def ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def create(self) -> None:
        sweep_stale_labs()
        self._add_ns(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i, node in enumerate(self.nodes):
            ns, port = self._add_ns(self.ns(node)), f"p{i}"
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.addresses[node]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def set_link(self, node: str, up: bool) -> None:
        """Cut (`up=False`) or restore `node`'s only link: its veth port on the switch."""
        _ip("-n", self.switch, "link", "set", f"p{self.nodes.index(node)}", "up" if up else "down")

    def _add_ns(self, name: str) -> str:
        _ip("netns", "add", name)
        self.namespaces.append(name)
        return name

    def command(self, node: str, argv: list) -> list:
        return ["ip", "netns", "exec", self.ns(node), *argv]

    def popen(self, node: str, argv: list, **kwargs: object) -> subprocess.Popen:
        proc = subprocess.Popen(self.command(node, argv), **kwargs)  # pylint: disable=consider-using-with
        self.processes.append(proc)
        return proc

    def start_server(self, node: str, port: int, token_file: str, env: dict, log_path: str) -> ServerProcess:
        """`python -m agentscope_rpc.server start` inside `node`; returns once it serves."""
        host = self.addresses[node]
        read_fd, write_fd = os.pipe()
        argv = [sys.executable, "-m", "agentscope_rpc.server", "start", "--host", host, "--port", str(port),
                "--token-file", token_file, "--ready-fd", str(write_fd), "--watch-stdin"]
        with open(log_path, "ab") as log:
            try:
                proc = self.popen(node, argv, stdin=subprocess.PIPE, stdout=log, stderr=log,
                                  pass_fds=(write_fd,), env=env)
            finally:
                os.close(write_fd)
        try:
            wait_ready(read_fd, proc, READY_TIMEOUT_S)
        finally:
            os.close(read_fd)
        return ServerProcess(node, host, port, proc)

    def destroy(self) -> None:
        """Stop what we started (by pid), then delete the namespaces."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for name in reversed(self.namespaces):
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                try:  # a process started in our namespace by one we started
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", name, check=False)
        self.namespaces.clear()


def sweep_stale_labs() -> None:
    """Delete namespaces left by earlier runs that were killed before teardown."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        tag = name.split("-", 1)[0]
        if not (tag.startswith("ww") and tag[2:].isdigit()) or int(tag[2:]) == os.getpid():
            continue
        if not os.path.exists(f"/proc/{int(tag[2:])}"):  # its owner is gone
            _ip("netns", "del", name, check=False)


def started_lab(nodes: list, label: str = "") -> Iterator[NetnsLab]:
    """Body of a lab fixture: the lab, created, then destroyed (the test skips where namespaces are unavailable)."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    lab = NetnsLab(nodes, label=label)
    try:
        lab.create()
        yield lab
    finally:
        lab.destroy()
