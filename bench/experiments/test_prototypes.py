"""The latency prototypes do the real work: real servers in subprocesses, real gRPC, real agents.

    .venv/bin/python -m pytest -q bench/experiments/test_prototypes.py
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from typing import Any, Iterator

import pytest

from agentscope_rpc import runtime
from agentscope_rpc.exception import AgentCallError, AgentNotFoundError, AuthenticationError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import codec
from agentscope_rpc.server import RpcAgentServerLauncher

from bench.experiments import _procs, floors, latency
from bench.experiments._agents import Counter, Failing
from bench.experiments.direct_session import DirectAgent, DirectSession
from bench.experiments.sync_client import UnaryClient
from bench.workloads_ours import Echo, Sleeper

TINY = Msg("test", "hi", role="user")
WAIT_S = 30.0  # generous: the machine is shared


@pytest.fixture(scope="module")
def todays_server() -> Iterator[codec.Endpoint]:
    """Today's agent server (unchanged), in a subprocess."""
    runtime.default().set_printer(None)
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0, token=token)
    port = launcher.launch(in_subprocess=True)
    try:
        yield codec.Endpoint("127.0.0.1", port, token)
    finally:
        launcher.shutdown()


@pytest.fixture(scope="module")
def sync_server() -> Iterator[codec.Endpoint]:
    """The prototype sync-stack server, in a subprocess."""
    token = secrets.token_urlsafe(16)
    proc, port = _procs.spawn_server("bench.experiments.sync_server", [], {codec.TOKEN_ENV: token})
    try:
        yield codec.Endpoint("127.0.0.1", port, token)
    finally:
        _procs.stop(proc)


def _session_to(endpoint: codec.Endpoint) -> Iterator[DirectSession]:
    session = DirectSession(endpoint)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(params=["todays_server", "sync_server"])
def direct(request: Any) -> Iterator[DirectSession]:
    """(a)'s client on today's server and on the sync server's session."""
    yield from _session_to(request.getfixturevalue(request.param))


@pytest.fixture(params=["a_on_todays_server", "a_on_sync_session", "b_sync_unary"])
def client(request: Any) -> Iterator[Any]:
    """Every prototype client / server pair."""
    if request.param == "b_sync_unary":
        made: Any = UnaryClient(request.getfixturevalue("sync_server"))
    else:
        made = DirectSession(request.getfixturevalue(
            "todays_server" if request.param == "a_on_todays_server" else "sync_server"))
    try:
        yield made
    finally:
        made.close()


def test_a_reply_comes_back_as_a_message(client: Any) -> None:
    agent = DirectAgent(client, client.create(Echo, "echo"))
    reply = agent(TINY).result(timeout=WAIT_S)
    assert isinstance(reply, Msg)
    assert (reply.name, reply.content) == ("echo", "ok")


def test_arguments_reach_the_agent_intact(client: Any) -> None:
    agent = DirectAgent(client, client.create(Counter, "counter"))
    content = {"text": "héllo", "list": [1, 2.5, None], "nested": {"ok": True}}
    reply = agent(Msg("test", content)).result(timeout=WAIT_S)
    assert reply.content == {"n": 1, "sent": content}


def test_a_remote_exception_arrives_with_its_type_and_message(client: Any) -> None:
    agent = DirectAgent(client, client.create(Failing, "failing"))
    with pytest.raises(AgentCallError) as caught:
        agent(Msg("test", "this")).result(timeout=WAIT_S)
    assert caught.value.remote_type == "ValueError"
    assert "failing refuses 'this'" in caught.value.remote_message


def test_an_unknown_agent_or_a_private_method_is_refused(client: Any) -> None:
    with pytest.raises(AgentNotFoundError):
        client.call("no-such-agent", "reply", (TINY,)).result(timeout=WAIT_S)
    agent_id = client.create(Echo, "echo")
    with pytest.raises(Exception, match="private"):
        client.call(agent_id, "_secret").result(timeout=WAIT_S)


def test_session_calls_to_one_agent_run_in_the_order_sent(direct: DirectSession) -> None:
    agent = DirectAgent(direct, direct.create(Counter, "counter"))
    pending = [agent(Msg("test", i)) for i in range(300)]
    replies = [p.result(timeout=WAIT_S).content for p in pending]
    assert replies == [{"n": i + 1, "sent": i} for i in range(300)]


