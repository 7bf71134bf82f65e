"""What a fleet asks its servers: `GetServerInfo` (pid, agent count, ...).

This is the one place the deploy package talks to a server directly.  It
uses the client that agent proxies use today; when `agentscope_rpc.rpc`
offers AgentScope v0's `RpcClient(host, port, token).get_server_info()`,
only `_query` changes.
"""
from __future__ import annotations

from google.protobuf.json_format import MessageToDict

from ..exception import AgentServerError, AgentServerNotAliveError
from ..rpc._proto import agent_server_pb2 as pb
from ..rpc.client import RpcClient
from ..rpc.proxy import resolve_endpoint
from .address import ServerAddress


def server_info(server: ServerAddress, timeout: float = 2.0) -> dict:
    """The server's own account of itself: pid, agent_count, running_calls, uptime_s, ...

    Raises `AgentServerNotAliveError` when the server does not answer
    within `timeout` seconds, `AgentServerError` when it refuses (e.g. a
    wrong token).
    """
    try:
        return _query(server, timeout)
    except (AgentServerError, AgentServerNotAliveError):
        raise
    except TimeoutError:
        raise AgentServerNotAliveError(
            f"agent server {server.address} did not answer within {timeout}s", server.host, server.port,
        ) from None


def agent_count(server: ServerAddress, timeout: float = 2.0) -> int:
    """How many agents the server hosts now."""
    return int(server_info(server, timeout)["agent_count"])


def _query(server: ServerAddress, timeout: float) -> dict:
    endpoint, _ = resolve_endpoint(server.options())
    client = RpcClient.get(endpoint)
    reply = client.run(client.unary("GetServerInfo", pb.Empty(), deadline=timeout), timeout=timeout * 4 + 1)
    return MessageToDict(reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
