"""`RpcAgentServerLauncher`: start an agent server here or in a subprocess.

Keywords are `ServerConfig` fields plus AgentScope 0.1.6's launcher keywords
(`ServerConfig.from_settings`): `host`, `port=None` (a free port;
`launcher.port` reports it once launched), `custom_agent_classes`,
`local_mode`, `agent_dir`, `server_id`, `capacity`, `max_pool_size`,
`max_expire_time`, `max_timeout_seconds`, `studio_url`, `pool_type`,
`redis_url`.  An unknown keyword is a `TypeError`.
"""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
from typing import Any, Iterable, Optional

from .agent_server import AgentServer
from .child import ChildServer, spawn
from .config import ServerConfig
from .registry import is_distributable, write_class_file


def build_server(config: ServerConfig, classes: Iterable[type] = ()) -> AgentServer:
    """An `AgentServer` for `config` that also knows `classes`."""
    return AgentServer(config, classes=list(classes))


class RpcAgentServerLauncher:
    """Launch, wait for and shut down one agent server.

    `launch(in_subprocess=True)` starts a child process that exits with this
    one; `launch(in_subprocess=False)` serves in this process, in the
    background (call `wait_until_terminate()` to block as 0.1.6 does).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: Optional[int] = None,
        config: Optional[ServerConfig] = None,
        custom_agent_classes: Optional[Iterable[type]] = None,
        **settings: Any,
    ) -> None:
        if config is None:
            config = ServerConfig.from_settings(host=host, port=port, **settings)
        elif settings:
            config = config.replace(**settings)
        config.validate()
        self.config = config
        self.custom_agent_classes = list(custom_agent_classes or ())
        for klass in self.custom_agent_classes:
            if not is_distributable(klass):
                raise TypeError(f"custom_agent_classes: {klass!r} is not an agent class")
        self.port: Optional[int] = config.port or None
        self._child: Optional[ChildServer] = None
        self._server: Optional[AgentServer] = None
        self._serving: Optional[concurrent.futures.Future] = None

    @property
    def host(self) -> str:
        """The address clients use to reach the server."""
        return self.config.advertise_host or self.config.host

    @property
    def server_id(self) -> Optional[str]:
        """The server's name (0.1.6's `server_id`), if one was given."""
        return self.config.server_id

    @property
    def token(self) -> Optional[str]:
        """The token clients must present (None: none required)."""
        return self.config.resolved_token()

    def launch(self, in_subprocess: bool = True) -> int:
        """Start serving; returns the bound port (also `self.port`)."""
        if in_subprocess:
            self._child = self._spawn()
            self.port = self._child.port
        else:
            server = build_server(self.config, self.custom_agent_classes)
            self.port = server.start_in_thread()  # its own runtime and loop thread
            self._server = server
            self._serving = server.runtime.submit(server.serve_until_stopped())
        return self.port

    def _spawn(self) -> ChildServer:
        config, scratch = self.config, None
        if self.custom_agent_classes:
            scratch = tempfile.mkdtemp(prefix="agentscope-classes-")  # mode 0700
            class_file = os.path.join(scratch, "classes.pkl")
            write_class_file(class_file, self.custom_agent_classes)
            config = config.replace(class_file=class_file)
        try:
            return spawn(config)
        finally:  # the child loaded the file before it reported READY
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def wait_until_terminate(self, timeout: Optional[float] = None) -> None:
        """Block until the server stops (StopServer, a signal, shutdown())."""
        if self._child is not None:
            self._child.process.wait(timeout)
        elif self._serving is not None:
            self._serving.result(timeout)

    def shutdown(self) -> None:
        """Stop the server (running calls get `shutdown_grace` seconds)."""
        if self._child is not None:
            self._child.stop()
            self._child = None
        if self._server is not None:
            server, self._server = self._server, None
            server.stop_in_thread()

    def __enter__(self) -> "RpcAgentServerLauncher":
        if self._child is None and self._server is None:
            self.launch()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


__all__ = ["RpcAgentServerLauncher", "build_server"]
