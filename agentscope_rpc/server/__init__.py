"""Agent servers: host agents as actors behind gRPC.

`RpcAgentServerLauncher` starts one from Python, `ServerConfig` holds every
setting, and `as_server` is the command line (`as_server start|stop|status`,
AgentScope 0.1.6's name for it).
"""
from .cli import main as as_server
from .config import ServerConfig
from .launcher import RpcAgentServerLauncher

__all__ = ["RpcAgentServerLauncher", "ServerConfig", "as_server"]
