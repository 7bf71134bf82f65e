"""Errors of remote agents and bad requests; the server keeps serving after each."""
import random
import uuid

import grpc
import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import AgentCallError, AgentCreationError, AgentNotFoundError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import RemoteAgent
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc.client import Endpoint
from dist_agents import Appender, BrokenInit, Failing

pytestmark = pytest.mark.timeout(120)


def _still_serves(server):
    echo = Appender("alive", to_dist=server.options)
    assert echo(Msg("user", "still ")).result(timeout=10).content == "still alive"


def test_remote_exception_carries_type_message_and_traceback(module_server):
    agent = Failing("failer", to_dist=module_server.options)
    p = agent(Msg("user", "zzz"))
    with pytest.raises(AgentCallError) as info:
        p.result(timeout=10)
    err = info.value
    assert err.remote_type == "ValueError"
    assert err.remote_message == "bad input for failer: 'zzz'"
    assert "dist_agents" in err.remote_traceback and "__init__.py" in err.remote_traceback
    assert "raise ValueError" in err.remote_traceback
    assert err.agent_id == agent.agent_id
    with pytest.raises(AgentCallError):
        _ = p.content  # attribute access raises the same error
    with pytest.raises(AgentCallError):  # the agent keeps working (and failing)
        agent(None).result(timeout=10)
    _still_serves(module_server)


def test_unknown_agent_id(module_server):
    endpoint = Endpoint(module_server.host, module_server.port, module_server.token)
    ghost = RemoteAgent(endpoint, f"ghost_{uuid.uuid4().hex}", "ghost", [])
    with pytest.raises(AgentNotFoundError):
        ghost(None).result(timeout=10)
    deleted = Appender("deleted", to_dist=module_server.options)
    deleted.delete()
    with pytest.raises(AgentNotFoundError):
        deleted(None).result(timeout=10)
    _still_serves(module_server)


def test_unknown_class_without_code_shipping(module_server_factory):
    server = module_server_factory(code_shipping=False)
    # a class the server cannot import (its module exists nowhere on the server)
    ghost_class = type("GhostAgent", (AgentBase,), {"__module__": "no_such_module_anywhere", "reply": lambda self, x=None: x})
    with pytest.raises(AgentCreationError, match="code shipping is off"):
        ghost_class("g", to_dist=server.options)
    _still_serves(server)  # importable classes still work without shipping


def test_shipped_class_with_code_shipping(module_server):
    shipped = type(
        "ShippedAgent",
        (AgentBase,),
        {"__module__": "no_such_module_anywhere", "reply": lambda self, x=None: Msg(self.name, "shipped")},
    )
    assert shipped("s", to_dist=module_server.options)(None).result(timeout=10).content == "shipped"


def test_constructor_raising(module_server):
    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        BrokenInit("broken", to_dist=module_server.options)
    _still_serves(module_server)


def _raw_call(server, request_bytes):
    channel = grpc.insecure_channel(f"{server.host}:{server.port}")
    try:
        call = channel.unary_stream(
            "/agentscope_rpc.AgentServer/Call",
            request_serializer=None,
            response_deserializer=None,
        )
        metadata = (("authorization", f"Bearer {server.token}"),)
        with pytest.raises(grpc.RpcError) as info:
            list(call(request_bytes, metadata=metadata, timeout=10))
        return info.value
    finally:
        channel.close()


def _garbage():
    rng = random.Random(1234)
    return bytes(rng.randrange(256) for _ in range(4096))


def _request_with_payload(kind, data):
    agent_id = "whoever"
    request = pb.CallRequest(agent_id=agent_id, method="reply", task_id=uuid.uuid4().hex, caller_id="raw")
    request.args.kind = kind
    request.args.data = data
    return request.SerializeToString()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(_garbage(), id="random-bytes"),
        pytest.param(b"\xff" * 64, id="invalid-wire-type"),
        pytest.param(_request_with_payload(pb.Payload.PICKLE, _garbage()), id="bad-pickle"),
        pytest.param(_request_with_payload(pb.Payload.JSON, b"{not json"), id="bad-json"),
        pytest.param(_request_with_payload(pb.Payload.JSON, b"[1, 2]"), id="bad-args-shape"),
    ],
)
def test_garbage_request_gets_a_clear_status(module_server, request_bytes):
    err = _raw_call(module_server, request_bytes)
    assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL), err
    assert err.details()
    _still_serves(module_server)
