"""The benchmark workloads on AgentScope 0.1.6 distributed mode (a peer).

Runs in ``bench/.venvs/agentscope016`` (``python bench/envs.py``):

    bench/.venvs/agentscope016/bin/python bench/peers/agentscope_v0.py WORKLOAD [--quick] [--repeats N]

Prints one ``BENCH_JSON`` line (see ``bench/_common.py``).  AgentScope
0.1.6's own API only: ``AgentBase`` subclasses, ``to_dist=True`` (a server
subprocess per agent) or ``to_dist={"host", "port"}`` on servers started
with its ``RpcAgentServerLauncher`` (``local_mode=True``: bound to
localhost; default capacity, i.e. its 32-thread pool), calls returning its
``AsyncResult`` placeholders, ``.result()`` to wait.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _common as common  # noqa: E402
import agentscope  # noqa: E402
from agentscope.agents import AgentBase  # noqa: E402
from agentscope.message import Msg  # noqa: E402
from agentscope.server import RpcAgentServerLauncher  # noqa: E402

import as016_paper_sim  # noqa: E402  (the paper_sim workload: AgentScope's own example)

KILL_DEADLINE_S = 75.0  # 0.1.6 retries a placeholder fetch 10 times, ~5 s apart
_launchers: list = []


def tiny() -> Msg:
    return Msg("bench", "hi", role="user")


class Echo(AgentBase):
    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, "ok", role="assistant")


class Relay(AgentBase):
    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, x.content if x is not None else None, role="assistant")


class Sleeper(AgentBase):
    def reply(self, x: Optional[Msg] = None) -> Msg:
        time.sleep(float(x.content) if x is not None else common.SLEEP_S)
        return Msg(self.name, "woke", role="assistant")


def launch() -> RpcAgentServerLauncher:
    launcher = RpcAgentServerLauncher(
        host="localhost",
        port=None,
        local_mode=True,
        custom_agent_classes=[Echo, Relay, Sleeper],
    )
    launcher.launch(in_subprocess=True)
    _launchers.append(launcher)
    return launcher


def where(launcher: RpcAgentServerLauncher) -> dict:
    return {"host": "localhost", "port": launcher.port}  # fresh: to_dist pops keys


def stop_all() -> None:
    for launcher in _launchers:
        try:
            if launcher.server is not None and launcher.server.is_alive():
                launcher.server.kill()
                launcher.server.join(5)
        except Exception:  # pylint: disable=broad-except
            pass
    _launchers.clear()


def setup(args: Any) -> None:
    agentscope.init(disable_saving=True, logger_level="ERROR", use_monitor=False)


# -- workloads ---------------------------------------------------------------------------
def launch5(n: int, repeats: int) -> tuple:
    runs = []
    for _ in range(repeats):
        start = common.now()
        agents = [Echo(f"a{i}", to_dist=True) for i in range(n)]
        replies = [agent(tiny()) for agent in agents]
        for reply in replies:
            reply.result()
        runs.append({"wall_s": common.now() - start})
        for agent in agents:
            agent.stop()
    return runs, f"{n} agents with to_dist=True (a server subprocess each)"


def call_latency(n: int, repeats: int) -> tuple:
    agent = Echo("echo", to_dist=where(launch()))
    for _ in range(100):
        agent(tiny()).result()
    runs = []
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            start = common.now()
            agent(tiny()).result()
            samples.append(common.now() - start)
        runs.append(common.latency_stats(samples))
    return runs, f"{n} sequential calls per run (call RPC + placeholder fetch RPC)"


def pipelined(n: int, repeats: int) -> tuple:
    agent = Echo("echo", to_dist=where(launch()))
    [p.result() for p in [agent(tiny()) for _ in range(100)]]
    runs = []
    for _ in range(repeats):
        start = common.now()
        pending = [agent(tiny()) for _ in range(n)]
        for p in pending:
            p.result()
        runs.append({"calls_per_s": n / (common.now() - start)})
    return runs, f"{n} calls issued without waiting (one client thread per call), then all fetched"


def chain2(n: int, repeats: int) -> tuple:
    # both servers first: 0.1.6 closes every client channel before it forks a
    # server, which breaks an agent creation still in flight
    server_a, server_b = launch(), launch()
    a = Echo("a", to_dist=where(server_a))
    b = Relay("b", to_dist=where(server_b))
    for _ in range(30):
        b(a(tiny())).result()
    runs = []
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            start = common.now()
            b(a(tiny())).result()
            samples.append(common.now() - start)
        runs.append(common.latency_stats(samples))
    return runs, "a and b on two servers; b gets a's placeholder and fetches it from a's server"


def fanout200(n: int, repeats: int) -> tuple:
    launcher = launch()
    agents = [Sleeper(f"s{i}", to_dist=where(launcher)) for i in range(n)]
    runs = []
    for _ in range(repeats):
        start = common.now()
        pending = [agent(Msg("bench", str(common.SLEEP_S), role="user")) for agent in agents]
        for p in pending:
            p.result()
        runs.append({"wall_s": common.now() - start})
    return runs, f"{n} agents on one server (default capacity: 32 threads), each reply sleeps {common.SLEEP_S}s"


def create_rate(n: int, repeats: int) -> tuple:
    launcher = launch()
    Echo("warm", to_dist=where(launcher))._check_created()  # pylint: disable=protected-access
    runs = []
    for _ in range(repeats):
        start = common.now()
        agents = [Echo(f"e{i}", to_dist=where(launcher)) for i in range(n)]
        for agent in agents:  # creation runs in a thread per agent; wait until each exists
            agent._check_created()  # pylint: disable=protected-access
        runs.append({"agents_per_s": n / (common.now() - start)})
    return runs, f"{n} agents on one server (0.1.6 creates each in its own client thread)"


def idle_memory(n: int, repeats: int) -> tuple:
    runs = []
    for _ in range(repeats):
        launcher = launch()
        pid = launcher.server.pid
        Echo("warm", to_dist=where(launcher))(tiny()).result()
        time.sleep(0.5)  # let the freshly started server settle before sampling
        before = common.rss_mb(pid)
        agents = [Echo(f"idle{i}", to_dist=where(launcher)) for i in range(n)]
        for agent in agents:
            agent._check_created()  # pylint: disable=protected-access
        time.sleep(0.5)
        after = common.rss_mb(pid)
        runs.append({"kb_per_agent": (after - before) * 1024 / n, "idle_server_mb": before})
        stop_all()
    return runs, f"server RSS before/after {n} idle agents"


def kill_detect(n: int, repeats: int) -> tuple:
    runs = []
    error = "nothing"
    for _ in range(repeats):
        launcher = launch()
        agent = Sleeper("victim", to_dist=where(launcher))
        pending = agent(Msg("bench", "60", role="user"))
        time.sleep(0.3)  # let the call start on the server before killing it
        os.kill(launcher.server.pid, signal.SIGKILL)
        start = common.now()
        outcome: dict = {}

        def wait() -> None:
            try:
                pending.result()
            except Exception as err:  # pylint: disable=broad-except
                outcome["error"] = type(err).__name__
            outcome["t"] = common.now() - start

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        waiter.join(KILL_DEADLINE_S)
        if "t" in outcome:
            runs.append({"detect_s": outcome["t"]})
            error = outcome.get("error", "nothing (it returned)")
        else:
            runs.append({"detect_s": KILL_DEADLINE_S, "timed_out": 1.0})
            error = f"nothing within {KILL_DEADLINE_S:.0f}s"
        stop_all()
    return runs, f"SIGKILL during a pending call; raised {error}"


def sim10k(n: int, repeats: int) -> tuple:
    launchers = [launch() for _ in range(4)]
    runs = []
    for r in range(repeats):
        start = common.now()
        agents = [Echo(f"p{r}_{i}", to_dist=where(launchers[i % 4])) for i in range(n)]
        for agent in agents:
            agent._check_created()  # pylint: disable=protected-access
        created = common.now() - start
        start = common.now()
        pending = [agent(tiny()) for agent in agents]
        for p in pending:
            p.result()
        runs.append({"create_s": created, "round_s": common.now() - start})
    return runs, f"{n} agents over 4 servers; one call each, all issued before any is read"


NA = {"streaming": "AgentScope 0.1.6 never relays an agent's speech to the orchestrator "
                   "(speak() prints in the server process); nothing to measure"}
WORKLOADS = {name: globals()[name] for name in common.WORKLOADS if name not in NA and name not in common.PAPER_SIM}
WORKLOADS.update({name: as016_paper_sim.paper_sim(name, _launchers, stop_all) for name in common.PAPER_SIM})
NA.update({name: "ours alone (1,000,000 participants over 8 agent servers)"
           for name in common.PAPER_SIM if common.paper_sim_plan.BY_NAME[name].ours_only})

if __name__ == "__main__":
    common.main(WORKLOADS, na=NA, setup=setup, teardown=stop_all)
