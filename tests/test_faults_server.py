"""A server killed (SIGKILL) or hung (SIGSTOP) mid-call and mid-stream (issue 11 item 3).

Each test runs a real agent server subprocess and asserts: the pending call
raises `AgentServerNotAliveError` within a bound, a new call does too, and
nothing ran twice (the agent appends every call it starts to a file, read
back after the server is gone or resumed).  A busy server — a reply
computing in pure Python far longer than the detection window — is NOT
declared dead.

Bounds are generous on purpose (the figures live in bench/hardening.py):
a killed server within `KILLED_BOUND_S`, a hung one within `HUNG_BOUND_S`
(issue 11 asks for under 5 s; before the core rebuild it took about 70 s).
"""
from __future__ import annotations

import os
import signal
import time
from typing import Iterator

import pytest

from agentscope_rpc.exception import AgentServerNotAliveError
from agentscope_rpc.message import Msg
from agentscope_rpc.streaming import pipeline
from fault_agents import Cruncher, RunCounter, read_runs
from fault_tools import HUNG_BOUND_S, KILLED_BOUND_S, WAIT_S, SpeechCount, process_state, raises_within, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def stopped_guard(server) -> Iterator[None]:
    """Whatever a test does to the server's process, it is continued (and later stopped)."""
    try:
        yield
    finally:
        if process_state(server.pid) != "gone":
            os.kill(server.pid, signal.SIGCONT)


def _start(server, tmp_path, mode: str, hold: float = 30.0):
    agent = RunCounter("victim", str(tmp_path), hold=hold, mode=mode, to_dist=server.options)
    count = SpeechCount(at_least=20 if mode == "stream" else 1)
    count.attach(agent)
    placeholder = agent(Msg("user", "first"))
    assert count.started.wait(20), "the call never started speaking"
    return agent, count, placeholder


def _assert_dead(agent, placeholder, bound: float) -> None:
    err, took = raises_within(lambda: placeholder.result(timeout=WAIT_S), WAIT_S)
    assert isinstance(err, AgentServerNotAliveError), f"pending call raised {err!r} after {took:.1f}s"
    assert took < bound, f"pending call failed only after {took:.1f}s (bound {bound}s)"
    err, took = raises_within(lambda: agent(Msg("user", "second")).result(timeout=WAIT_S), WAIT_S)
    assert isinstance(err, AgentServerNotAliveError), f"a new call raised {err!r} after {took:.1f}s"
    assert took < bound, f"a new call failed only after {took:.1f}s (bound {bound}s)"


@pytest.mark.parametrize("mode", ["sleep", "stream"], ids=["mid-call", "mid-stream"])
def test_killed_server(server, tmp_path, mode):
    agent, count, placeholder = _start(server, tmp_path, mode)
    os.kill(server.pid, signal.SIGKILL)
    _assert_dead(agent, placeholder, KILLED_BOUND_S)
    assert read_runs(str(tmp_path), "victim") == ["first"]  # ran once, never again
    if mode == "stream":
        seen = count.chunks
        assert wait_until(lambda: count.post == 1, 5), "post_speak must run once for the broken message"
        assert count.chunks == seen  # nothing spoken after the error


@pytest.mark.parametrize("mode", ["sleep", "stream"], ids=["mid-call", "mid-stream"])
def test_hung_server_is_declared_dead(server, tmp_path, stopped_guard, mode):
    agent, count, placeholder = _start(server, tmp_path, mode, hold=3.0)
    os.kill(server.pid, signal.SIGSTOP)
    try:
        _assert_dead(agent, placeholder, HUNG_BOUND_S)
        if mode == "stream":
            assert wait_until(lambda: count.post == 1, 5), "post_speak must run once for the broken message"
    finally:
        os.kill(server.pid, signal.SIGCONT)
    # the server lives on: a new call works, and the first call was not sent again
    assert agent(Msg("user", "third")).result(timeout=60).content == "third"
    runs = read_runs(str(tmp_path), "victim")
    assert runs.count("first") == 1 and runs.count("third") == 1, runs


def test_killed_server_mid_stream_ends_the_app_stream(server, tmp_path):
    """An `@pipeline` consumer sees the error at the position where the stream broke."""
    agent = RunCounter("streamer", str(tmp_path), hold=30.0, mode="stream", to_dist=server.options)

    @pipeline(chunks=True)
    def app():
        agent(Msg("user", "first")).result(timeout=WAIT_S)

    seen, killed_at = 0, 0.0
    with pytest.raises(AgentServerNotAliveError):
        for _chunk in app():
            seen += 1
            if seen == 20:
                os.kill(server.pid, signal.SIGKILL)
                killed_at = time.monotonic()
    took = time.monotonic() - killed_at
    assert took < KILLED_BOUND_S, f"the app stream raised only {took:.1f}s after the kill"
    assert read_runs(str(tmp_path), "streamer") == ["first"]


def test_busy_server_is_not_declared_dead(server):
    """A reply computing in pure Python for longer than any detection window succeeds."""
    agent = Cruncher("busy", to_dist=server.options)
    reply = agent(Msg("user", "12")).result(timeout=120)
    assert reply.content["rounds"] > 0
    assert agent(Msg("user", "0.1")).result(timeout=30).content["rounds"] > 0


@pytest.mark.slow
def test_busy_server_for_a_minute_is_not_declared_dead(server):
    """Issue 11: a reply computing 60 s in pure Python must survive (two at once)."""
    first, second = Cruncher("busy1", to_dist=server.options), Cruncher("busy2", to_dist=server.options)
    replies = [first(Msg("user", "60")), second(Msg("user", "60"))]
    for reply in replies:
        assert reply.result(timeout=240).content["rounds"] > 0
