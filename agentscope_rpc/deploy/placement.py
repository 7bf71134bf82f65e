"""Placement policies: which of a fleet's servers gets the next agent.

A policy is any object with `choose(servers) -> ServerAddress`, where
`servers` is the list of servers that are up right now (never empty).
`RoundRobin` cycles through them; `LeastLoaded` picks the server hosting
the fewest agents, by the counts the servers report themselves.
"""
from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Optional, Protocol, Sequence, Union

from ..exception import AgentServerNotAliveError
from .address import ServerAddress
from .server_info import agent_count


class PlacementPolicy(Protocol):
    """Chooses one server of a fleet for a new agent."""

    def choose(self, servers: Sequence[ServerAddress]) -> ServerAddress:
        """One of `servers` (a non-empty list of the servers that are up)."""


class RoundRobin:
    """Each agent goes to the next server, in order."""

    def __init__(self) -> None:
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def choose(self, servers: Sequence[ServerAddress]) -> ServerAddress:
        """The next server in turn."""
        with self._lock:
            return servers[next(self._turn) % len(servers)]


class LeastLoaded:
    """Each agent goes to the server that hosts the fewest agents.

    The counts come from the servers (`GetServerInfo`'s `agent_count`), asked
    of every server in one pass and kept for `refresh_s` seconds; placements
    made since then are added, so a burst of creations spreads evenly without
    one round trip per agent.  A server that does not answer is left out until the next
    refresh; when none answers, `choose` raises `AgentServerNotAliveError`.
    Ties go to the server after the one chosen last.
    """

    def __init__(
        self,
        refresh_s: float = 1.0,
        load_of: Optional[Callable[[ServerAddress], int]] = None,
    ) -> None:
        self.refresh_s = refresh_s
        self._load_of = load_of or agent_count
        self._lock = threading.Lock()
        self._counts: dict = {}  # ServerAddress -> int (None: did not answer)
        self._taken = float("-inf")
        self._last = -1

    def choose(self, servers: Sequence[ServerAddress]) -> ServerAddress:
        """The least loaded server that answers."""
        with self._lock:
            now = time.monotonic()
            if now - self._taken >= self.refresh_s or set(servers) - set(self._counts):
                self._counts = {server: self._ask(server) for server in servers}
                self._taken = time.monotonic()
            live = [i for i, server in enumerate(servers) if self._counts.get(server) is not None]
            if not live:
                raise AgentServerNotAliveError(
                    f"none of the fleet's {len(servers)} agent server(s) answered: "
                    + ", ".join(server.address for server in servers),
                )
            n = len(servers)
            best = min(live, key=lambda i: (self._counts[servers[i]], (i - self._last - 1) % n))
            self._last = best
            self._counts[servers[best]] += 1
            return servers[best]

    def _ask(self, server: ServerAddress) -> Optional[int]:
        try:
            return self._load_of(server)
        except AgentServerNotAliveError:
            return None


POLICIES = {"round_robin": RoundRobin, "least_loaded": LeastLoaded}


def make_policy(policy: Union[str, PlacementPolicy]) -> PlacementPolicy:
    """A policy object from its name (`"round_robin"`, `"least_loaded"`) or itself."""
    if isinstance(policy, str):
        try:
            return POLICIES[policy]()
        except KeyError:
            raise ValueError(
                f"unknown placement policy {policy!r}; expected one of {', '.join(POLICIES)}",
            ) from None
    if not callable(getattr(policy, "choose", None)):
        raise TypeError(f"a placement policy needs a choose(servers) method, got {policy!r}")
    return policy
