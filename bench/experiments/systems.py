"""The systems compared, and the worker process that drives one of them.

    PYTHONPATH=. python -m bench.experiments.systems SYSTEM

A worker sets its system up (its own server subprocess, an agent), prints
``READY {json}`` and then answers one JSON command per stdin line with one
JSON line on stdout (``latency.py`` is the coordinator):

* ``{"op": "block", "n": N, "warm": W}`` -> W untimed then N timed sequential
  calls: ``{"samples_us": [...], "cpu_client_s": .., "cpu_server_s": ..}``
* ``{"op": "pipelined", "n": N}`` -> N calls issued, then all awaited: ``{"calls_per_s": ..}``
* ``{"op": "sleepers", "n": N, "s": S}`` -> N agents on one server each
  sleeping S s in a blocking reply, all called at once: ``{"wall_s": ..}``
* ``{"op": "burst", "n": N}`` (floors) -> one server stream of N small
  messages: ``{"msgs_per_s": ..}``
* ``{"op": "quit"}``

Every call is a tiny `Msg` to an agent that replies at once (`Echo` of
bench/workloads_ours.py, the `call_latency` workload's agent).
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import time
from typing import Any, Callable, Optional

import psutil

from agentscope_rpc import runtime
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import codec

from bench import workloads_ours as ours
from bench.experiments import _procs, floors
from bench.experiments.direct_session import DirectAgent, DirectSession
from bench.experiments.sync_client import UnaryClient

RESULT_TIMEOUT_S = 30.0  # a tiny call that takes longer than this is a failure
SLEEPERS_TIMEOUT_S = 120.0


class System:
    """One system under test: `setup`, then `one()` per sequential call."""

    label = ""
    server_pids: list = []

    def setup(self) -> None:
        """Start its server and make its agent."""

    def one(self) -> None:
        """One sequential call, returning once the value is in this thread."""
        raise NotImplementedError

    def block(self, n: int) -> list:
        """`n` timed sequential calls (seconds each)."""
        samples = []
        one, clock = self.one, time.perf_counter
        for _ in range(n):
            start = clock()
            one()
            samples.append(clock() - start)
        return samples

    def pipelined(self, n: int) -> float:
        """Calls per second: `n` calls issued without waiting, then all awaited."""
        raise NotImplementedError

    def sleepers(self, n: int, seconds: float) -> float:
        """Wall time of `n` agents on one server each sleeping `seconds` in reply, called at once."""
        raise NotImplementedError

    def burst(self, n: int) -> float:
        """Messages per second of one server stream of `n` small messages (floors only)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop what `setup` started."""


def _all_done(placeholders: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for placeholder in placeholders:
        placeholder.result(timeout=max(0.0, deadline - time.monotonic()))


class Today(System):
    """Today's runtime, exactly as the `call_latency` workload drives it."""

    label = "today's runtime (bench call_latency)"

    def setup(self) -> None:
        runtime.default().set_printer(None)
        self.where = self.start_server()
        self.agent = ours.Echo("echo", to_dist=self.where)
        self._sleepers: list = []

    def start_server(self) -> dict:
        """The server's to_dist options."""
        where = ours.launch()
        self.server_pids = [ours.server_pid(ours._launchers[-1])]  # pylint: disable=protected-access
        return where

    def one(self) -> None:
        self.agent(ours.TINY).result(timeout=10)

    def pipelined(self, n: int) -> float:
        start = time.perf_counter()
        _all_done([self.agent(ours.TINY) for _ in range(n)], RESULT_TIMEOUT_S * 4)
        return n / (time.perf_counter() - start)

    def sleepers(self, n: int, seconds: float) -> float:
        if len(self._sleepers) < n:
            self._sleepers += [ours.Sleeper(f"s{i}", to_dist=self.where) for i in range(len(self._sleepers), n)]
            _all_done([s(Msg("bench", 0)) for s in self._sleepers], SLEEPERS_TIMEOUT_S)
        start = time.perf_counter()
        _all_done([s(Msg("bench", seconds)) for s in self._sleepers[:n]], SLEEPERS_TIMEOUT_S)
        return time.perf_counter() - start

    def close(self) -> None:
        ours.stop_all()


