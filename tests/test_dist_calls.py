"""Calls to distributed agents: chains, parallelism, actor order, fan-out, proxies.

Timing bounds here are generous correctness checks of concurrency (DESIGN §4),
not benchmarks (those live in bench/).
"""
import threading

import pytest

import agentscope_rpc
from agentscope_rpc.message import Msg
from agentscope_rpc.models import get_model_configs, read_model_configs
from agentscope_rpc.rpc import AsyncResult
from dist_agents import Appender, AsyncSpan, Calculator, ConfigReader, Fanout, Recorder, Span

pytestmark = pytest.mark.timeout(120)


def test_chain_returns_placeholders_at_once_and_resolves(module_server):
    a, b, c = (Appender(n, delay=0.4, to_dist=module_server.options) for n in "abc")
    x = a(Msg("user", ">"))
    y = b(x)  # b gets a's placeholder; b's server fetches a's result itself
    z = c(y)
    assert isinstance(z, AsyncResult) and not z.done()  # the calls returned before any reply
    assert z.content == ">abc"
    assert y.content == ">ab" and x.content == ">a"


def test_independent_agents_run_in_parallel(module_server):
    agents = [Span(f"s{i}", delay=0.5, to_dist=module_server.options) for i in range(3)]
    spans = [r.content for r in [agent(None) for agent in agents]]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all three slept at once


def test_same_agent_keeps_each_senders_order(module_server):
    recorder = Recorder("rec", to_dist=module_server.options)
    senders, per_sender = 4, 15
    barrier = threading.Barrier(senders)
    errors = []

    def send(sender):
        try:
            barrier.wait(10)
            for i in range(per_sender):
                msg = Msg(f"sender{sender}", i)
                if i % 3 == 0:
                    recorder(msg)  # a reply (placeholder, not awaited here)
                else:
                    recorder.observe(msg)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and not any(t.is_alive() for t in threads)
    assert recorder(Msg("end", "end")).content == senders * (per_sender // 3) + 1  # runs after all
    memory = recorder.get_memory()
    assert len(memory) == senders * per_sender + 1
    for sender in range(senders):
        seen = [m.content for m in memory if m.name == f"sender{sender}"]
        assert seen == list(range(per_sender))


def test_same_agent_runs_one_call_at_a_time(module_server):
    recorder = Recorder("solo", work=0.05, to_dist=module_server.options)
    results = []
    lock = threading.Lock()

    def call(i):
        placeholder = recorder(Msg("t", i))
        with lock:
            results.append(placeholder)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(r.content for r in results) == list(range(1, 9))
    assert recorder.max_active == 1  # public attribute, read remotely
    assert recorder.calls == 8


def test_two_hundred_sleeping_agents_on_one_server(server):
    # blocking replies never stall each other: all 200 sleep at once (bench `fanout200` times it)
    agents = [Span(f"z{i}", delay=1.0, to_dist=server.options) for i in range(200)]
    spans = [r.content for r in [agent(None) for agent in agents]]
    assert max(start for start, _ in spans) < min(end for _, end in spans)


def test_thousands_of_async_replies_await_at_once_without_threads(server_factory):
    # `async def reply` runs on the server's loop: 2,000 awaiting agents on a server with
    # 2 worker threads all wait at the same time, and the server starts no thread for them
    server = server_factory(capacity=2)
    agents = [AsyncSpan(f"y{i}", delay=1.0, to_dist=server.options) for i in range(2000)]
    spans = [r.content for r in [agent(None) for agent in agents]]
    assert max(start for start, _, _ in spans) < min(end for _, end, _ in spans)
    assert max(threads for _, _, threads in spans) < 30  # loop, gRPC's own, the 2 workers: not one per agent


def test_agent_fans_out_to_agents_on_another_server(module_server, module_server_factory):
    other = module_server_factory()
    workers = [Appender(f"w{i}", to_dist=other.options) for i in range(3)]
    hub = Fanout("hub", workers, to_dist=module_server.options)
    assert hub(Msg("user", "q:")).content == ["q:w0", "q:w1", "q:w2"]
    sleepers = [Span(f"s{i}", delay=0.5, to_dist=other.options) for i in range(3)]
    spans = Fanout("spans", sleepers, to_dist=module_server.options)(None).content
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # the three ran at the same time


def test_proxy_name_attributes_and_methods(module_server):
    calc = Calculator("calc", start=40, to_dist=module_server.options)
    assert calc.name == "calc"
    assert calc.counter == 40
    with pytest.raises(AttributeError):
        calc._secret  # pylint: disable=pointless-statement,protected-access
    with pytest.raises(AttributeError):
        getattr(calc, "_secret")
    # AgentScope v0: public methods other than reply/__call__ (and @async_func
    # ones) are synchronous and return the value, through the agent's mailbox
    assert calc.add(2, 3) == 5
    assert calc(None).content == 42  # reply ran after add, on the same actor
    assert calc.counter == 42
    assert calc.pid() == module_server.pid


def test_unreadable_attributes_are_attribute_errors(module_server):
    calc = Calculator("calc2", to_dist=module_server.options)
    with pytest.raises(AttributeError):
        calc.no_such_attribute  # pylint: disable=pointless-statement
    assert getattr(calc, "no_such_attribute", "default") == "default"
    assert not hasattr(calc, "no_such_attribute")
    with pytest.raises(AttributeError, match="cannot pickle"):
        calc.lock  # pylint: disable=pointless-statement
    assert calc(None).result(timeout=10).content == 1  # and the server is fine


def test_burst_of_pipelined_calls_to_one_agent(module_server):
    """More calls at once than grpc lets wait by default (1,000) all run, in order."""
    recorder = Recorder("burst", to_dist=module_server.options)
    results = [recorder(None) for _ in range(2500)]
    assert [r.result(timeout=60).content for r in results] == list(range(1, 2501))


@pytest.fixture
def scripted_config():
    before = get_model_configs()
    config = {"config_name": "dist-scripted", "model_type": "scripted", "responses": ["scripted hello"]}
    agentscope_rpc.init(model_configs=[config], logger_level="WARNING", console=False)
    try:
        yield config
    finally:
        read_model_configs(before, clear_existing=True)


def test_model_configs_from_init_reach_server_agents(scripted_config, server):
    agent = ConfigReader("reader", model_config_name="dist-scripted", to_dist=server.options)
    content = agent(Msg("user", "hi")).content
    assert "dist-scripted" in content["configs"]
    assert content["answer"] == "scripted hello"
