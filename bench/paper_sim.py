"""`paper_sim` on agentscope-rpc: the guess-2/3 game structured like the paper.

Public API only: `agentscope_rpc.environment` (the group and game envs),
`to_dist=` (groups onto the environment server, participants onto the agent
servers, from inside the groups), `async_func` and placeholders.  The
structure is AgentScope 0.1.6's example (examples/paper_large_scale_simulation,
participants.py): `GuessTwoThirdGame(BasicEnv)` in the orchestrator builds
`Group(BasicEnv)` objects with `to_dist`; each group builds its
`RandomParticipant`s with `to_dist` and fans every round out to them in
its `@async_func run(round, winner)`.

`group_kind="agent"` builds the groups as agents instead (`reply` plays the
round): for a core that cannot host environments yet (the baseline).
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable, Optional

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.environment import BasicEnv
from agentscope_rpc.message import Msg

try:  # the core's v0 method rules (issue 9, item 2)
    from agentscope_rpc.rpc import async_func
except ImportError:  # a core that hosts agents only
    async_func = None

try:
    from bench import paper_sim_plan as plan
except ImportError:  # shipped by value to a server that cannot import bench/
    plan = None  # type: ignore[assignment]


class RandomParticipant(AgentBase):
    """A participant that sleeps `sleep_time`, then reports a random integer."""

    def __init__(self, name: str, max_value: int = 100, sleep_time: float = 1.0) -> None:
        super().__init__(name=name)
        self.max_value = max_value
        self.sleep_time = sleep_time
        self.round = 0

    def reply(self, x: Optional[Msg] = None) -> Msg:
        self.round += 1
        time.sleep(self.sleep_time)
        return Msg(self.name, random.randint(0, self.max_value), role="assistant")


class _Fanout:
    """What a group does, whichever kind of object it is."""

    def _build(self, servers: list, first: int, count: int, n: int, max_value: int, sleep_time: float) -> None:
        per_server = -(-n // len(servers))  # the plan's placement: contiguous blocks
        self.participants = [
            RandomParticipant(f"P{i}", max_value=max_value, sleep_time=sleep_time,
                              to_dist=servers[i // per_server])
            for i in range(first, first + count)
        ]
        self.max_value = max_value

    def _ready(self) -> int:
        for p in self.participants:
            if hasattr(type(p), "wait_ready"):  # a core that creates agents in the background
                p.wait_ready()
        return len(self.participants)

    def _play(self, round_no: int, winner: float) -> dict:
        ask = "Directly report your number without additional information."
        content = ask if round_no == 0 else (
            f"The winner number of this round is {winner:.2f}. Let's move on to the next round.\n{ask}")
        msg = Msg("group", content, role="user")
        pending = [p(msg) for p in self.participants]
        total, count = 0, 0
        for r in pending:
            try:
                v = float(r.content)
            except (TypeError, ValueError):
                continue
            if 0 <= v <= self.max_value:
                total += v
                count += 1
        return {"sum": total, "cnt": count}


if async_func is not None:
    class Group(_Fanout, BasicEnv):
        """A group of participants (an environment on the environment server)."""

        def __init__(self, name: str, servers: list, first: int, count: int, n: int,
                     max_value: int = 100, sleep_time: float = 1.0) -> None:
            super().__init__(name)
            self._build(servers, first, count, n, max_value, sleep_time)

        def ready(self) -> int:
            """Returns once every participant of the group can be called."""
            return self._ready()

        @async_func
        def run(self, round: int, winner: float) -> dict:  # pylint: disable=redefined-builtin
            """Play one round in this group: {"sum", "cnt"} of the valid answers."""
            return self._play(round, winner)
else:
    Group = None  # type: ignore[assignment,misc]


class GroupAgent(_Fanout, AgentBase):
    """The same group as an agent: `reply({"round", "winner"})` plays a round."""

    def __init__(self, name: str, servers: list, first: int, count: int, n: int,
                 max_value: int = 100, sleep_time: float = 1.0) -> None:
        super().__init__(name, use_memory=False)
        self._build(servers, first, count, n, max_value, sleep_time)

    def reply(self, x: Optional[Msg] = None) -> Msg:
        if x is not None and x.content == "ready":
            return Msg(self.name, self._ready(), role="assistant")
        return Msg(self.name, self._play(x.content["round"], x.content["winner"]), role="assistant")


class GuessTwoThirdGame(BasicEnv):
    """The game, in the orchestrator: its groups live on the environment servers."""

    def __init__(self, name: str, case: Any, agent_servers: list, env_servers: list, group_kind: str = "env") -> None:
        super().__init__(name)
        self.case = case
        self.group_kind = group_kind
        if group_kind == "env" and Group is None:
            raise RuntimeError("this core cannot host environments yet (no agentscope_rpc.rpc.async_func); "
                               "use group_kind='agent'")
        klass = Group if group_kind == "env" else GroupAgent
        self.envs = [
            klass(f"group_{g}", agent_servers, first, count, case.n,
                  max_value=plan.MAX_VALUE, sleep_time=case.sleep,
                  to_dist=env_servers[g % len(env_servers)])
            for g, (first, count) in enumerate(plan.group_slices(case))
        ]

    def ready(self) -> None:
        """Wait until every group and participant exists."""
        if self.group_kind == "env":
            counts = [g.ready() for g in self.envs]
        else:
            counts = [g(Msg("game", "ready", role="user"))["content"] for g in self.envs]
        if sum(counts) != self.case.n:
            raise RuntimeError(f"{sum(counts)} of {self.case.n} participants were created")

    def step(self, round_no: int, winner: float) -> tuple:
        """One round over all groups at once: (sum, count) of the valid answers."""
        if self.group_kind == "env":
            tasks = [g.run(round_no, winner) for g in self.envs]
        else:
            tasks = [g(Msg("game", {"round": round_no, "winner": winner}, role="user")) for g in self.envs]
        total, count = 0, 0
        for t in tasks:
            result = t["content"] if self.group_kind == "agent" else t
            total += result["sum"]
            count += result["cnt"]
        return total, count


def run_case(case: Any, launch: Callable[[], dict], note: Callable[[str], None], group_kind: str = "env") -> dict:
    """Start the case's servers, play the game, return its metrics (servers stay up for the caller to stop)."""
    agent_servers = [launch() for _ in range(case.agent_servers)]
    env_servers = [launch() for _ in range(case.env_servers)]
    note(f"{case.n} participants, sleep {case.sleep:g}s, {case.agent_servers} agent servers, "
         f"{case.env_servers} environment server(s), groups as {group_kind}s")
    return plan.play(
        case,
        build=lambda: GuessTwoThirdGame("paper_sim", case, agent_servers, env_servers, group_kind),
        ready=lambda game: game.ready(),
        step=lambda game, r, w: game.step(r, w),
        note=note,
    )
