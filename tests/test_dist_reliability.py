"""Failures never hang: killed servers, cancelled producers (DESIGN §4 Delivery)."""
import os
import signal
import threading
import time

import pytest

from agentscope_rpc.exception import AgentCallError, AgentServerNotAliveError
from agentscope_rpc.message import Msg
from dist_agents import Appender, BigProducer, Digest

pytestmark = pytest.mark.timeout(120)


def _producer(server, delay):
    """A remote agent that speaks "started" and then sleeps; plus an event for that speech."""
    producer = BigProducer("producer", 10, delay=delay, to_dist=server.options)
    started = threading.Event()
    producer.register_hook("pre_speak", "started", lambda *_: started.set())
    return producer, started


def test_killed_server_fails_pending_call_quickly(server):
    producer, started = _producer(server, delay=30)
    p = producer(None)
    assert started.wait(10)
    os.kill(server.pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(AgentServerNotAliveError):
        p.result(timeout=20)
    assert time.monotonic() - start < 5
    with pytest.raises(AgentServerNotAliveError):  # later calls fail too, quickly
        producer(None).result(timeout=20)


def test_killed_producer_fails_the_fetching_server(server_factory):
    server_a, server_b = server_factory(), server_factory()
    producer, started = _producer(server_a, delay=30)
    consumer = Digest("consumer", to_dist=server_b.options)
    p = producer(None)
    q = consumer(p)  # server B waits for A's result
    assert started.wait(10)
    os.kill(server_a.pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(AgentCallError) as info:
        q.result(timeout=30)
    assert info.value.remote_type == "AgentServerNotAliveError"
    assert time.monotonic() - start < 10
    with pytest.raises(AgentServerNotAliveError):
        p.result(timeout=10)
    assert Appender("b-alive", to_dist=server_b.options)(None).result(timeout=10).content == "b-alive"


def test_killed_consumer_server_fails_its_call(server_factory):
    server_a, server_b = server_factory(), server_factory()
    producer, _ = _producer(server_a, delay=1)
    consumer = Digest("consumer", to_dist=server_b.options)
    q = consumer(producer(None))
    os.kill(server_b.pid, signal.SIGKILL)
    with pytest.raises(AgentServerNotAliveError):
        q.result(timeout=10)


def test_cancelled_queued_call_fails_its_fetchers(server_factory):
    """A call cancelled while still queued never runs; whoever waits for its
    result (here: another server) gets an error instead of waiting forever."""
    server_a, server_b = server_factory(), server_factory()
    producer, started = _producer(server_a, delay=1.0)
    consumer = Digest("consumer", to_dist=server_b.options)
    first = producer(None)
    queued = producer(Msg("user", "never runs"))
    q = consumer(queued)
    assert started.wait(10)
    queued.cancel()
    assert first.result(timeout=10).content == "abcdefghij"
    start = time.monotonic()
    with pytest.raises(AgentCallError) as info:
        q.result(timeout=20)
    assert info.value.remote_type == "StreamCancelledError"
    assert time.monotonic() - start < 5


def test_deleted_agent_fails_the_fetchers_of_its_queued_calls(server_factory):
    server_a, server_b = server_factory(), server_factory()
    producer, started = _producer(server_a, delay=1.0)
    consumer = Digest("consumer", to_dist=server_b.options)
    producer(None)
    q = consumer(producer(None))
    assert started.wait(10)
    producer.delete()
    with pytest.raises(AgentCallError, match="deleted|no agent"):
        q.result(timeout=20)
