"""Agent servers placed, restarted and tracked by a Ray cluster.

    fleet = start_ray_fleet("ray://head:10001" or "auto", servers=4, servers_per_node=2)
    players = [Player(name, ..., to_dist=fleet) for name in names]
    ...
    fleet.stop()

Ray decides where servers run; our gRPC still carries every call, every
spoken chunk and every placeholder fetch.  Each server is a Ray actor
(`ray_actor.AgentServerActor`) reserved in one placement group: bundles are
spread over distinct nodes (`STRICT_SPREAD`), each holding at most
`servers_per_node` servers.  A server whose process dies is restarted by Ray
(`max_restarts`) with no agents -- state is not restored; proxies of the
agents it held raise `AgentServerNotAliveError` -- and the fleet learns its
new address (the port changes) and places new agents there again.  The
servers are owned by this process: they stop with `fleet.stop()` and with
the driver.
"""
from __future__ import annotations

import concurrent.futures
import logging
import math
import secrets
import threading
import time
from typing import Any, Callable, Optional, Sequence, Union

try:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("agentscope_rpc.deploy.ray needs Ray: pip install 'agentscope-rpc[ray]'") from err

from ..server import ServerConfig
from .address import ServerAddress
from .fleet import ServerFleet
from .placement import PlacementPolicy
from .ray_actor import NODE_ADDRESS, AgentServerActor

log = logging.getLogger(__name__)

RESTART_ASK_DELAYS = (0.2, 0.5, 1.0, 2.0)  # asking a restarting actor again, then every 2 s
RESTART_ASKS = 60
_OWN_PARAMETERS = {"host", "port", "token", "token_file", "agent_dir", "model_config_path"}


def plan_bundles(servers: int, nodes: int, servers_per_node: int = 1) -> list:
    """How many servers each bundle (one per distinct node) holds.

    As many bundles as there are servers or nodes, whichever is fewer; the
    servers are dealt round-robin over them.  Raises ValueError when
    `nodes` cannot hold `servers` at `servers_per_node` each.
    """
    if servers < 1 or servers_per_node < 1:
        raise ValueError(f"need servers >= 1 and servers_per_node >= 1, got {servers} and {servers_per_node}")
    need = math.ceil(servers / servers_per_node)
    if need > nodes:
        raise ValueError(
            f"{servers} agent server(s), at most {servers_per_node} per node, need {need} Ray node(s) "
            f"with enough CPUs; the cluster has {nodes}",
        )
    bundles = min(servers, nodes)
    return [len(range(b, servers, bundles)) for b in range(bundles)]


class _Slot:
    """One server of the fleet, across its restarts."""

    def __init__(self, index: int, actor: Any, bundle: int) -> None:
        self.index = index
        self.actor = actor
        self.bundle = bundle
        self.state = "starting"  # up | restarting | dead | stopped
        self.address: Optional[ServerAddress] = None
        self.node_id = ""
        self.pid = 0
        self.restarts = 0
        self.error = ""

    def describe(self) -> dict:
        return {
            "index": self.index, "state": self.state, "address": self.address, "node_id": self.node_id,
            "pid": self.pid, "restarts": self.restarts, "error": self.error,
        }


