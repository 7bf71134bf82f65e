"""`RpcClient`: AgentScope v0's management client for one agent server.

    client = RpcClient("10.0.0.5", 12010, token=...)
    client.is_alive(); client.get_server_info(); client.get_agent_list()

Every method is a unary management RPC with a deadline, on the current
runtime's connection to that server (shared with the proxies of agents
living there).  Return shapes follow AgentScope 0.1.6 (lists of dicts,
booleans).  `download_file` is not offered: servers never read arbitrary
files for clients (docs/porting.md).
"""
from __future__ import annotations

import json
import os
from typing import Any, Optional, Union

from .. import runtime
from ..exception import AgentScopeRpcError
from . import codec
from ._proto import agent_server_pb2 as pb

ALIVE_DEADLINE = 5.0


class RpcClient:
    """AgentScope v0's management client of one agent server.

    Each method is a unary management RPC with a deadline (`timeout`
    seconds), on the current runtime's connection to that server.
    """

    def __init__(self, host: str, port: int, token: Optional[str] = None, tls_root_cert: str = "",
                 tls_client_cert: str = "", tls_client_key: str = "", timeout: float = 10.0) -> None:
        self.host = host
        self.port = int(port)
        self.timeout = timeout  # the deadline of each management call, in seconds
        token = token if token is not None else os.environ.get(codec.TOKEN_ENV, "")
        endpoint = codec.Endpoint(host, self.port, token, tls_root_cert, tls_client_cert, tls_client_key)
        self._conn = runtime.current().connection(endpoint)

    @classmethod
    def for_connection(cls, connection: Any) -> "RpcClient":
        """The client of an existing connection (what a proxy's `.client` is)."""
        client = cls.__new__(cls)
        client.host, client.port, client._conn = connection.endpoint.host, connection.endpoint.port, connection
        client.timeout = 10.0
        return client

    @property
    def url(self) -> str:
        """`host:port` of the server."""
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"RpcClient({self.url})"

    def _run(self, method: str, request: Any, idempotent: bool = True) -> Any:
        return self._conn.run(method, request, self.timeout, idempotent)

    def is_alive(self) -> bool:
        """True when the server answers within a few seconds."""
        deadline = min(self.timeout, ALIVE_DEADLINE)
        try:
            self._conn.runtime.run_sync(
                self._conn.unary("GetServerInfo", pb.Empty(), deadline, idempotent=False), deadline + 5,
            )
            return True
        except Exception:  # pylint: disable=broad-except
            return False

    def stop(self) -> None:
        """Ask the server to stop."""
        self._run("StopServer", pb.Empty(), idempotent=False)

    def get_server_info(self) -> dict:
        """pid, address, cpu and memory use, agent and call counts, version, uptime."""
        info = self._run("GetServerInfo", pb.Empty())
        return {
            "id": info.server_id, "instance_id": info.instance_id, "pid": info.pid, "host": info.host,
            "port": info.port, "cpu": info.cpu_percent, "mem": info.memory_mb, "size": info.agent_count,
            "agent_count": info.agent_count, "running_calls": info.running_calls,
            "stored_results": info.stored_results, "stored_result_bytes": info.stored_result_bytes,
            "version": info.version, "code_shipping": info.code_shipping, "uptime_s": info.uptime_s,
        }

    def get_agent_list(self) -> list[dict]:
        """One dict per agent: agent_id, name, type, memory size, busy, queued calls."""
        agents = self._run("ListAgents", pb.Empty())
        return [
            {"agent_id": a.agent_id, "name": a.name, "type": a.class_name, "memory_size": a.memory_size,
             "busy": a.busy, "queued": a.queued}
            for a in agents.agents
        ]

    def get_agent_memory(self, agent_id: str) -> list:
        """The agent's memory as a list of message dicts."""
        payload = self._run("GetAgentMemory", pb.AgentRef(agent_id=agent_id))
        return json.loads(payload.data or b"[]")

    def delete_agent(self, agent_id: str) -> bool:
        """Remove one agent; False if the server has no such agent."""
        try:
            self._run("DeleteAgent", pb.AgentRef(agent_id=agent_id), idempotent=False)
            return True
        except AgentScopeRpcError:
            return False

    def delete_all_agent(self) -> bool:
        """Remove every agent on the server."""
        self._run("DeleteAllAgents", pb.Empty(), idempotent=False)
        return True

    def set_model_configs(self, model_configs: Union[dict, list]) -> bool:
        """Register model configs on the running server (they override same-named ones)."""
        configs = [model_configs] if isinstance(model_configs, dict) else list(model_configs)
        self._run("SetModelConfigs", pb.ModelConfigs(configs_json=json.dumps(configs)))
        return True

    def __reduce__(self) -> tuple:
        ep = self._conn.endpoint
        return (RpcClient, (ep.host, ep.port, ep.token, ep.root_cert, ep.client_cert, ep.client_key, self.timeout))
