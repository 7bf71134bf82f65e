"""Agent servers: host agents as actors behind gRPC.

`RpcAgentServerLauncher` starts one from Python, `ServerConfig` holds every
setting, and `as_server` is the command line (`as_server start|stop|status`,
AgentScope 0.1.6's name for it).

The three are loaded on first use, so that `init()` can start the fork
server (`server.forks`, standard library only) without loading gRPC.
"""
from typing import Any

__all__ = ["RpcAgentServerLauncher", "ServerConfig", "as_server"]


def __getattr__(name: str) -> Any:
    if name == "as_server":
        from .cli import main

        return main
    if name == "ServerConfig":
        from .config import ServerConfig

        return ServerConfig
    if name == "RpcAgentServerLauncher":
        from .launcher import RpcAgentServerLauncher

        return RpcAgentServerLauncher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted([*globals(), *__all__])
