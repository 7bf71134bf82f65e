"""`@pipeline` apps and the runtime stream with agents on real servers."""
import time

import pytest

from agentscope_rpc.exception import StreamTimeoutError
from agentscope_rpc.message import Msg
from agentscope_rpc.streaming import SpeakChunk, get_runtime_stream, pipeline, put_into_stream, stop_stream
from stream_agents import Endless, Putter, SpeechLog, Talker

pytestmark = pytest.mark.timeout(120)


def wait_until(predicate, timeout):
    """Poll an outside observation (a file, a remote attribute) until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def said(name, heard):
    """What a `Talker` called `name` answers to `heard`."""
    return " ".join([name, "heard:", *heard.split()[-3:]]) + " "


def test_seed_example_two_remote_agents_converse():
    alice, bob = Talker("alice", to_dist=True), Talker("bob", to_dist=True)  # child servers

    @pipeline
    def conversation(turns):
        x = Msg("user", "shall we talk", role="user")
        for _ in range(turns):
            x = alice(x)
            x = bob(x)

    try:
        msgs = list(conversation(3))
    finally:
        alice.stop_server()
        bob.stop_server()
    assert [m.name for m in msgs] == ["alice", "bob"] * 3
    heard = "shall we talk"
    for msg in msgs:
        assert msg.content == said(msg.name, heard)
        heard = msg.content


def test_leaving_a_chunk_loop_early_stops_the_remote_generator(module_server, tmp_path):
    marker = tmp_path / "stopped"
    ticker = Endless("ticker", str(marker), to_dist=module_server.options)

    @pipeline(chunks=True)
    def app():
        ticker(None)

    seen = SpeechLog()
    for i, chunk in enumerate(app()):
        assert isinstance(chunk, SpeakChunk) and not chunk.last
        seen.chunk(chunk)
        if i == 20:
            break  # the generator is closed: the app and its remote call are cancelled
    seen.assert_clean()
    assert wait_until(marker.exists, 5.0), "the remote generator kept running"
    assert ticker.stopped
    ticks = ticker.ticks
    time.sleep(0.2)
    assert ticker.ticks == ticks  # nothing runs on the server any more


def test_puts_from_app_and_remote_agent_arrive_in_order(module_server):
    putter = Putter("putter", count=3, to_dist=module_server.options)

    @pipeline
    def app():
        put_into_stream("app: start")
        putter(None).result(timeout=30)
        put_into_stream("app: end")

    items = [(m.name, m.content) if isinstance(m, Msg) else m for m in app()]
    assert items == [
        "app: start",
        ("putter", "before"),
        {"from": "putter", "i": 0},
        {"from": "putter", "i": 1},
        {"from": "putter", "i": 2},
        ("putter", "after"),
        "app: end",
    ]


def test_stop_stream_from_remote_agent_ends_the_stream(module_server):
    putter = Putter("stopper", count=2, stop=True, to_dist=module_server.options)

    @pipeline
    def app():
        putter(None).result(timeout=30)
        put_into_stream("too late")

    items = [(m.name, m.content) if isinstance(m, Msg) else m for m in app()]
    assert items == [("stopper", "before"), {"from": "stopper", "i": 0}, {"from": "stopper", "i": 1}]


def test_stop_stream_from_app_code_ends_the_stream():
    @pipeline
    def app():
        put_into_stream(1)
        stop_stream()
        put_into_stream(2)

    assert list(app()) == [1]


def test_runtime_stream_outside_apps(module_server):
    putter = Putter("loose", count=2, to_dist=module_server.options)
    put_into_stream("here")
    putter(None).result(timeout=30)  # no app: its puts go to the runtime stream
    stop_stream()
    assert list(get_runtime_stream(timeout=5)) == ["here", {"from": "loose", "i": 0}, {"from": "loose", "i": 1}]


def test_runtime_stream_times_out_when_nothing_is_put():
    start = time.monotonic()
    with pytest.raises(StreamTimeoutError):
        next(get_runtime_stream(timeout=0.5))
    assert 0.4 <= time.monotonic() - start < 5


def test_async_app_error_is_raised_after_the_items_before_it(module_server):
    talker = Talker("tal", to_dist=module_server.options)

    @pipeline
    async def app():
        reply = await talker(Msg("user", "hello async world"))
        put_into_stream({"got": reply.content})
        raise RuntimeError("the app failed here")

    items = []
    with pytest.raises(RuntimeError, match="the app failed here"):
        for item in app():
            items.append(item)
    expected = said("tal", "hello async world")
    assert [(m.name, m.content) for m in items[:1]] == [("tal", expected)]
    assert items[1:] == [{"got": expected}]