class BSyncServer(Today):
    """Today's client (the runtime, unchanged) on (b)'s sync server, through its Session stream."""

    label = "(b) sync session server, today's client"

    def start_server(self) -> dict:
        token = secrets.token_urlsafe(16)
        self.proc, port = _procs.spawn_server("bench.experiments.sync_server", [], {codec.TOKEN_ENV: token})
        self.server_pids = [self.proc.pid]
        return {"host": "127.0.0.1", "port": port, "token": token}

    def close(self) -> None:
        _procs.stop(self.proc)


class _Prototype(System):
    """A prototype client (`make_client`) against a server (`start_server`)."""

    def start_server(self) -> codec.Endpoint:
        raise NotImplementedError

    def make_client(self, endpoint: codec.Endpoint) -> Any:
        raise NotImplementedError

    def setup(self) -> None:
        self.client = self.make_client(self.start_server())
        self.agent = DirectAgent(self.client, self.client.create(ours.Echo, "echo"))
        self._sleepers: list = []

    def one(self) -> None:
        self.agent(ours.TINY).result(timeout=RESULT_TIMEOUT_S)

    def pipelined(self, n: int) -> float:
        start = time.perf_counter()
        _all_done([self.agent(ours.TINY) for _ in range(n)], RESULT_TIMEOUT_S * 4)
        return n / (time.perf_counter() - start)

    def sleepers(self, n: int, seconds: float) -> float:
        while len(self._sleepers) < n:
            self._sleepers.append(DirectAgent(self.client, self.client.create(ours.Sleeper, f"s{len(self._sleepers)}")))
        _all_done([s(Msg("bench", 0)) for s in self._sleepers], SLEEPERS_TIMEOUT_S)
        start = time.perf_counter()
        _all_done([s(Msg("bench", seconds)) for s in self._sleepers[:n]], SLEEPERS_TIMEOUT_S)
        return time.perf_counter() - start


class _OnTodaysServer(_Prototype):
    def start_server(self) -> codec.Endpoint:
        where = ours.launch()
        self.server_pids = [ours.server_pid(ours._launchers[-1])]  # pylint: disable=protected-access
        return codec.Endpoint(where["host"], where["port"], where["token"])

    def close(self) -> None:
        self.client.close()
        ours.stop_all()


class _OnSyncServer(_Prototype):
    server_env: dict = {}

    def start_server(self) -> codec.Endpoint:
        token = secrets.token_urlsafe(16)
        self.proc, port = _procs.spawn_server("bench.experiments.sync_server", [],
                                              {codec.TOKEN_ENV: token, **self.server_env})
        self.server_pids = [self.proc.pid]
        return codec.Endpoint("127.0.0.1", port, token)

    def close(self) -> None:
        self.client.close()
        _procs.stop(self.proc)


class ADirect(_OnTodaysServer):
    """(a): the user thread writes into the session; today's server."""

    label = "(a) direct write, today's server"

    def make_client(self, endpoint: codec.Endpoint) -> Any:
        return DirectSession(endpoint)


class BSyncUnary(_OnSyncServer):
    """(b): sync server, handler thread runs the step; sync unary futures."""

    label = "(b) sync stack: unary futures, inline step"

    def make_client(self, endpoint: codec.Endpoint) -> Any:
        return UnaryClient(endpoint)


class ABSyncSession(_OnSyncServer):
    """(a)'s client on (b)'s server: one session stream, inline step, no event loop anywhere."""

    label = "(a)+(b) direct write, sync session server"

    def make_client(self, endpoint: codec.Endpoint) -> Any:
        return DirectSession(endpoint)


class ABNoHandOff(ABSyncSession):
    """Diagnostic: as ab_sync_session, but the reader runs the step before a follower may read."""

    label = "diagnostic: ab without the reader hand-off (unsafe)"
    server_env = {"SYNC_SERVER_MODE": "no-hand-off"}


