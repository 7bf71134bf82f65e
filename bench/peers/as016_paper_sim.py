"""`paper_sim` on AgentScope 0.1.6: its own large-scale simulation example, benchmarked.

Imported by ``bench/peers/agentscope_v0.py`` (in the AgentScope 0.1.6
virtualenv).  The classes follow examples/paper_large_scale_simulation/
participants.py of AgentScope 0.1.6: `RandomParticipant(AgentBase)`,
`Group(BasicEnv)` with `@async_func run(round, winner)` that builds its
participants with `to_dist` (with the example's retry strategies) and fans
each round out to them, and `GuessTwoThirdGame(BasicEnv)` in the
orchestrator that builds the groups with `to_dist` on the environment
server(s).  Servers: `RpcAgentServerLauncher(..., max_pool_size=16384,
custom_agent_classes=[...])` as the example's `main.py` starts them
(default capacity: 32 threads), all launched before anything is created
(0.1.6 closes client channels when it forks a server).

Deviations, the same on our side: the groups compute their participants'
names and servers from (servers, first, count) with the example's
placement formula instead of receiving a list of per-participant configs;
a group reads an answer as `float(r.content)` (the example's
`r["content"]` raises TypeError in 0.1.6 — its Msg is not subscriptable —
and the content arrives as a str, so the example's `except` would drop
every answer); the participants do not `log_msg` every answer (file logging is not what
is measured); a `ready()` sync method per group waits for its
participants' background creation so that init and the first round are
timed apart; the game runs `rounds` rounds and nothing is saved.
"""
from __future__ import annotations

import os
import random
import threading
import time
from typing import Any, Callable, Optional

from agentscope.agents import AgentBase
from agentscope.environment import BasicEnv
from agentscope.message import Msg
from agentscope.rpc import async_func
from agentscope.server import RpcAgentServerLauncher

import _common as common
import paper_sim_plan as plan


class RandomParticipant(AgentBase):
    """A fake participant who generates a number randomly (the example's)."""

    def __init__(self, name: str, max_value: int = 100, sleep_time: float = 1.0, **kwargs: Any) -> None:
        super().__init__(name=name)
        self.max_value = max_value
        self.sleep_time = sleep_time
        self.round = 0

    def reply(self, x: dict = None) -> Msg:
        self.round += 1
        time.sleep(self.sleep_time)
        return Msg(name=self.name, role="assistant", content=random.randint(0, self.max_value))


