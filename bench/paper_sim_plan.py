"""The `paper_sim` workload's plan, shared by both systems (stdlib + psutil only).

The "guess 2/3 of the average" game of AgentScope's large-scale simulation
paper (arXiv 2407.17789) and its example (examples/paper_large_scale_simulation
in AgentScope 0.1.6): random participants (no LLM) live on agent servers;
group environment objects on environment servers create their share of
the participants and fan each round out to them; the orchestrator's game
object asks every group for a round and computes the winning number.

This module fixes what both sides do the same way: the cases (N, sleep,
servers), which participant goes to which agent server and group, the
game's numbers, and how time and memory are measured.
"""
from __future__ import annotations

import math
import os
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

RATIO = 2 / 3
MAX_VALUE = 100
PEER_DEADLINE_S = 600.0  # AgentScope 0.1.6 runs "up to what finishes within 10 minutes"


@dataclass(frozen=True)
class Case:
    """One run of the game: N participants, each reply sleeping `sleep` s."""

    n: int
    sleep: float
    agent_servers: int = 4
    env_servers: int = 1
    rounds: int = 3
    ours_only: bool = False

    @property
    def name(self) -> str:
        return f"paper_sim_{label(self.n)}_s{self.sleep:g}"

    @property
    def repeats(self) -> int:
        """Most runs of this case per bench run (fresh servers each): big cases run once."""
        return 1 if self.n >= 100_000 else 3

    @property
    def groups(self) -> int:
        """One group env per environment server, as in the example."""
        return self.env_servers


def label(n: int) -> str:
    """1000 -> '1k', 1000000 -> '1M'."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


# The cases: 1k/10k/100k for both systems at sleep 0 and 1 s (4 agent
# servers, 1 environment server); ours alone at 1,000,000 over 8 agent servers.
CASES = [
    Case(1_000, 0.0), Case(10_000, 0.0), Case(100_000, 0.0, rounds=2),
    Case(1_000, 1.0), Case(10_000, 1.0, rounds=2), Case(100_000, 1.0, rounds=2),
    Case(1_000_000, 0.0, agent_servers=8, env_servers=2, rounds=2, ours_only=True),
]
BY_NAME = {case.name: case for case in CASES}
QUICK = {"paper_sim_1k_s0", "paper_sim_1k_s1"}


def case_for(workload: str, n_override: Optional[int] = None) -> Case:
    """The case a workload name stands for; `n_override` replaces N (tests, smoke runs)."""
    case = BY_NAME[workload]
    if n_override:
        case = Case(n_override, case.sleep, case.agent_servers, case.env_servers, case.rounds, case.ours_only)
    return case


def group_slices(case: Case) -> list:
    """[(first participant index, count)] per group: contiguous, as the example splits them."""
    per_group = case.n // case.groups
    return [(g * per_group, per_group if g < case.groups - 1 else case.n - g * per_group)
            for g in range(case.groups)]


def server_of(i: int, n: int, agent_servers: int) -> int:
    """Agent server of participant i: contiguous blocks of ceil(N / servers), as the example places them."""
    return i // math.ceil(n / agent_servers)


class RssSampler:
    """Total RSS of this process and all its descendants: a final reading and the peak.

    Samples once a second in a daemon thread until `stop()`.
    """

    def __init__(self, interval: float = 1.0) -> None:
        import psutil  # every venv of the bench has psutil

        self._psutil = psutil
        self._me = psutil.Process(os.getpid())
        self._interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def total_mb(self) -> float:
        """RSS of this process plus every live descendant, in MB."""
        total = 0
        for proc in [self._me, *self._me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                pass
        mb = total / (1024 * 1024)
        self.peak_mb = max(self.peak_mb, mb)
        return mb

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.total_mb()

    def stop(self) -> float:
        """Stop sampling; returns a last reading."""
        self._stop.set()
        self._thread.join(5)
        return self.total_mb()


def play(case: Case, build: Callable[[], object], ready: Callable[[object], None],
         step: Callable[[object, int, float], tuple], note: Callable[[str], None]) -> dict:
    """Run the game the same way on either system; returns the metrics of one run.

    `build()` creates the game (groups and their participants); `ready(game)`
    returns once every participant can be called; `step(game, round, winner)`
    plays one round and returns `(sum, count)`.
    """
    sampler = RssSampler()
    start = time.perf_counter()
    game = build()
    built = time.perf_counter()
    ready(game)
    init = time.perf_counter() - start
    note(f"init {init:.2f}s (constructors returned after {built - start:.2f}s)")
    rounds, winner = [], 0.0
    for r in range(case.rounds):
        t0 = time.perf_counter()
        total, count = step(game, r, winner)
        rounds.append(time.perf_counter() - t0)
        if count != case.n:
            raise RuntimeError(f"round {r + 1}: {count} of {case.n} participants answered")
        winner = total / count * RATIO
        note(f"round {r + 1}: {rounds[-1]:.2f}s, average {total / count:.2f}, winner {winner:.2f}")
    rss = sampler.stop()
    later = rounds[1:] or rounds
    return {
        "init_s": init,
        "constructors_s": built - start,
        "round1_s": rounds[0],
        "round_s": statistics.median(later),
        "rss_mb": rss,
        "peak_rss_mb": sampler.peak_mb,
    }