class ABSingleThread(ABSyncSession):
    """Diagnostic: as ab_sync_session, but one server thread reads, runs every step and writes."""

    label = "diagnostic: ab, one server thread per session (unsafe)"
    server_env = {"SYNC_SERVER_MODE": "single-thread"}


class _Floor(System):
    mode = ""

    def setup(self) -> None:
        self.proc, port = _procs.spawn_server("bench.experiments.floors", [self.mode])
        self.server_pids = [self.proc.pid]
        self.client = self.make(port)
        self.block(1)

    def make(self, port: int) -> Any:
        raise NotImplementedError

    def one(self) -> None:
        self.client.one()

    def burst(self, n: int) -> float:
        return self.client.burst(n)

    def close(self) -> None:
        self.client.close()
        _procs.stop(self.proc)


class FloorAio(_Floor):
    """A bare grpc.aio round trip on an open stream, timed inside the loop."""

    label = "floor: grpc.aio stream round trip (in-loop)"
    mode = "serve-aio"

    def make(self, port: int) -> Any:
        return floors.AioStreamFloor(port)

    def block(self, n: int) -> list:
        return self.client.block(n)


class FloorSyncStream(_Floor):
    """A bare sync-stack round trip on an open stream."""

    label = "floor: sync stream round trip"
    mode = "serve-sync"

    def make(self, port: int) -> Any:
        return floors.SyncStreamFloor(port)


class FloorSyncUnary(_Floor):
    """A bare blocking sync unary round trip."""

    label = "floor: sync unary round trip (blocking)"
    mode = "serve-sync"

    def make(self, port: int) -> Any:
        return floors.SyncUnaryFloor(port)


SYSTEMS: dict[str, Callable[[], System]] = {
    "today": Today,
    "a_direct": ADirect,
    "b_sync_server": BSyncServer,
    "ab_sync_session": ABSyncSession,
    "b_sync_unary": BSyncUnary,
    "ab_no_hand_off": ABNoHandOff,
    "ab_single_thread": ABSingleThread,
    "floor_aio": FloorAio,
    "floor_sync_stream": FloorSyncStream,
    "floor_sync_unary": FloorSyncUnary,
}


def _cpu(pids: list) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def answer(system: System, command: dict) -> Optional[dict]:
    """Run one coordinator command; None for quit."""
    op = command["op"]
    if op == "block":
        system.block(int(command.get("warm", 0)))
        cpu0, srv0 = time.process_time(), _cpu(system.server_pids)
        samples = system.block(int(command["n"]))
        return {"samples_us": [round(x * 1e6, 1) for x in samples], "cpu_client_s": time.process_time() - cpu0,
                "cpu_server_s": _cpu(system.server_pids) - srv0}
    if op == "pipelined":
        return {"calls_per_s": system.pipelined(int(command["n"]))}
    if op == "sleepers":
        return {"wall_s": system.sleepers(int(command["n"]), float(command["s"]))}
    if op == "burst":
        return {"msgs_per_s": system.burst(int(command["n"]))}
    if op == "quit":
        return None
    raise ValueError(f"unknown command {op!r}")


def main(argv: list) -> int:
    """Worker: set the system up, then answer commands (module docstring)."""
    if len(argv) != 1 or argv[0] not in SYSTEMS:
        sys.stderr.write(f"usage: python -m bench.experiments.systems {{{','.join(SYSTEMS)}}}\n")
        return 2
    out = sys.stdout
    sys.stdout = sys.stderr  # only our JSON lines on the real stdout
    system = SYSTEMS[argv[0]]()
    try:
        system.setup()
        system.block(200)  # warm up, as call_latency does
        out.write("READY " + json.dumps({"pid": os.getpid(), "server_pids": system.server_pids}) + "\n")
        out.flush()
        for line in sys.stdin:
            try:
                reply = answer(system, json.loads(line))
            except Exception as err:  # pylint: disable=broad-except
                reply = {"error": f"{type(err).__name__}: {err}"}
            if reply is None:
                break
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        system.close()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # don't wait on runtime threads at exit (servers are stopped above)
