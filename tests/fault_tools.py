"""Measuring helpers for the fault and security tests: RSS watches, bounded waits.

`RssWatch(pid)` samples a process's resident memory in a background thread
and keeps the peak; given `limit_mb` it calls `on_exceed` (by default:
SIGKILL the process) once growth passes the limit, so a test of a memory
bug fails with a clear message instead of taking the machine down.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import psutil

MB = 1024 * 1024
TESTS = Path(__file__).resolve().parent
FAULT_CLIENT = TESTS / "fault_client.py"  # an orchestrator in a process of its own

# Detection bounds of the fault tests (generous; the figures live in bench/hardening.py)
KILLED_BOUND_S = 5.0  # a SIGKILLed server: DESIGN §9 asks for 2 s
HUNG_BOUND_S = 10.0  # a SIGSTOPped server or a cut link: issue 11 asks for 5 s (before the core rebuild: 70 s / 14 s)
WAIT_S = 15.0  # how long a test waits for an error before calling it a hang (> HUNG_BOUND_S)


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid`, in MiB."""
    return psutil.Process(pid).memory_info().rss / MB


class RssWatch:
    """Peak RSS growth of one process while the watch runs (see module docstring)."""

    def __init__(self, pid: int, limit_mb: Optional[float] = None, interval: float = 0.05,
                 on_exceed: Optional[Callable[[], Any]] = None) -> None:
        self.pid = pid
        self.limit_mb = limit_mb
        self.interval = interval
        self.on_exceed = on_exceed or (lambda: _kill(pid))
        self.baseline = rss_mb(pid)
        self.peak = self.baseline
        self.exceeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-watch-{pid}", daemon=True)

    @property
    def growth_mb(self) -> float:
        """Peak RSS minus the RSS when the watch was made."""
        return self.peak - self.baseline

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                now = rss_mb(self.pid)
            except psutil.Error:  # the process is gone
                return
            self.peak = max(self.peak, now)
            if self.limit_mb is not None and not self.exceeded and now - self.baseline > self.limit_mb:
                self.exceeded = True
                self.on_exceed()

    def __enter__(self) -> "RssWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.peak = max(self.peak, rss_mb(self.pid))
        except psutil.Error:
            pass

    def describe(self) -> str:
        """`baseline -> peak (+growth) MiB`, for assertion messages."""
        flag = f" (passed the {self.limit_mb:.0f} MiB guard)" if self.exceeded else ""
        return f"pid {self.pid}: {self.baseline:.0f} -> {self.peak:.0f} MiB (+{self.growth_mb:.0f}){flag}"


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy or `timeout` passes; its last value.

    For what a test can only observe from outside (a file a server writes,
    a process's state); never used where a future or event exists.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)  # polling an external observation, bounded by the deadline


def raises_within(func: Callable[[], Any], timeout: float) -> tuple:
    """Run `func()` (which waits at most `timeout` itself); (exception or None, seconds taken)."""
    start = time.monotonic()
    try:
        func()
    except BaseException as err:  # pylint: disable=broad-except
        return err, time.monotonic() - start
    return None, time.monotonic() - start


def settled(value: Any, timeout: float = 30.0) -> Any:
    """A remote method's value: waited for when the proxy returned a placeholder (AgentScope
    0.1.6: only `reply` and `@async_func` methods do; others return their value)."""
    from agentscope_rpc.rpc import AsyncResult

    return value.result(timeout=timeout) if isinstance(value, AsyncResult) else value


def ready(agent: Any, timeout: float = 60.0) -> Any:
    """Wait until a remote agent exists on its server (its creation may be pipelined behind
    the call that returned the proxy); raw requests on other streams can then find it."""
    assert settled(agent.ping(), timeout) == "pong"
    return agent


def process_state(pid: int) -> str:
    """psutil's status of `pid` ("running", "sleeping", "stopped", ...), or "gone"."""
    try:
        return psutil.Process(pid).status()
    except psutil.Error:
        return "gone"


class SpeechCount:
    """pre_speak / post_speak counters for one proxy; `started` once it spoke `at_least` chunks."""

    def __init__(self, at_least: int = 1) -> None:
        self.chunks = 0
        self.post = 0
        self.at_least = at_least
        self.started = threading.Event()

    def attach(self, agent) -> None:
        agent.register_hook("pre_speak", "count", self._pre)
        agent.register_hook("post_speak", "count", self._post)

    def _pre(self, *_args) -> None:
        self.chunks += 1
        if self.chunks >= self.at_least:
            self.started.set()

    def _post(self, *_args) -> None:
        self.post += 1


def script_env(token: Optional[str] = None) -> dict:
    """Environment for a script or server of ours: the package and tests/ importable, `token` in $TOKEN_ENV."""
    from agentscope_rpc.rpc.codec import TOKEN_ENV

    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS.parent), str(TESTS)])
    if token:
        env[TOKEN_ENV] = token
    return env


def lines_of(proc: subprocess.Popen) -> "queue.Queue[str]":
    """The process's stdout lines (stripped), read by a thread; "EOF" at the end."""
    lines: "queue.Queue[str]" = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("EOF")

    threading.Thread(target=read, daemon=True).start()
    return lines
