"""The benchmark workloads on agentscope-rpc (this project).

    PYTHONPATH=. python bench/workloads_ours.py WORKLOAD [--quick] [--repeats N]

Prints one ``BENCH_JSON`` line (see ``bench/_common.py``).  Servers are real
agent-server subprocesses on loopback: child mode (``to_dist=True``) where
the workload says so, otherwise launched ones (``RpcAgentServerLauncher``)
that agents join with ``to_dist={"host", "port", "token"}``.
"""
from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(HERE),) if p not in sys.path]

from bench import _common as common  # noqa: E402
from agentscope_rpc import runtime, speech  # noqa: E402
from agentscope_rpc.agents import AgentBase  # noqa: E402
from agentscope_rpc.message import Msg  # noqa: E402
from agentscope_rpc.rpc import wait_ready  # noqa: E402
from agentscope_rpc.server import RpcAgentServerLauncher  # noqa: E402

TINY = Msg("bench", "hi", role="user")
_launchers: list = []


class Echo(AgentBase):
    """Replies at once with a tiny message."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, "ok")


class Relay(AgentBase):
    """Replies with the content of what it received (reads the value)."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, x.content if x is not None else None)


class Sleeper(AgentBase):
    """Sleeps `x.content` seconds (default 1) in a blocking reply."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        time.sleep(float(x.content) if x is not None else common.SLEEP_S)
        return Msg(self.name, "woke")


def launch() -> dict:
    """A fresh agent server subprocess; returns its to_dist options."""
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0, token=token)
    port = launcher.launch(in_subprocess=True)
    _launchers.append(launcher)
    return {"host": "127.0.0.1", "port": port, "token": token}


def server_pid(launcher: RpcAgentServerLauncher) -> int:
    return launcher._child.process.pid  # pylint: disable=protected-access


def stop_all() -> None:
    for launcher in _launchers:
        launcher.shutdown()
    _launchers.clear()


# -- workloads ---------------------------------------------------------------------------
def launch5(n: int, repeats: int) -> tuple:
    runs = []
    for _ in range(repeats):
        start = common.now()
        agents = [Echo(f"a{i}", to_dist=True) for i in range(n)]
        replies = [agent(TINY) for agent in agents]
        for reply in replies:
            reply.result(timeout=60)
        runs.append({"wall_s": common.now() - start})
        for agent in agents:
            agent.stop_server()
    return runs, f"{n} agents, each in its own child-mode server, created one after another"


def call_latency(n: int, repeats: int) -> tuple:
    agent = Echo("echo", to_dist=launch())
    for _ in range(200):
        agent(TINY).result(timeout=10)
    runs = []
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            start = common.now()
            agent(TINY).result(timeout=10)
            samples.append(common.now() - start)
        runs.append(common.latency_stats(samples))
    return runs, f"{n} sequential calls per run, tiny Msg"


def pipelined(n: int, repeats: int) -> tuple:
    agent = Echo("echo", to_dist=launch())
    [p.result(timeout=30) for p in [agent(TINY) for _ in range(200)]]
    runs = []
    for _ in range(repeats):
        start = common.now()
        pending = [agent(TINY) for _ in range(n)]
        for p in pending:
            p.result(timeout=120)
        runs.append({"calls_per_s": n / (common.now() - start)})
    return runs, f"{n} calls issued without waiting, then all awaited"


def chain2(n: int, repeats: int) -> tuple:
    a = Echo("a", to_dist=launch())
    b = Relay("b", to_dist=launch())
    for _ in range(50):
        b(a(TINY)).result(timeout=10)
    runs = []
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            start = common.now()
            b(a(TINY)).result(timeout=10)
            samples.append(common.now() - start)
        runs.append(common.latency_stats(samples))
    return runs, "a and b on two servers; b gets a's placeholder and fetches it server-to-server"


def fanout200(n: int, repeats: int) -> tuple:
    where = launch()
    agents = [Sleeper(f"s{i}", to_dist=where) for i in range(n)]
    runs = []
    for _ in range(repeats):
        start = common.now()
        pending = [agent(Msg("bench", common.SLEEP_S)) for agent in agents]
        for p in pending:
            p.result(timeout=120)
        runs.append({"wall_s": common.now() - start})
    return runs, f"{n} agents on one server, each reply time.sleep({common.SLEEP_S})"


def create_rate(n: int, repeats: int) -> tuple:
    where = launch()
    Echo("warm", to_dist=where)
    runs = []
    for _ in range(repeats):
        start = common.now()
        agents = [Echo(f"e{i}", to_dist=where) for i in range(n)]
        wait_ready(*agents)  # creation is pipelined: count only agents the server has built
        runs.append({"agents_per_s": n / (common.now() - start)})
    return runs, f"{n} agents created one after another on one server, until every one is built"


def streaming(n: int, repeats: int) -> tuple:
    from bench.bench_streaming import run_streaming_bench

    runs = []
    for _ in range(repeats):
        result = run_streaming_bench(n_chunks=n, repeats=100)
        runs.append({
            "chunks_per_s": result["one_message"]["chunks_per_s"],
            "first_chunk_ms": result["first_chunk_ms"]["p50"],
            "first_chunk_p99_ms": result["first_chunk_ms"]["p99"],
            "none_lost": float(result["one_message"]["none_lost"]),
        })
    return runs, f"bench_streaming: one message of {n} one-character deltas, relayed to the orchestrator"


def idle_memory(n: int, repeats: int) -> tuple:
    runs = []
    for _ in range(repeats):
        where = launch()
        pid = server_pid(_launchers[-1])
        warm = Echo("warm", to_dist=where)
        warm(TINY).result(timeout=10)
        time.sleep(0.5)  # let the freshly started server settle before sampling
        before = common.rss_mb(pid)
        agents = [Echo(f"idle{i}", to_dist=where) for i in range(n)]
        time.sleep(0.5)
        after = common.rss_mb(pid)
        runs.append({"kb_per_agent": (after - before) * 1024 / n, "idle_server_mb": before})
        del agents
        stop_all()
    return runs, f"server RSS before/after {n} idle agents (Echo, with memory)"


def kill_detect(n: int, repeats: int) -> tuple:
    runs = []
    for _ in range(repeats):
        where = launch()
        agent = Sleeper("victim", to_dist=where)
        pending = agent(Msg("bench", 60))
        time.sleep(0.3)  # let the call start on the server before killing it
        os.kill(server_pid(_launchers[-1]), signal.SIGKILL)
        start = common.now()
        error = "nothing (timed out)"
        try:
            pending.result(timeout=common.DETECT_DEADLINE_S)
            detect = float("nan")
        except Exception as err:  # pylint: disable=broad-except
            detect = common.now() - start
            error = type(err).__name__
        runs.append({"detect_s": detect})
        stop_all()
    return runs, f"SIGKILL during a pending call; raised {error}"


def sim10k(n: int, repeats: int) -> tuple:
    servers = [launch() for _ in range(4)]
    runs = []
    for r in range(repeats):
        start = common.now()
        agents = [Echo(f"p{r}_{i}", to_dist=servers[i % 4]) for i in range(n)]
        created = common.now() - start
        start = common.now()
        pending = [agent(TINY) for agent in agents]
        for p in pending:
            p.result(timeout=300)
        runs.append({"create_s": created, "round_s": common.now() - start})
        for agent in agents:
            agent.delete()
    return runs, f"{n} agents over 4 servers, created one after another; one call each, all pending at once"


def paper_sim(case_name: str) -> Any:
    """The workload function of one paper_sim case (see bench/paper_sim.py)."""
    def run(n: int, repeats: int) -> tuple:
        from bench import paper_sim as game
        from bench.paper_sim_plan import case_for

        case = case_for(case_name, n)
        kind = common.ARGS.paper_group if common.ARGS is not None else "env"
        runs = []
        for _ in range(min(repeats, case.repeats)):
            runs.append(game.run_case(case, launch, common.note, group_kind=kind))
            stop_all()
        return runs, (f"{case.n:,} random participants (sleep {case.sleep:g}s) on {case.agent_servers} agent servers, "
                      f"{case.groups} group {'env' if kind == 'env' else 'agent'}(s) on {case.env_servers} "
                      f"environment server(s) creating them; {case.rounds} rounds; init = until every participant "
                      f"is ready; RSS = orchestrator + all servers")

    return run


WORKLOADS = {name: globals()[name] for name in common.WORKLOADS if name not in common.PAPER_SIM}
WORKLOADS.update({name: paper_sim(name) for name in common.PAPER_SIM})

if __name__ == "__main__":
    runtime.default().set_printer(None)
    common.main(WORKLOADS, teardown=stop_all)
