"""`ServerFleet`: a set of agent servers that `to_dist` can place agents on.

    fleet = ServerFleet(["10.0.0.2:7100", "10.0.0.3:7100"], token=token, policy="least_loaded")
    alice = DialogAgent("Alice", ..., to_dist=fleet)     # built on the fleet's pick
    bob = DialogAgent("Bob", ...).to_dist(fleet)         # moved to the fleet's pick

`to_dist` calls `fleet.place()` once per agent; it answers with ordinary
`to_dist` options (`{"host", "port", "token", ...}`).  A fleet built from a
list of addresses does not own those servers: `stop()` leaves them running.
`launch_local_fleet(n)` starts `n` server subprocesses on this machine and
returns a fleet that stops them.  `agentscope_rpc.deploy.ray` has a fleet
whose servers a Ray cluster places and restarts.
"""
from __future__ import annotations

import secrets
import threading
from typing import Any, Callable, Iterable, Optional, Union

from ..exception import AgentServerNotAliveError
from ..server import RpcAgentServerLauncher
from .address import ServerAddress
from .placement import PlacementPolicy, make_policy
from .server_info import server_info


class ServerFleet:
    """Places agents on a list of agent servers.

        fleet = ServerFleet(["10.0.0.2:7100", "10.0.0.3:7100"], token=token, policy="least_loaded")
        alice = DialogAgent("Alice", ..., to_dist=fleet)     # built on the fleet's pick
        bob = DialogAgent("Bob", ...).to_dist(fleet)         # moved to the fleet's pick

    `to_dist` calls `fleet.place()` once per agent; it answers with ordinary
    `to_dist` options (`{"host", "port", "token", ...}`).  A fleet built from
    a list of addresses does not own those servers: `stop()` leaves them
    running (`launch_local_fleet` returns one that stops the servers it
    started).

    `servers`: addresses as `"host:port"`, `(host, port)`, `to_dist`-style
    dicts or `ServerAddress`; `token` applies to those that carry none.
    `policy`: `"round_robin"` (default), `"least_loaded"` or any object with
    `choose(servers)`.  `on_stop` runs once, at the first `stop()`.
    """

    def __init__(
        self,
        servers: Iterable[Union[ServerAddress, str, tuple, dict]] = (),
        token: str = "",
        policy: Union[str, PlacementPolicy] = "round_robin",
        on_stop: Optional[Callable[[], None]] = None,
    ) -> None:
        self._servers = [ServerAddress.parse(s, token) for s in servers]
        self.policy = make_policy(policy)
        self._on_stop = on_stop
        self._stopped = False
        self._stop_lock = threading.Lock()

    # -- the placement protocol ----------------------------------------------------
    def place(self) -> dict:
        """`to_dist` options for one new agent, on the server the policy picks."""
        if self._stopped:
            raise RuntimeError("this server fleet was stopped")
        servers = self.endpoints()
        if not servers:
            raise AgentServerNotAliveError(f"{type(self).__name__} has no agent server up to place an agent on")
        return self.policy.choose(servers).options()

    def endpoints(self) -> list:
        """The servers agents can be placed on now, as `ServerAddress` values."""
        return list(self._servers)

    @property
    def token(self) -> str:
        """The token of the first server ('' when none): fleets usually share one."""
        servers = self.endpoints()
        return servers[0].token if servers else ""

    # -- looking at the servers --------------------------------------------------------
    def server_infos(self) -> dict:
        """`{"host:port": info dict, or None when it does not answer}` for every server."""
        infos = {}
        for server in self.endpoints():
            try:
                infos[server.address] = server_info(server)
            except AgentServerNotAliveError:
                infos[server.address] = None
        return infos

    def agent_counts(self) -> dict:
        """`{"host:port": agents hosted, or None}` as the servers report them."""
        return {
            address: None if info is None else int(info["agent_count"])
            for address, info in self.server_infos().items()
        }

    # -- lifetime ----------------------------------------------------------------------
    def stop(self) -> None:
        """Release what the fleet owns (servers it started); idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        if self._on_stop is not None:
            self._on_stop()

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called."""
        return self._stopped

    def __enter__(self) -> "ServerFleet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        shown = ", ".join(s.address for s in self.endpoints())
        return f"{type(self).__name__}([{shown}], policy={type(self.policy).__name__})"


def launch_local_fleet(
    servers: int = 3,
    token: Optional[str] = None,
    policy: Union[str, PlacementPolicy] = "round_robin",
    **settings: Any,
) -> ServerFleet:
    """Start `servers` agent server subprocesses here; a fleet that stops them.

    `settings` are `ServerConfig` fields (`host`, `agent_dir`, ...); every
    server gets `port=0` and the same token (a fresh random one by default).
    """
    if servers < 1:
        raise ValueError(f"a fleet needs at least one server, got {servers}")
    token = token or secrets.token_urlsafe(32)
    settings.setdefault("host", "127.0.0.1")
    launchers: list = []

    def stop_all() -> None:
        threads = [threading.Thread(target=launcher.shutdown) for launcher in launchers]
        for thread in threads:  # in parallel: each may give running calls a grace period
            thread.start()
        for thread in threads:
            thread.join()

    try:
        for _ in range(servers):
            launcher = RpcAgentServerLauncher(port=0, token=token, **settings)
            launcher.launch(in_subprocess=True)
            launchers.append(launcher)
    except BaseException:
        stop_all()
        raise
    addresses = [ServerAddress(launcher.host, launcher.port, token) for launcher in launchers]
    return ServerFleet(addresses, policy=policy, on_stop=stop_all)
