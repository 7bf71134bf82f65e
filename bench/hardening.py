"""Hardening figures of issue 11: memory under a slow consumer and hostile input, failure detection, a soak.

    PYTHONPATH=. python bench/hardening.py [--only a,b] [--deltas N] [--soak-seconds S] [--quick]

Prints one JSON line per figure (`{"figure": ..., ..., "target": ..., "met": bool}`):

- `slow_consumer`: one remote agent speaks `--deltas` (1,000,000) one-char
  deltas as fast as it can; the orchestrator's pre_speak hook sleeps 2 ms.
  Peak RSS growth of the server and of this process (target <= 64 MB each),
  wall time, hook calls, whether the final text is exact.  A guard SIGKILLs
  the server past `GUARD_MB` or `--deadline` seconds: the figure then says so.
- `tokenless_max_size`: 100 tokenless requests of the server's maximum size
  (32 MiB) per RPC kind, 20 at a time: peak server growth (target <= 50 MB).
- `hung_server`: SIGSTOP during a call: seconds until the pending call and a
  new call raise (target <= 5 s).
- `cut_link`: a server in another network namespace, its link cut while the
  connection is idle: the same two times (target <= 5 s).  Needs root.
- `soak`: `--soak-seconds` (600) of steady calls and streams to 100 agents on
  one server; server and client RSS sampled every `--sample-seconds`, flat
  within 10% after the first tenth (target).

Servers are real subprocesses on loopback (the namespace lab for cut_link);
the agents, RSS watch and namespace lab are the fault suite's own
(tests/fault_agents.py, tests/fault_tools.py, tests/netns.py).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT, TESTS = os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "tests")
sys.path[:0] = [p for p in (ROOT, TESTS) if p not in sys.path]

import raw_wire as raw  # noqa: E402
from agentscope_rpc import runtime  # noqa: E402
from agentscope_rpc.message import Msg  # noqa: E402
from agentscope_rpc.server import RpcAgentServerLauncher  # noqa: E402
from dist_agents import Appender  # noqa: E402
from fault_agents import Flood, RunCounter, letters  # noqa: E402
from fault_tools import FAULT_CLIENT, RssWatch, lines_of, rss_mb, script_env  # noqa: E402
from stream_agents import Streamer  # noqa: E402

GUARD_MB = 2048.0
FIGURES = ["slow_consumer", "tokenless_max_size", "hung_server", "cut_link", "soak"]


def emit(figure: str, **values: Any) -> None:
    sys.stdout.write(json.dumps({"figure": figure, **values}) + "\n")
    sys.stdout.flush()


class Server:
    """A server subprocess on 127.0.0.1 with a fresh token."""

    def __init__(self, **settings: Any) -> None:
        self.token = secrets.token_urlsafe(32)
        self.launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0, token=self.token, **settings)
        self.port = self.launcher.launch(in_subprocess=True)
        self.options = {"host": "127.0.0.1", "port": self.port, "token": self.token}

    @property
    def pid(self) -> int:
        return self.launcher._child.process.pid  # pylint: disable=protected-access

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        self.launcher.shutdown()


def timed_failure(func: Callable[[], Any]) -> dict:
    """Seconds until `func()` raised, and what it raised."""
    start = time.monotonic()
    try:
        func()
        error = None
    except Exception as err:  # pylint: disable=broad-except
        error = type(err).__name__
    return {"error": error, "seconds": round(time.monotonic() - start, 3)}


# -- figures -----------------------------------------------------------------------------
def slow_consumer(args: argparse.Namespace) -> None:
    server = Server()
    try:
        calls, lasts, final = [0], [0], [None]

        def hook(_agent, msg, _stream, last) -> None:
            time.sleep(0.002)  # the slow consumer being measured
            calls[0] += 1
            if last:
                lasts[0] += 1
                final[0] = msg.content

        flood = Flood("flood", args.deltas, to_dist=server.options)
        flood.register_hook("pre_speak", "slow", hook)
        gc.collect()
        kill = lambda: os.kill(server.pid, signal.SIGKILL)  # noqa: E731
        with RssWatch(server.pid, GUARD_MB) as srv, RssWatch(os.getpid(), GUARD_MB, on_exceed=kill) as cli:
            start = time.monotonic()
            error = None
            try:
                reply = flood(None).result(timeout=args.deadline)
            except Exception as err:  # pylint: disable=broad-except
                error, reply = f"{type(err).__name__}: {str(err)[:120]}", None
            seconds = time.monotonic() - start
        exact = reply is not None and reply.content == letters(args.deltas) and final[0] == reply.content
        emit("slow_consumer", deltas=args.deltas, hook_sleep_ms=2, seconds=round(seconds, 1),
             server_growth_mb=round(srv.growth_mb, 1), client_growth_mb=round(cli.growth_mb, 1),
             guard_tripped=srv.exceeded or cli.exceeded, hook_calls=calls[0], lasts=lasts[0], exact=exact,
             error=error, target="<= 64 MB growth each side, exact text",
             met=bool(exact and srv.growth_mb <= 64 and cli.growth_mb <= 64))
    finally:
        server.stop()


def tokenless_max_size(args: argparse.Namespace) -> None:
    size = 32 * 1024 * 1024 - 1024
    body = os.urandom(1024) * (size // 1024)
    for kind, method in (("unary", "GetServerInfo"), ("server_stream", "Call"), ("bidi", "Session")):
        if method not in raw.rpc_methods():
            emit("tokenless_max_size", kind=kind, method=method, skipped="no such RPC")
            continue
        server = Server()
        intruder = raw.Target("127.0.0.1", server.port, None)
        try:
            before = rss_mb(server.pid)
            with RssWatch(server.pid, GUARD_MB * 2) as watch, concurrent.futures.ThreadPoolExecutor(20) as pool:
                outcomes = list(pool.map(lambda _: raw.raw_rpc(intruder, method, [body], timeout=120),
                                         range(args.requests)))
            after = rss_mb(server.pid)
            codes = sorted({o.status.name if o.status else "OK" for o in outcomes})
            emit("tokenless_max_size", kind=kind, method=method, requests=args.requests,
                 body_mib=round(size / 2**20, 2), parallel=20, statuses=codes, server_peak_growth_mb=round(watch.growth_mb, 1),
                 server_growth_after_mb=round(after - before, 1), target="<= 50 MB",
                 met=codes == ["UNAUTHENTICATED"] and watch.growth_mb <= 50)
        finally:
            intruder.close()
            server.stop()


def hung_server(args: argparse.Namespace) -> None:
    server = Server()
    marks = tempfile.mkdtemp(prefix="hardening-")
    try:
        agent = RunCounter("hung", marks, hold=300.0, to_dist=server.options)
        started = threading.Event()
        agent.register_hook("pre_speak", "started", lambda *_: started.set())
        pending = agent(Msg("user", "first"))
        started.wait(30)
        time.sleep(1.0)  # a quiet connection, as when a long reply is computing
        os.kill(server.pid, signal.SIGSTOP)
        first = timed_failure(lambda: pending.result(timeout=args.detect_cap))
        new = timed_failure(lambda: agent(Msg("user", "second")).result(timeout=args.detect_cap))
        emit("hung_server", pending=first, new=new, cap_s=args.detect_cap, target="<= 5 s",
             met=all(r["error"] == "AgentServerNotAliveError" and r["seconds"] <= 5 for r in (first, new)))
    finally:
        server.stop()


def cut_link(args: argparse.Namespace) -> None:
    from netns import NetnsLab, netns_unavailable

    reason = netns_unavailable()
    if reason:
        emit("cut_link", skipped=reason)
        return
    lab = NetnsLab(["orch", "h1"], label="hb")
    work = tempfile.mkdtemp(prefix="hardening-")
    try:
        lab.create()
        token, token_file = secrets.token_urlsafe(32), os.path.join(work, "token")
        with open(token_file, "w", encoding="utf-8") as fh:
            fh.write(token)
        os.chmod(token_file, 0o600)
        server = lab.start_server("h1", 7400, token_file, script_env(), os.path.join(work, "h1.log"))
        client = lab.popen("orch", [sys.executable, str(FAULT_CLIENT), "cut", "--host", server.host, "--port",
                                    str(server.port), "--marker-dir", work, "--wait", str(args.detect_cap)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=script_env(token))
        lines = lines_of(client)
        if lines.get(timeout=60) != "STARTED":
            emit("cut_link", error="the call never started")
            return
        time.sleep(2.0)  # let the connection go quiet: nothing in flight is the slowest case
        lab.set_link("h1", up=False)
        client.stdin.write("go\n")
        client.stdin.flush()
        report = json.loads(lines.get(timeout=2 * args.detect_cap + 30))
        lab.set_link("h1", up=True)
        client.stdin.write("back\n")
        client.stdin.flush()
        after = json.loads(lines.get(timeout=args.detect_cap + 30))
        emit("cut_link", pending=report["pending"], new=report["new"], recovery=after, target="<= 5 s",
             met=all(report[k]["error"] == "AgentServerNotAliveError" and report[k]["seconds"] <= 5
                     for k in ("pending", "new")))
    finally:
        lab.destroy()


def soak(args: argparse.Namespace) -> None:
    server = Server()
    try:
        agents = [Appender(f"a{i}", to_dist=server.options) for i in range(50)]
        agents += [Streamer(f"s{i}", n=20, to_dist=server.options) for i in range(50)]
        chunks = [0]
        for agent in agents[50:]:
            agent.register_hook("pre_speak", "count", lambda *_: chunks.__setitem__(0, chunks[0] + 1))
        samples: list = []
        calls = errors = 0
        start = time.monotonic()
        next_sample = start
        period = 1.0 / args.soak_rate
        while time.monotonic() - start < args.soak_seconds:
            cycle = time.monotonic()
            pending = [agent(Msg("user", "x")) for agent in agents]
            for p in pending:
                try:
                    p.result(timeout=60)
                except Exception:  # pylint: disable=broad-except
                    errors += 1
            calls += len(pending)
            if time.monotonic() >= next_sample:
                gc.collect()
                samples.append((round(time.monotonic() - start, 1), round(rss_mb(server.pid), 1),
                                round(rss_mb(os.getpid()), 1)))
                next_sample += args.sample_seconds
            time.sleep(max(0.0, period - (time.monotonic() - cycle)))  # pacing the load, not coordination
        warm = [s for s in samples if s[0] >= args.soak_seconds / 10] or samples[-1:]
        drift = {}
        for i, side in ((1, "server"), (2, "client")):
            values = [s[i] for s in warm]
            drift[side] = {"first_mb": values[0], "last_mb": values[-1], "min_mb": min(values),
                           "max_mb": max(values), "drift_pct": round(100 * (values[-1] - values[0]) / values[0], 1),
                           "spread_pct": round(100 * (max(values) - min(values)) / min(values), 1)}
        emit("soak", seconds=args.soak_seconds, agents=len(agents), calls=calls, chunks=chunks[0], errors=errors,
             calls_per_s=round(calls / args.soak_seconds, 1), rss=drift, samples=samples,
             target="RSS flat within 10% after the first tenth",
             met=errors == 0 and all(abs(d["drift_pct"]) <= 10 and d["spread_pct"] <= 10 for d in drift.values()))
    finally:
        server.stop()


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", default="", help="comma-separated figures: " + ",".join(FIGURES))
    parser.add_argument("--deltas", type=int, default=1_000_000, help="slow_consumer: deltas spoken")
    parser.add_argument("--deadline", type=float, default=600.0, help="slow_consumer: longest wait, seconds")
    parser.add_argument("--requests", type=int, default=100, help="tokenless_max_size: requests per RPC kind")
    parser.add_argument("--detect-cap", type=float, default=120.0, help="hung_server/cut_link: longest wait")
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="soak: how long")
    parser.add_argument("--soak-rate", type=float, default=5.0, help="soak: rounds of 100 calls per second")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="soak: RSS sampling period")
    parser.add_argument("--quick", action="store_true", help="small sizes: 100k deltas, 20 requests, 60 s soak")
    args = parser.parse_args(argv)
    if args.quick:
        args.deltas, args.requests = min(args.deltas, 100_000), min(args.requests, 20)
        args.soak_seconds, args.sample_seconds = min(args.soak_seconds, 60.0), min(args.sample_seconds, 5.0)
    runtime.default().set_printer(None)
    chosen = [f for f in args.only.split(",") if f] or FIGURES
    for name in chosen:
        if name not in FIGURES:
            parser.error(f"unknown figure {name!r}; one of {', '.join(FIGURES)}")
    for name in chosen:
        try:
            globals()[name](args)
        except Exception as err:  # pylint: disable=broad-except
            emit(name, error=f"{type(err).__name__}: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