def test_a_blocking_reply_does_not_hold_up_another_agent_on_the_same_session(direct: DirectSession) -> None:
    sleeper = DirectAgent(direct, direct.create(Sleeper, "sleeper"))
    echo = DirectAgent(direct, direct.create(Echo, "echo"))
    asleep = sleeper(Msg("test", 3.0))
    start = time.monotonic()
    assert echo(TINY).result(timeout=WAIT_S).content == "ok"
    assert not asleep.done(), "the echo waited for the sleeper"
    assert time.monotonic() - start < 2.5
    assert asleep.result(timeout=WAIT_S).content == "woke"


def test_many_blocking_replies_sleep_together(client: Any) -> None:
    sleepers = [DirectAgent(client, client.create(Sleeper, f"s{i}")) for i in range(30)]
    start = time.monotonic()
    pending = [s(Msg("test", 1.0)) for s in sleepers]
    assert [p.result(timeout=WAIT_S).content for p in pending] == ["woke"] * 30
    assert time.monotonic() - start < 15  # serially it would take 30 s


def test_calls_from_many_threads_all_get_their_own_reply(client: Any) -> None:
    agent = DirectAgent(client, client.create(Counter, "counter"))
    seen: list = []
    lock = threading.Lock()

    def caller(k: int) -> None:
        for i in range(50):
            content = agent(Msg("test", (k, i))).result(timeout=WAIT_S).content
            with lock:
                seen.append((content["n"], content["sent"]))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert sorted(n for n, _ in seen) == list(range(1, 201))  # each call ran once
    assert sorted(tuple(s) for _, s in seen) == sorted((k, i) for k in range(4) for i in range(50))


def test_a_wrong_token_is_refused(sync_server: codec.Endpoint, todays_server: codec.Endpoint) -> None:
    for endpoint in (sync_server, todays_server):
        wrong = codec.Endpoint(endpoint.host, endpoint.port, "not-the-token")
        session = DirectSession(wrong)
        try:
            with pytest.raises(AuthenticationError):
                session.call("anyone", "reply", (TINY,)).result(timeout=WAIT_S)
        finally:
            session.close()
    client = UnaryClient(codec.Endpoint(sync_server.host, sync_server.port, "not-the-token"))
    try:
        with pytest.raises(AuthenticationError):
            client.call("anyone", "reply", (TINY,)).result(timeout=WAIT_S)
    finally:
        client.close()


def test_a_session_to_a_stopped_server_fails_its_calls() -> None:
    token = secrets.token_urlsafe(16)
    proc, port = _procs.spawn_server("bench.experiments.sync_server", [], {codec.TOKEN_ENV: token})
    session = DirectSession(codec.Endpoint("127.0.0.1", port, token))
    try:
        agent = DirectAgent(session, session.create(Sleeper, "sleeper"))
        pending = agent(Msg("test", 30.0))
        proc.kill()
        with pytest.raises(Exception) as caught:
            pending.result(timeout=WAIT_S)
        assert "not reachable" in str(caught.value) or "closed" in str(caught.value)
    finally:
        session.close()
        _procs.stop(proc)


@pytest.mark.parametrize("mode, make", [("serve-aio", floors.AioStreamFloor), ("serve-sync", floors.SyncStreamFloor),
                                        ("serve-sync", floors.SyncUnaryFloor)])
def test_the_floor_echoes(mode: str, make: Any) -> None:
    proc, port = _procs.spawn_server("bench.experiments.floors", [mode])
    try:
        floor = make(port)
        samples = floor.block(20) if hasattr(floor, "block") else [floor.one() for _ in range(20)]
        assert len(samples) == 20
        if hasattr(floor, "burst"):
            assert floor.burst(500) > 0  # raises unless all 500 messages arrived
        floor.close()
    finally:
        _procs.stop(proc)


def test_the_coordinator_alternates_and_summarises(tmp_path: Any) -> None:
    assert latency.main(["--rounds", "2", "--block", "5", "--warm", "1", "--systems", "today,ab_sync_session",
                         "--tag", "test", "--out", str(tmp_path)]) == 0
    (result,) = [p for p in os.listdir(tmp_path) if p.endswith(".json")]
    with open(tmp_path / result, encoding="utf-8") as fh:
        record = json.load(fh)
    assert [len(b["samples_us"]) for b in record["blocks"]["ab_sync_session"]] == [5, 5]
    assert record["summary"]["ab_sync_session"]["calls"] == 10
    assert 0 < record["summary"]["ab_sync_session"]["ratio_median"]
    assert len(record["load"]) == 3
