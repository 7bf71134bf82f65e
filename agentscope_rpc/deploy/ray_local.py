"""`LocalRayCluster`: a multi-node Ray cluster on this one machine, on loopback.

For trying a Ray fleet without machines, for tests and benchmarks.  Each
node is a real raylet (`ray.cluster_utils.Cluster`) with its own loopback
address (`127.0.0.2`, `127.0.0.3`, ...), so the servers of a fleet bind
distinct addresses as on real machines, and nothing leaves loopback.  The
cluster keeps its files in a private temporary directory (`RAY_TMPDIR` is
set for this process while it runs, so it neither sees nor disturbs other
Ray instances on the machine).

    with LocalRayCluster(nodes=3) as cluster:
        fleet = start_ray_fleet(cluster.address, servers=3, ray_init_options=cluster.init_options)
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any, Optional

import psutil
import ray
from ray.cluster_utils import Cluster

FIRST_ADDRESS = 2  # 127.0.0.2: the head; workers follow


class LocalRayCluster:
    """Head plus `nodes - 1` worker nodes, each `cpus_per_node` CPUs, on 127.0.0.x."""

    def __init__(self, nodes: int = 3, cpus_per_node: float = 1, object_store_mb: int = 80) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, got {nodes}")
        self._node_args = {"num_cpus": cpus_per_node, "object_store_memory": object_store_mb * 1024 * 1024}
        self._wanted = nodes
        self._next_ip = FIRST_ADDRESS
        self._tmp: Optional[str] = None
        self._saved_tmpdir: Optional[str] = None
        self._cluster: Optional[Cluster] = None

    @property
    def address(self) -> str:
        """The head's GCS address, for `ray.init(address=...)`."""
        assert self._cluster is not None, "the cluster is not running"
        return self._cluster.address

    @property
    def head_ip(self) -> str:
        """The head node's loopback address (the driver attaches to its raylet)."""
        return f"127.0.0.{FIRST_ADDRESS}"

    @property
    def init_options(self) -> dict:
        """Extra `ray.init` options a driver on this machine needs (its node's address)."""
        return {"_node_ip_address": self.head_ip}

    @property
    def worker_nodes(self) -> list:
        """The worker nodes (`ray._private.node.Node`), in the order they were added."""
        assert self._cluster is not None
        return sorted(self._cluster.worker_nodes, key=lambda n: tuple(int(p) for p in n.node_ip_address.split(".")))

    def start(self) -> "LocalRayCluster":
        """Start the head and the worker nodes (again after a `shutdown()`)."""
        self._next_ip = FIRST_ADDRESS
        self._tmp = tempfile.mkdtemp(prefix="asr-ray-", dir="/tmp")  # short: Ray's socket paths have a limit
        self._saved_tmpdir = os.environ.get("RAY_TMPDIR")
        os.environ["RAY_TMPDIR"] = self._tmp
        try:
            # no kernel fate sharing (PR_SET_PDEATHSIG): with it, raylets added
            # later were seen SIGKILLed seconds after they started; shutdown()
            # (also at exit) stops every node instead
            self._cluster = Cluster(
                shutdown_at_exit=False,
                initialize_head=True,
                head_node_args={**self._node_args, "node_ip_address": self._ip(), "include_dashboard": False},
            )
            for _ in range(self._wanted - 1):
                self.add_node()
        except BaseException:
            self.shutdown()
            raise
        atexit.register(self.shutdown)
        return self

    def add_node(self, **node_args: Any) -> Any:
        """One more worker node, on the next loopback address; the node."""
        assert self._cluster is not None
        return self._cluster.add_node(**{**self._node_args, **node_args, "node_ip_address": self._ip()})

    def remove_node(self, node: Any, graceful: bool = False) -> None:
        """Take a worker node away (by default abruptly, like a machine dying).

        Ray's control plane notices by missed health checks, seconds later;
        `wait_for_nodes()` waits for that.
        """
        assert self._cluster is not None
        self._cluster.remove_node(node, allow_graceful=graceful)

    def wait_for_nodes(self, timeout: float = 60.0) -> None:
        """Block until Ray counts exactly the nodes this cluster has (TimeoutError)."""
        assert self._cluster is not None
        self._cluster.wait_for_nodes(timeout)

    def shutdown(self) -> None:
        """Disconnect this driver, stop every node, remove the files."""
        atexit.unregister(self.shutdown)
        try:
            if ray.is_initialized():
                ray.shutdown()
            if self._cluster is not None:
                cluster, self._cluster = self._cluster, None
                cluster.shutdown()
        finally:
            self._kill_leftovers()
            if self._saved_tmpdir is None:
                os.environ.pop("RAY_TMPDIR", None)
            else:
                os.environ["RAY_TMPDIR"] = self._saved_tmpdir
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def _kill_leftovers(self) -> None:
        """Kill this process's own descendants that still run in the cluster's
        directory: what a node that failed half-way through starting left behind
        (Ray then has no handle on them)."""
        if not self._tmp:
            return
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                if any(self._tmp in part for part in child.cmdline()):
                    child.kill()
            except psutil.Error:  # already gone
                continue

    def _ip(self) -> str:
        ip = f"127.0.0.{self._next_ip}"
        self._next_ip += 1
        return ip

    def __enter__(self) -> "LocalRayCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
