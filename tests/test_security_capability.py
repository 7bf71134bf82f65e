"""Capability-scoped placeholders (issue 11 item 10, DESIGN §8).

A placeholder of server A handed to server B must not give B A's token:
B records what it received (an `Inspector` pickles its argument and the
reference of the placeholder in it) and the test asserts that A's token is
not in it, nor in the bytes the orchestrator puts on the wire.  What B
holds must let it fetch exactly that one result: every string in the
reference is tried as a credential against A's management RPCs, agent
creation, calls, and a fetch of another task; all are refused.
"""
from __future__ import annotations

import cloudpickle
import grpc
import pytest

import raw_wire as raw
from agentscope_rpc.message import Msg
from dist_agents import Appender
from fault_agents import Box, Inspector

pytestmark = pytest.mark.timeout(120)

DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@pytest.fixture
def handed_over(server_factory):
    """(server A, server B, placeholder made on A, its reference as B holds it (pickled), all B
    recorded, another pending call on A)."""
    a, b = server_factory(), server_factory()
    producer = Appender("producer", delay=3.0, to_dist=a.options)
    bystander = Appender("bystander", delay=3.0, to_dist=a.options)
    made = producer(Msg("user", "made-"))
    other = bystander(Msg("user", "private-"))
    seen = Inspector("inspector", to_dist=b.options).inspect(Box(made)).result(timeout=30)
    blob = bytes.fromhex(seen["arg"]) + bytes.fromhex(seen["ref"])
    assert made.task_id.encode() in blob, "B holds no reference: the test proves nothing"
    return a, b, made, bytes.fromhex(seen["ref"]), blob, other


def test_the_receiving_server_never_sees_the_producers_token(handed_over):
    a, _b, made, _ref, blob, _other = handed_over
    assert a.token.encode() not in blob, "a placeholder handed to another server carries the producer's token"
    wire = raw.wire_form(made)
    assert made.task_id.encode() in wire
    assert a.token.encode() not in wire, "the orchestrator puts the producer's token on the wire"


def test_the_reference_fetches_that_result_and_nothing_else(handed_over):
    a, b, made, ref_blob, _blob, other = handed_over
    held = cloudpickle.loads(ref_blob)  # the reference exactly as B holds it
    got = raw.fetch_with_ref(held)
    assert got.ok and got.value().content == "made-producer", got
    stolen = raw.fetch_with_ref(held, task_id=other.task_id, timeout=15)
    assert stolen.refused and stolen.status in DENIED, f"the capability fetched another task: {stolen}"
    bystander_id = _agent_ids(a)
    for credential in raw.ref_credentials(held):
        target = raw.Target(a.host, a.port, credential)
        try:
            for method in ("ListAgents", "GetServerInfo", "DeleteAllAgents"):
                outcome = raw.manage(target, method)
                assert outcome.status in DENIED, f"{method} with a placeholder's {credential[:6]}...: {outcome}"
            created = raw.create(target, raw.create_request("Appender", "dist_agents", raw.json_args("intruder")))
            assert created.status in DENIED, created
            for agent_id in bystander_id:
                called = raw.call(target, raw.call_request(agent_id, args=raw.json_args(Msg("user", "x", "user"))))
                assert called.status in DENIED, called
        finally:
            target.close()
    assert other.result(timeout=20).content == "private-bystander"
    assert made.result(timeout=20).content == "made-producer"
    assert b.process.poll() is None


def _agent_ids(server) -> list:
    target = raw.Target.of(server)
    try:
        return [agent.agent_id for agent in raw.manage(target, "ListAgents").reply.agents]
    finally:
        target.close()
