"""Agent servers: host agents as actors behind gRPC."""
from .config import ServerConfig
from .launcher import RpcAgentServerLauncher

__all__ = ["RpcAgentServerLauncher", "ServerConfig"]
