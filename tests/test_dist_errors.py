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
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from remote_proxies import attach
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
    ghost = attach(module_server.options, f"ghost_{uuid.uuid4().hex}", {"reply": True}, "ghost")
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
    ghost = ghost_class("g", to_dist=server.options)  # the proxy comes back at once (pipelined)
    with pytest.raises(AgentCreationError, match="code shipping is off"):
        ghost.wait_ready(timeout=30)
    with pytest.raises(AgentCreationError, match="code shipping is off"):
        ghost(None)  # its first use after that raises too
    _still_serves(server)  # importable classes still work without shipping


def test_shipped_class_with_code_shipping(module_server):
    shipped = type(
        "ShippedAgent",
        (AgentBase,),
        {"__module__": "no_such_module_anywhere", "reply": lambda self, x=None: Msg(self.name, "shipped")},
    )
    assert shipped("s", to_dist=module_server.options)(None).result(timeout=10).content == "shipped"


def test_constructor_raising(module_server):
    broken = BrokenInit("broken", to_dist=module_server.options)
    # a call queued behind the construction fails with it; once the failure has
    # arrived (it may already have, creation is pipelined), a call is refused at once
    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        broken(None).result(timeout=30)
    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        broken.wait_ready(timeout=30)
    with pytest.raises(AgentCreationError, match="constructor exploded on purpose"):
        broken(None)  # the failure is known now: refused before anything is sent
    _still_serves(module_server)


def _raw_session(server, frame_bytes):
    """Send one raw frame on a Session stream; (status error or None, frames received)."""
    channel = grpc.insecure_channel(f"{server.host}:{server.port}")
    try:
        session = channel.stream_stream(
            "/agentscope_rpc.AgentServer/Session", request_serializer=None, response_deserializer=None,
        )
        metadata = (("authorization", f"Bearer {server.token}"),)
        received = []
        try:
            for reply in session(iter([frame_bytes]), metadata=metadata, timeout=10):
                received.append(pb.ServerFrame.FromString(reply))
        except grpc.RpcError as err:
            return err, received
        return None, received
    finally:
        channel.close()


def _refusals(frames):
    return [item.event.refused for frame in frames for item in frame.items
            if item.WhichOneof("item") == "event" and item.event.WhichOneof("event") == "refused"]


def _garbage():
    rng = random.Random(1234)
    return bytes(rng.randrange(256) for _ in range(4096))


def _request_with_payload(kind, data):
    request = pb.CallRequest(agent_id="whoever", method="reply", task_id=uuid.uuid4().hex)
    request.args.kind = kind
    request.args.data = data
    return pb.ClientFrame(items=[pb.ClientItem(call=request)]).SerializeToString()


@pytest.mark.parametrize(
    "frame_bytes",
    [
        pytest.param(_garbage(), id="random-bytes"),
        pytest.param(b"\xff" * 64, id="invalid-wire-type"),
    ],
)
def test_garbage_frame_ends_the_session_with_a_clear_status(module_server, frame_bytes):
    err, _ = _raw_session(module_server, frame_bytes)
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    assert err.details()
    _still_serves(module_server)


@pytest.mark.parametrize(
    "frame_bytes",
    [
        pytest.param(_request_with_payload(pb.Payload.PICKLE, _garbage()), id="bad-pickle"),
        pytest.param(_request_with_payload(pb.Payload.JSON, b"{not json"), id="bad-json"),
        pytest.param(_request_with_payload(pb.Payload.JSON, b"[1, 2]"), id="bad-args-shape"),
    ],
)
def test_garbage_call_is_refused_with_a_clear_status(module_server, frame_bytes):
    err, frames = _raw_session(module_server, frame_bytes)
    assert err is None, err
    refused = _refusals(frames)
    assert len(refused) == 1 and refused[0].code in (
        grpc.StatusCode.INVALID_ARGUMENT.value[0], grpc.StatusCode.NOT_FOUND.value[0]), refused
    assert refused[0].details
    _still_serves(module_server)
