"""A proxy for an agent id on a server, built by hand (tests of unknown ids and wrong tokens)."""
from __future__ import annotations

from typing import Any

from agentscope_rpc import runtime


def attach(options: dict, agent_id: str, methods: dict, name: str = "") -> Any:
    """A proxy for an agent id on a server, as if it existed there (tokens as given)."""
    from agentscope_rpc.rpc import RemoteAgent
    from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
    from agentscope_rpc.rpc.codec import Endpoint
    from agentscope_rpc.rpc.placeholder import AsyncResult

    connection = runtime.default().connection(Endpoint(options["host"], options["port"], options.get("token") or ""))
    ready = AsyncResult()
    ready._set_result((pb.Created(agent_id=agent_id, name=name), ""))  # pylint: disable=protected-access
    return RemoteAgent(connection, agent_id, methods, ready, name)
