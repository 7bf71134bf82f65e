"""Speech relayed from real agent servers to the orchestrator (DESIGN §5).

What "sees every chunk" means here: the relay may fold consecutive deltas of
one message into one chunk when the orchestrator falls behind (DESIGN §5,
backpressure), so a hook can be called fewer times than the agent spoke.
What may never happen: a chunk out of order, text lost or duplicated (each
snapshot extends the previous one; the last equals the spoken message),
`last=True` more or less than once, or chunks of two messages mixed.
"""
import io
import time

import psutil
import pytest

from agentscope_rpc import runtime, speech
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.exception import AgentCallError
from agentscope_rpc.message import Msg
from agentscope_rpc.streaming import pipeline
from stream_agents import Relayer, SpeechLog, Streamer, numbered

pytestmark = pytest.mark.timeout(120)


def test_proxy_hook_sees_5000_chunks_in_order(module_server):
    n = 5000
    agent = Streamer("counter", n=n, to_dist=module_server.options)
    log = SpeechLog()
    flags = []
    post = []
    agent.register_hook("pre_speak", "log", log.hook)
    agent.register_hook("pre_speak", "flags", lambda a, msg, stream, last: flags.append(stream) and None)
    agent.register_hook("post_speak", "post", lambda a: post.append(a.name))

    msg = agent(None).result(timeout=60)

    # the placeholder resolved after every chunk before it reached the hooks
    log.assert_clean()
    assert log.order == [msg.id]  # one message, and the reply keeps its id
    assert log.lasts == {msg.id: 1}
    assert log.latest[msg.id] == msg.content == numbered(n)
    assert log.names == {msg.id: {"counter"}}
    assert all(flags)
    assert post == ["counter"]
    # a fast consumer sees most chunks on their own; coalescing only folds
    # deltas that queued up behind a full relay (at most 256 items); a delta
    # generator ends with one closing last=True event, hence n + 1 at most
    assert min(n, 250) <= log.calls <= n + 1


def test_two_agents_streaming_at_once_stay_separate(module_server):
    n = 3000
    a = Streamer("alpha", n=n, to_dist=module_server.options)
    b = Streamer("beta", n=n, to_dist=module_server.options)
    per_agent = {"alpha": SpeechLog(), "beta": SpeechLog()}
    for agent in (a, b):
        agent.register_hook("pre_speak", "log", per_agent[agent.name].hook)
    shared = SpeechLog()
    with speech.bind_sinks(shared):  # one sink hears both streams
        results = [a(None), b(None)]
    msgs = [r.result(timeout=60) for r in results]

    shared.assert_clean()
    assert set(shared.order) == {m.id for m in msgs}
    for msg in msgs:
        assert shared.names[msg.id] == {msg.name}
        assert shared.latest[msg.id] == msg.content == numbered(n)
        assert shared.lasts[msg.id] == 1
        own = per_agent[msg.name]
        own.assert_clean()
        assert own.order == [msg.id]  # a proxy's hook hears only its agent
        assert own.latest[msg.id] == numbered(n)


def test_error_mid_stream_delivers_chunks_before_it_then_raises(module_server):
    k = 4000  # chunk 4000 fails: chunks 1..3999 were spoken (the relay fills up)
    agent = Streamer("flaky", n=5000, fail_at=k, to_dist=module_server.options)
    log = SpeechLog()
    post = []
    agent.register_hook("pre_speak", "log", log.hook)
    agent.register_hook("post_speak", "post", lambda a: post.append(a.name))

    placeholder = agent(None)
    with pytest.raises(AgentCallError) as info:
        placeholder.result(timeout=30)
    assert info.value.remote_type == "ValueError"
    assert "chunk 4000 failed on purpose" in info.value.remote_message

    log.assert_clean()
    (msg_id,) = log.order
    assert log.latest[msg_id] == numbered(k - 1)
    assert log.lasts[msg_id] == 0  # the message never completed
    assert post == ["flaky"]  # post_speak ran here, on the proxy ...
    assert agent.post_speaks == 1  # ... and on the remote agent


def test_error_mid_stream_in_pipeline_chunks(module_server):
    k = 25
    agent = Streamer("flaky", n=100, fail_at=k, to_dist=module_server.options)

    @pipeline(chunks=True)
    def app():
        agent(None).result(timeout=30)  # raises the remote error in the app

    seen = SpeechLog()
    with pytest.raises(AgentCallError) as info:
        for chunk in app():
            seen.chunk(chunk)
    assert info.value.remote_type == "ValueError"
    seen.assert_clean()
    (msg_id,) = seen.order
    assert seen.latest[msg_id] == numbered(k - 1)
    assert seen.lasts[msg_id] == 0
    assert agent.post_speaks == 1


def test_slow_consumer_keeps_memory_bounded(module_server):
    n, messages = 2000, 100  # 200,000 chunks spoken as fast as the agent can
    agent = Streamer("flood", n=n, messages=messages, to_dist=module_server.options)
    streams = []

    @pipeline(chunks=True)
    def app():
        streams.append(speech.current_sinks()[0])
        agent(None)

    server = psutil.Process(module_server.pid)
    here = psutil.Process()
    base = (here.memory_info().rss, server.memory_info().rss)
    peak = list(base)
    seen = SpeechLog()
    items = 0
    for chunk in app():
        seen.chunk(chunk)
        items += 1
        time.sleep(0.0005)  # a consumer slower than the producer
        if items % 100 == 0:
            peak[0] = max(peak[0], here.memory_info().rss)
            peak[1] = max(peak[1], server.memory_info().rss)

    seen.assert_clean()
    assert len(seen.order) == messages
    assert all(seen.latest[i] == numbered(n) for i in seen.order)  # nothing lost
    assert all(seen.lasts[i] == 1 for i in seen.order)
    assert items < n * messages  # the lagging consumer got coalesced snapshots
    stream = streams[0]
    assert stream.high_water <= stream.maxsize
    assert 0 < agent.relay_high_water <= 256
    # unbounded queues of snapshots would hold ~1 GB here
    assert peak[0] - base[0] < 200 * 2**20
    assert peak[1] - base[1] < 200 * 2**20


def test_nested_call_speech_reaches_orchestrator(module_server, module_server_factory):
    other = module_server_factory()
    inner = Streamer("inner", n=300, to_dist=other.options)
    outer = Relayer("outer", inner, to_dist=module_server.options)
    log = SpeechLog()
    inner.register_hook("pre_speak", "log", log.hook)

    @pipeline
    def app():
        reply = outer(Msg("user", "hi"))
        assert reply.content == f"inner said {numbered(300)}"

    msgs = list(app())
    assert [(m.name, m.content) for m in msgs] == [
        ("outer", "outer asks inner"),
        ("inner", numbered(300)),
    ]
    # the orchestrator's proxy of `inner` ran its hooks on the relayed chunks
    log.assert_clean()
    assert log.order == [msgs[1].id]
    assert log.latest[msgs[1].id] == numbered(300)
    assert log.lasts[msgs[1].id] == 1


def test_console_prints_concurrent_streams_as_whole_lines(module_server):
    out = io.StringIO()
    runtime.default().set_printer(ConsolePrinter(out=out, colour=False))
    a = Streamer("ann", n=150, pause=0.001, to_dist=module_server.options)
    b = Streamer("bob", n=150, pause=0.001, to_dist=module_server.options)
    first, second = a(None), b(None)
    first.result(timeout=30), second.result(timeout=30)
    lines = out.getvalue().splitlines()
    assert sorted(lines) == [f"ann: {numbered(150)}", f"bob: {numbered(150)}"]
