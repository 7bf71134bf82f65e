"""What a fleet asks its servers: `GetServerInfo` (pid, agent count, ...).

The one place the deploy package talks to a server directly, through
AgentScope v0's management client (`agentscope_rpc.rpc.RpcClient`), which
shares the runtime's connection to that server with the agents' proxies.
"""
from __future__ import annotations

from ..rpc import RpcClient
from .address import ServerAddress


def server_info(server: ServerAddress) -> dict:
    """The server's own account of itself: pid, agent_count, running_calls, uptime_s, ...

    Raises `AgentServerNotAliveError` when the server cannot be reached
    (within the client's management deadline), `AgentServerError` when it
    refuses (e.g. `AuthenticationError` for a wrong token).
    """
    tls = dict(server.tls)
    return RpcClient(server.host, server.port, token=server.token,
                     tls_root_cert=_pem(tls.get("tls_root_cert", ""))).get_server_info()


def agent_count(server: ServerAddress) -> int:
    """How many agents the server hosts now."""
    return int(server_info(server)["agent_count"])


def _pem(value: str) -> str:
    """A PEM given inline or as a path (as `to_dist`'s TLS options take it)."""
    if not value or "-----BEGIN" in value:
        return value
    with open(value, encoding="utf-8") as fh:
        return fh.read()
