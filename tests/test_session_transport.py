"""One transport: what the multiplexed session promises (issue 10's regressions).

Real servers on loopback.  A stuck consumer of one call does not hold up
another call to the same server; a request larger than a frame travels in
parts, and one over the server's limit fails only its own call; an
in-process server keeps the orchestrator's console.
"""
from __future__ import annotations

import statistics
import threading
import time

import pytest

from agentscope_rpc import runtime
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import MessageTooLargeError
from agentscope_rpc.message import Msg
from agentscope_rpc.server import RpcAgentServerLauncher
from dist_agents import Appender
from stream_agents import Streamer

pytestmark = pytest.mark.timeout(120)


def _round_trip(agent, n: int = 5) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        agent(None).result(timeout=30)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_a_stuck_consumer_does_not_delay_another_call(module_server):
    stuck, other = Streamer("stuck", n=5000, to_dist=module_server.options), Streamer("other", n=3, to_dist=module_server.options)
    release = threading.Event()
    entered = threading.Event()

    def block(_agent, msg, stream, last):
        entered.set()
        release.wait(60)  # a consumer that stops reading

    other.register_hook("pre_speak", "noop", lambda *_: None)  # the other call's speech goes to hooks too
    baseline = _round_trip(other)
    stuck.register_hook("pre_speak", "block", block)
    held = stuck(None)
    try:
        assert entered.wait(30)
        during = _round_trip(other)
        assert not held.done()  # still stuck behind its consumer
        assert during - baseline < 0.05, (baseline, during)
    finally:
        release.set()
    assert held.result(timeout=60).content.endswith("4999,")


def test_a_request_larger_than_a_frame_travels_in_parts(module_server):
    agent = Appender("big-args", to_dist=module_server.options)
    big = "x" * (3 << 20)  # three frames' worth
    assert agent(Msg("user", big)).result(timeout=60).content == big + "big-args"


def test_a_request_over_the_limit_fails_only_its_call(module_server_factory):
    server = module_server_factory(max_message_mb=1)
    agent = Appender("small", delay=0.3, to_dist=server.options)
    running = agent(Msg("user", "first "))  # in flight on the same session
    too_big = agent(Msg("user", "y" * (2 << 20)))
    with pytest.raises(MessageTooLargeError):
        too_big.result(timeout=60)
    assert running.result(timeout=60).content == "first small"
    assert agent(Msg("user", "after ")).result(timeout=60).content == "after small"  # the session lives on


class _Talker(AgentBase):
    def reply(self, x=None):
        return self.speak(f"{self.name} speaks")


def test_an_in_process_server_keeps_the_orchestrators_console():
    printed = []
    previous = runtime.default().set_printer(lambda event: printed.append(event.msg.content) if event.ended else None)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0)
    try:
        port = launcher.launch(in_subprocess=False)
        local = _Talker("local")
        local(None)
        remote = _Talker("remote", to_dist={"host": "127.0.0.1", "port": port})
        remote(None).result(timeout=30)
        local(None)
    finally:
        launcher.shutdown()
        runtime.default().set_printer(previous)
    assert printed == ["local speaks", "remote speaks", "local speaks"]
