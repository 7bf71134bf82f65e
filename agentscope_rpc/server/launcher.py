"""`RpcAgentServerLauncher`: start an agent server here or in a subprocess."""
from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Any, Optional

from .agent_server import AgentServer
from .child import ChildServer, spawn
from .config import ServerConfig


class RpcAgentServerLauncher:
    """Launch, wait for and shut down one agent server.

    Settings are `ServerConfig` fields, given as keyword arguments or as a
    ready `config`.  `launch(in_subprocess=True)` starts a child process that
    exits with this one; `launch(in_subprocess=False)` serves on this
    process's agentscope-rpc event loop.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: Optional[ServerConfig] = None, **settings: Any):
        if config is None:
            config = ServerConfig(host=host, port=port, **settings)
        elif settings:
            config = dataclasses.replace(config, **settings)
        config.validate()
        self.config = config
        self.port: Optional[int] = config.port or None
        self._child: Optional[ChildServer] = None
        self._server: Optional[AgentServer] = None
        self._serving: Optional[concurrent.futures.Future] = None

    @property
    def host(self) -> str:
        return self.config.advertise_host or self.config.host

    @property
    def token(self) -> Optional[str]:
        return self.config.resolved_token()

    def launch(self, in_subprocess: bool = True) -> int:
        """Start serving; returns the bound port."""
        if in_subprocess:
            self._child = spawn(self.config)
            self.port = self._child.port
        else:
            self._server = AgentServer(self.config)
            self.port = self._server.start_in_thread()
            self._serving = self._server.runtime.submit(self._server.wait_stopped())
        return self.port

    def wait_until_terminate(self, timeout: Optional[float] = None) -> None:
        """Block until the server stops (StopServer, a signal, shutdown())."""
        if self._child is not None:
            self._child.process.wait(timeout)
        elif self._serving is not None:
            self._serving.result(timeout)

    def shutdown(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None
        if self._server is not None:
            server, self._server = self._server, None
            server.stop_in_thread()

    def __enter__(self) -> "RpcAgentServerLauncher":
        if self.port is None or (self._child is None and self._server is None):
            self.launch()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


__all__ = ["RpcAgentServerLauncher"]
