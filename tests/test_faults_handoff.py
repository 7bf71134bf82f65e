"""The producer of a placeholder killed or hung while another server fetches it.

Server B runs a consumer whose argument is a placeholder produced on server
A; B fetches it from A directly.  When A is SIGKILLed or SIGSTOPped mid-call,
the consumer's call fails with `AgentCallError` whose remote type is
`AgentServerNotAliveError` (B noticed A is gone), within a bound; the
orchestrator's own placeholder for A's call raises `AgentServerNotAliveError`;
the consumer's reply never ran and the producer's ran exactly once; B keeps
serving.
"""
from __future__ import annotations

import os
import signal

import pytest

from agentscope_rpc.exception import AgentCallError, AgentServerNotAliveError
from agentscope_rpc.message import Msg
from dist_agents import Appender
from fault_agents import RunCounter, read_runs
from fault_tools import HUNG_BOUND_S, KILLED_BOUND_S, WAIT_S, SpeechCount, process_state, raises_within

pytestmark = pytest.mark.timeout(180)

BOUNDS = {"SIGKILL": KILLED_BOUND_S + 5.0, "SIGSTOP": HUNG_BOUND_S + 5.0}  # two hops: A -> B -> us


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGSTOP"])
def test_producer_lost_while_another_server_fetches(server_factory, tmp_path, sig):
    server_a, server_b = server_factory(), server_factory()
    marks = str(tmp_path)
    producer = RunCounter("producer", marks, hold=30.0, to_dist=server_a.options)
    consumer = RunCounter("consumer", marks, hold=0.0, to_dist=server_b.options)
    started = SpeechCount()
    started.attach(producer)
    made = producer(Msg("user", "made"))
    used = consumer(made)  # B fetches A's result itself
    assert started.started.wait(20), "the producer never started"
    os.kill(server_a.pid, getattr(signal, sig))
    try:
        err, took = raises_within(lambda: used.result(timeout=WAIT_S + 5), WAIT_S + 5)
        assert isinstance(err, AgentCallError), f"the consumer's call raised {err!r} after {took:.1f}s"
        assert err.remote_type == "AgentServerNotAliveError", err
        assert took < BOUNDS[sig], f"the consumer's call failed only after {took:.1f}s"
        err, took = raises_within(lambda: made.result(timeout=WAIT_S), WAIT_S)
        assert isinstance(err, AgentServerNotAliveError), f"the producer's placeholder raised {err!r}"
    finally:
        if process_state(server_a.pid) != "gone":
            os.kill(server_a.pid, signal.SIGCONT)
    assert read_runs(marks, "consumer") == []  # never ran without its input
    assert read_runs(marks, "producer") == ["made"]  # ran once, never again
    assert Appender("b-alive", to_dist=server_b.options)(None).result(timeout=20).content == "b-alive"
