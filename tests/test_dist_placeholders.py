"""Placeholders: waiting, timeouts, server-to-server hand-off, many consumers."""
import threading
import time

import pytest

from agentscope_rpc.exception import StreamCancelledError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import AsyncResult
from dist_agents import Appender, BigProducer, Digest, digest, pattern

pytestmark = pytest.mark.timeout(120)

BIG = 4 * 1024 * 1024  # characters in the producer's reply


@pytest.fixture(scope="module")
def two_servers(module_server_factory):
    return module_server_factory(), module_server_factory()


def _started_event(proxy):
    """An event set when the remote agent's first speech reaches this process."""
    started = threading.Event()
    proxy.register_hook("pre_speak", "started", lambda *_: started.set())
    return started


def test_handoff_is_server_to_server(two_servers):
    """B gets A's multi-MB result from A's server, not from the orchestrator.

    Method: the orchestrator hands A's placeholder to B while A is still
    running, so the only request it sends B carries a reference (the request
    is encoded inside the call, before it returns, and A's result did not
    exist yet).  Then the orchestrator cancels its own call stream to A as
    soon as A has started: its copy of A's result is never delivered (the
    placeholder raises StreamCancelledError), yet A runs to completion (its
    reply speaks only before sleeping, and speech is where a cancelled call
    reaches agent code) and B reports the exact length and sha256 of A's
    content.  The bytes B read can only have come from A's server through
    FetchResult.
    """
    server_a, server_b = two_servers
    producer = BigProducer("producer", BIG, delay=1.0, to_dist=server_a.options)
    consumer = Digest("consumer", to_dist=server_b.options)
    started = _started_event(producer)
    p = producer(Msg("user", "go"))
    q = consumer(p)
    assert not p.done()  # so q's request carried a reference
    assert started.wait(10)
    p.cancel()
    with pytest.raises(StreamCancelledError):
        p.result(timeout=10)
    assert q.result(timeout=30).content == {"len": BIG, "sha": digest(pattern(BIG)), "from": "producer"}
    assert consumer.get_memory()[-1].content["len"] == BIG  # recorded on server B


def test_one_placeholder_many_consumers(two_servers):
    server_a, server_b = two_servers
    producer = BigProducer("prod", 1_000_000, delay=0.5, to_dist=server_a.options)
    consumers = [
        Digest("on-b-1", to_dist=server_b.options),
        Digest("on-b-2", to_dist=server_b.options),
        Digest("on-a", to_dist=server_a.options),  # the producer's own server
    ]
    p = producer(None)
    results = [consumer(p) for consumer in consumers]
    assert not p.done()
    expected = {"len": 1_000_000, "sha": digest(pattern(1_000_000)), "from": "prod"}
    assert [r.result(timeout=30).content for r in results] == [expected] * 3
    assert p.content == pattern(1_000_000)  # the orchestrator can read it as well
    late = Digest("late", to_dist=server_b.options)
    assert late(p).content == expected  # a resolved placeholder travels as its value


def test_attribute_access_waits_for_the_value(two_servers):
    slow = Appender("slow", delay=0.5, to_dist=two_servers[0].options)
    p = slow(Msg("user", "x-"))
    assert isinstance(p, AsyncResult) and not p.done()
    start = time.monotonic()
    assert p.content == "x-slow"
    assert time.monotonic() - start > 0.2
    assert p.done() and p.name == "slow" and p.result() is p.result()


def test_result_timeout_raises_a_timeout_error(two_servers):
    slow = Appender("slower", delay=2.0, to_dist=two_servers[0].options)
    p = slow(None)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        p.result(timeout=0.1)
    assert time.monotonic() - start < 1.0
    assert p.result(timeout=10).content == "slower"  # still resolves afterwards


def _long_reply_resolves(servers, seconds):
    server_a, server_b = servers
    producer = Appender("long", delay=seconds, to_dist=server_a.options)
    relay = Appender("next", to_dist=server_b.options)
    p = producer(Msg("user", "t:"))
    q = relay(p)  # server B waits on A's placeholder for the whole reply
    assert q.result(timeout=seconds + 60).content == "t:longnext"
    assert p.result(timeout=5).content == "t:long"


@pytest.mark.timeout(180)
def test_reply_longer_than_internal_budgets_resolves(two_servers):
    _long_reply_resolves(two_servers, 20.0)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_minute_reply_resolves(two_servers):
    _long_reply_resolves(two_servers, 180.0)
