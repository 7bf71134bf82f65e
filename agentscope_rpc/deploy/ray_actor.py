"""`AgentServerActor`: one agent server living in a Ray actor's process.

The server runs in the actor's own process (`launch(in_subprocess=False)`),
so the server process *is* the Ray worker: when it dies, Ray sees it and
restarts the actor (its `max_restarts`), which starts a fresh server, with
no agents, on a new port.  A server that stops while the actor was not
asked to stop (e.g. an `as_server stop` from outside) ends the process the
same way, so Ray restarts it too.  When the node's raylet dies (the node
is lost), the server process exits at once: an actor method still waiting
would otherwise keep a Ray worker, and its server, alive without its node.

The actor binds its node's address (`ray.util.get_node_ip_address()`)
unless the config names one; the token arrives inside the `ServerConfig`
(a constructor argument, never a command line or an environment listing).
This module imports Ray only inside the actor.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import select
import threading
from typing import Optional

from ..models import read_model_configs
from ..server import RpcAgentServerLauncher, ServerConfig

log = logging.getLogger(__name__)

NODE_ADDRESS = "node"  # ServerConfig.host meaning "the Ray node's IP address"


class AgentServerActor:
    """Hosts one agent server (see module docstring); wrapped by `ray.remote`."""

    def __init__(self, config: ServerConfig, model_configs: Optional[list] = None) -> None:
        import ray  # the actor runs in a Ray worker

        node_ip = ray.util.get_node_ip_address()
        host = node_ip if config.host in ("", None, NODE_ADDRESS) else config.host
        advertise = config.advertise_host or (node_ip if host in ("0.0.0.0", "::") else host)
        config = dataclasses.replace(config, host=host, advertise_host=advertise)
        if model_configs:
            read_model_configs(model_configs, override=True)
        self._node_id = ray.get_runtime_context().get_node_id()
        self._stopping = threading.Event()
        self._ended = threading.Event()
        self._launcher = RpcAgentServerLauncher(config=config)
        self._port = self._launcher.launch(in_subprocess=False)
        threading.Thread(target=self._watch_server, name="agent-server-watch", daemon=True).start()
        _exit_with_raylet()

    def _watch_server(self) -> None:
        try:
            self._launcher.wait_until_terminate()
        except Exception:  # pylint: disable=broad-except
            log.exception("agent server on port %s failed", self._port)
        if not self._stopping.is_set():
            # before wait_stopped() could answer: the fleet must see a death, not a stop
            log.error("agent server on port %s stopped on its own; exiting so that Ray restarts it", self._port)
            os._exit(1)  # an unexpected end: Ray restarts a process that dies, not one that returns
        self._ended.set()

    def address(self) -> dict:
        """Where the server is: host, port, node_id, pid."""
        return {
            "host": self._launcher.host,
            "port": self._port,
            "node_id": self._node_id,
            "pid": os.getpid(),
        }

    def wait_stopped(self) -> bool:
        """Returns once the server has stopped (the fleet's death watch relies on
        the call failing instead when the process dies)."""
        self._ended.wait()
        return True

    def stop(self) -> bool:
        """Stop the server (running calls get its shutdown grace)."""
        self._stopping.set()
        self._launcher.shutdown()
        return True


def _exit_with_raylet() -> None:
    """End this process as soon as the node's raylet (the worker's parent) dies.

    Waits on a pidfd (Linux 5.3+) in a daemon thread; elsewhere it does
    nothing and Ray's own detection applies.
    """
    raylet_pid = int(os.environ.get("RAY_RAYLET_PID") or os.getppid())
    if raylet_pid <= 1 or not hasattr(os, "pidfd_open"):
        return
    try:
        pidfd = os.pidfd_open(raylet_pid)
    except OSError:  # already gone, or not ours to watch
        return

    def wait() -> None:
        select.select([pidfd], [], [])  # readable once the raylet has exited
        log.error("the raylet (pid %d) of this node died; the agent server exits with it", raylet_pid)
        os._exit(1)

    threading.Thread(target=wait, name="raylet-watch", daemon=True).start()