class Group(BasicEnv):
    """A group of participants (the example's, random participants only)."""

    def __init__(self, name: str, servers: list, first: int, count: int, n: int,
                 max_value: int = 100, sleep_time: float = 1.0, **kwargs: Any) -> None:
        super().__init__(name=name)
        per_server = -(-n // len(servers))
        self.participants = [
            RandomParticipant(
                name=f"P{i}",
                max_value=max_value,
                sleep_time=sleep_time,
                to_dist={
                    **servers[i // per_server],
                    "retry_strategy": {"type": "fixed", "max_retries": 20, "delay": 2},
                },
            )
            for i in range(first, first + count)
        ]
        self.max_value = max_value

    def ready(self) -> int:
        """Wait until every participant of the group was created."""
        for p in self.participants:
            p._check_created()  # pylint: disable=protected-access
        return len(self.participants)

    @async_func
    def run(self, round: int, winner: float) -> dict:  # pylint: disable=redefined-builtin
        """Play one round of game in this group."""
        ask = "Directly report your number without additional information."
        content = ask if round == 0 else (
            f"The winner number of this round is {winner:.2f}. Let's move on to the next round.\n{ask}")
        msg = Msg(name="group", role="user", content=content)
        result = [p(msg) for p in self.participants]
        total, count = 0, 0
        for r in result:
            try:
                v = float(r.content)
            except (TypeError, ValueError):
                continue
            if 0 <= v <= self.max_value:
                total += v
                count += 1
        return {"sum": total, "cnt": count}


class GuessTwoThirdGame(BasicEnv):
    """The game, in the orchestrator; its groups live on the environment servers."""

    def __init__(self, name: str, case: Any, agent_servers: list, env_servers: list) -> None:
        super().__init__(name)
        self.case = case
        self.envs = [
            Group(
                name=f"group_{g}",
                servers=agent_servers,
                first=first,
                count=count,
                n=case.n,
                max_value=plan.MAX_VALUE,
                sleep_time=case.sleep,
                to_dist={
                    **env_servers[g % len(env_servers)],
                    "retry_strategy": {"type": "fixed", "max_retries": 100, "delay": 1},
                },
            )
            for g, (first, count) in enumerate(plan.group_slices(case))
        ]

    def ready(self) -> None:
        counts = [g.ready() for g in self.envs]
        if sum(counts) != self.case.n:
            raise RuntimeError(f"{sum(counts)} of {self.case.n} participants were created")

    def step(self, round_no: int, winner: float) -> tuple:
        tasks = [g.run(round_no, winner) for g in self.envs]
        total, count = 0, 0
        for t in tasks:
            total += t["sum"]
            count += t["cnt"]
        return total, count


def launch_server() -> RpcAgentServerLauncher:
    """An agent server as the example's main.py starts one (in a forked subprocess)."""
    launcher = RpcAgentServerLauncher(
        host="localhost",
        port=None,
        local_mode=True,
        max_pool_size=16384,
        custom_agent_classes=[RandomParticipant, Group],
    )
    launcher.launch(in_subprocess=True)
    return launcher


def paper_sim(case_name: str, launched: list, stop_all: Callable[[], None]) -> Callable:
    """The workload function of one case; a game run that misses the plan's deadline makes it n/a."""

    def run(n: int, repeats: int) -> tuple:
        case = plan.case_for(case_name, n)
        progress = {"last": "nothing yet"}

        def note(message: str) -> None:
            progress["last"] = message
            common.note(message)

        def expire() -> None:
            common.emit({"na": f"did not finish within {plan.PEER_DEADLINE_S:.0f} s "
                               f"(last reached: {progress['last']})"})
            stop_all()
            os._exit(0)

        runs = []
        for _ in range(min(repeats, case.repeats)):
            watchdog = threading.Timer(plan.PEER_DEADLINE_S, expire)  # per game run
            watchdog.daemon = True
            watchdog.start()
            agents = [launch_server() for _ in range(case.agent_servers)]
            envs = [launch_server() for _ in range(case.env_servers)]
            launched.extend(agents + envs)
            where = [{"host": "localhost", "port": s.port} for s in agents]
            env_where = [{"host": "localhost", "port": s.port} for s in envs]
            note(f"{case.n} participants, sleep {case.sleep:g}s, {case.agent_servers} agent servers, "
                 f"{case.env_servers} environment server(s)")
            runs.append(plan.play(
                case,
                build=lambda: GuessTwoThirdGame("paper_sim", case, where, env_where),
                ready=lambda game: game.ready(),
                step=lambda game, r, w: game.step(r, w),
                note=note,
            ))
            watchdog.cancel()
            stop_all()
        return runs, (f"{case.n:,} random participants (sleep {case.sleep:g}s) on {case.agent_servers} agent "
                      f"servers, {case.groups} Group env(s) on {case.env_servers} environment server(s); the "
                      f"example's structure; default capacity (32 threads per server), max_pool_size=16384; "
                      f"init = until every participant is created (0.1.6 creates in background threads)")

    return run


def stopper(launched: list) -> Callable[[], None]:
    """Kill every server in `launched` (0.1.6's shutdown waits on the server's threads)."""

    def stop_all() -> None:
        for launcher in launched:
            server: Optional[Any] = getattr(launcher, "server", None)
            try:
                if server is not None and server.is_alive():
                    server.kill()
                    server.join(5)
            except Exception:  # pylint: disable=broad-except
                pass
        launched.clear()

    return stop_all