class RayFleet(ServerFleet):
    """Agent servers running as Ray actors; built by `start_ray_fleet`."""

    def __init__(self, token: str, policy: Union[str, PlacementPolicy], owns_ray: bool, grace: float) -> None:
        super().__init__((), token, policy, on_stop=self._stop_servers)
        self._token = token
        self._owns_ray = owns_ray
        self._grace = grace
        self._slots: list = []
        self._group: Any = None
        self._changed = threading.Condition()
        self._quit = threading.Event()
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ray-fleet")

    # -- what the fleet offers ---------------------------------------------------------
    def endpoints(self) -> list:
        """Servers that are up now, in fleet order (restarting or dead ones are left out)."""
        with self._changed:
            return [slot.address for slot in self._slots if slot.state == "up"]

    @property
    def token(self) -> str:
        """The fleet's shared token."""
        return self._token

    def status(self) -> list:
        """One dict per server: index, state, address, node_id, pid, restarts, error."""
        with self._changed:
            return [slot.describe() for slot in self._slots]

    def wait_for_servers(self, count: Optional[int] = None, timeout: float = 60.0) -> list:
        """Block until `count` servers (default: all not dead) are up; their endpoints.

        Raises TimeoutError, with each server's state, when they are not.
        """
        def enough(status: list) -> bool:
            wanted = count if count is not None else sum(1 for s in status if s["state"] != "dead")
            return sum(1 for s in status if s["state"] == "up") >= wanted

        self.wait_for(enough, timeout)
        return self.endpoints()

    def wait_for(self, predicate: Callable[[list], bool], timeout: float = 60.0) -> list:
        """Block until `predicate(self.status())` holds; that status.

        E.g. `fleet.wait_for(lambda s: s[0]["restarts"] >= 1 and s[0]["state"] == "up")`.
        Raises TimeoutError, with each server's state, when it does not
        within `timeout` seconds or the fleet is stopped.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                status = [slot.describe() for slot in self._slots]
                if predicate(status):
                    return status
                left = deadline - time.monotonic()
                if left <= 0 or self.stopped:
                    states = ", ".join(f"#{s['index']} {s['state']}" for s in status)
                    raise TimeoutError(f"the Ray fleet did not reach the awaited state in {timeout}s: {states}")
                self._changed.wait(left)

    # -- start ----------------------------------------------------------------------------
    def _start(self, group: Any, actors: list, bundles: list, timeout: float) -> None:
        self._group = group
        self._slots = [_Slot(i, actor, bundle) for i, (actor, bundle) in enumerate(zip(actors, bundles))]
        refs = [slot.actor.address.remote() for slot in self._slots]
        deadline = time.monotonic() + timeout
        for slot, ref in zip(self._slots, refs):
            try:
                where = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
            except ray.exceptions.GetTimeoutError:
                raise TimeoutError(f"agent server #{slot.index} not serving after {timeout}s") from None
            except ray.exceptions.RayError as err:
                raise RuntimeError(f"agent server #{slot.index} could not start on the Ray cluster: {err}") from err
            self._set_up(slot, where, restarted=False)

    def _set_up(self, slot: _Slot, where: dict, restarted: bool) -> None:
        with self._changed:
            slot.address = ServerAddress(where["host"], int(where["port"]), self._token)
            slot.node_id, slot.pid = where["node_id"], int(where["pid"])
            slot.restarts += int(restarted)
            slot.state, slot.error = "up", ""
            self._changed.notify_all()
        if restarted:
            log.warning("agent server #%d restarted by Ray at %s (its agents were lost)", slot.index, slot.address.address)
        self._when_done(slot.actor.wait_stopped.remote(), self._on_watch_end, slot)

    # -- following restarts (all on the fleet's one worker thread) ------------------------
    def _when_done(self, ref: Any, handler: Any, *args: Any) -> None:
        def hand_over(future: concurrent.futures.Future) -> None:
            if self._quit.is_set():
                return
            try:
                self._worker.submit(handler, future, *args)
            except RuntimeError:  # the worker was shut down: the fleet is stopping
                pass

        ref.future().add_done_callback(hand_over)

    def _on_watch_end(self, future: concurrent.futures.Future, slot: _Slot) -> None:
        error = future.exception()
        with self._changed:
            if self._quit.is_set():
                return
            slot.state = "restarting" if error is not None else "stopped"
            slot.address, slot.error = None, "" if error is None else str(error).splitlines()[0]
            self._changed.notify_all()
        if error is not None:
            log.warning("agent server #%d (pid %d) died: %s", slot.index, slot.pid, slot.error)
            self._ask_address(slot, 0)

    def _ask_address(self, slot: _Slot, attempt: int) -> None:
        # Ray queues a call to a restarting actor until it is back up
        self._when_done(slot.actor.address.remote(), self._on_address, slot, attempt)

    def _on_address(self, future: concurrent.futures.Future, slot: _Slot, attempt: int) -> None:
        if self._quit.is_set():
            return
        error = future.exception()
        if error is None:
            self._set_up(slot, future.result(), restarted=True)
            return
        if isinstance(error, ray.exceptions.ActorUnavailableError) and attempt + 1 < RESTART_ASKS:
            delay = RESTART_ASK_DELAYS[min(attempt, len(RESTART_ASK_DELAYS) - 1)]
            if not self._quit.wait(delay):  # backoff: the actor is between processes
                self._ask_address(slot, attempt + 1)
            return
        with self._changed:
            slot.state, slot.error = "dead", str(error).splitlines()[0]
            self._changed.notify_all()
        log.error("agent server #%d is gone for good: %s", slot.index, slot.error)

    # -- stop -------------------------------------------------------------------------------
    def _stop_servers(self) -> None:
        self._quit.set()
        with self._changed:
            slots = list(self._slots)
            serving = [slot for slot in slots if slot.state == "up"]
            for slot in slots:
                slot.state, slot.address = "stopped", None
            self._changed.notify_all()
        try:
            if ray.is_initialized():
                stopping = [slot.actor.stop.remote() for slot in serving]  # a restarting one would not answer
                if stopping:  # graceful first: running calls get the server's grace
                    ray.wait(stopping, num_returns=len(stopping), timeout=self._grace)
                for slot in slots:
                    ray.kill(slot.actor, no_restart=True)
                if self._group is not None:
                    remove_placement_group(self._group)
        finally:
            self._worker.shutdown(wait=False, cancel_futures=True)
            if self._owns_ray and ray.is_initialized():
                ray.shutdown()


def start_ray_fleet(
    address: Optional[str] = None,
    servers: int = 3,
    *,
    servers_per_node: int = 1,
    cpus_per_server: float = 1.0,
    token: Optional[str] = None,
    agent_dirs: Sequence[str] = (),
    model_configs: Union[None, str, list, dict] = None,
    host: str = NODE_ADDRESS,
    port: int = 0,
    policy: Union[str, PlacementPolicy] = "round_robin",
    max_restarts: int = 3,
    runtime_env: Optional[dict] = None,
    server_options: Optional[dict] = None,
    ready_timeout: float = 120.0,
    ray_init_options: Optional[dict] = None,
) -> RayFleet:
    """Start `servers` agent servers as Ray actors spread over the cluster's nodes.

    `address`: the Ray cluster (`ray.init(address=...)`; ignored when Ray is
    already initialised here; a cluster this call connected to is left by
    `fleet.stop()`).  At most `servers_per_node` servers share a node, each
    reserving `cpus_per_server` CPUs.  `token`: the servers' shared token
    (default: a fresh 256-bit one), handed to each actor as an argument.
    `agent_dirs` and a `model_configs` path are paths on the nodes;
    `model_configs` as a list (or one dict) travels to the servers.  `host`:
    address to bind, default the node's IP.  `port`: 0 picks a free port
    (required when servers share a node).  `server_options`: further
    `ServerConfig` fields.  `runtime_env`: Ray's, for the server actors.
    """
    options = dict(server_options or {})
    clash = _OWN_PARAMETERS & set(options)
    if clash:
        raise ValueError(f"server_options cannot set {', '.join(sorted(clash))}: use the parameters of their own")
    if port and servers_per_node > 1:
        raise ValueError("servers sharing a node need port=0 (each picks a free port)")
    if cpus_per_server <= 0:
        raise ValueError(f"cpus_per_server must be > 0, got {cpus_per_server}")
    token = token or secrets.token_urlsafe(32)
    config = ServerConfig(
        host=host, port=port, token=token, agent_dir=[str(d) for d in agent_dirs],
        model_config_path=model_configs if isinstance(model_configs, str) else None, **options,
    )  # validated by each server on its node: the paths in it are the nodes' paths
    shipped = [model_configs] if isinstance(model_configs, dict) else model_configs
    shipped = shipped if isinstance(shipped, list) else None

    owns_ray = not ray.is_initialized()
    if owns_ray:
        ray.init(address=address, **(ray_init_options or {}))
    fleet = RayFleet(token, policy, owns_ray, grace=config.shutdown_grace + 5.0)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= cpus_per_server]
        plan = plan_bundles(servers, len(nodes), servers_per_node)
        group = placement_group(
            [{"CPU": cpus_per_server * count} for count in plan],
            strategy="STRICT_SPREAD" if len(plan) > 1 else "PACK",
        )
        fleet._group = group  # pylint: disable=protected-access
        try:
            ray.get(group.ready(), timeout=ready_timeout)
        except ray.exceptions.GetTimeoutError:
            raise TimeoutError(
                f"Ray could not reserve {plan} server(s) on distinct nodes at {cpus_per_server} CPU each "
                f"within {ready_timeout}s; available: {ray.available_resources()}",
            ) from None
        remote_class = ray.remote(AgentServerActor)
        bundles = [i % len(plan) for i in range(servers)]
        actors = [
            remote_class.options(
                num_cpus=cpus_per_server,
                max_restarts=max_restarts,
                max_task_retries=0,  # at most once: never re-run a call on a restarted server
                max_concurrency=4,  # address() and stop() while wait_stopped() blocks
                scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=b),
                runtime_env=runtime_env,
            ).remote(config, shipped)
            for b in bundles
        ]
        fleet._start(group, actors, bundles, ready_timeout)  # pylint: disable=protected-access
    except BaseException:
        fleet.stop()
        raise
    return fleet


__all__ = ["RayFleet", "start_ray_fleet", "plan_bundles"]
