"""At-most-once against duplicated requests (issue 11 item 5, DESIGN §8).

A raw call (tests/raw_wire.py) starts on a `RunCounter`, which appends each
call it starts to a file; the same task id is then sent again while the
first runs, and once more after it finished, over every pair of transports.
Both repeats are refused and the agent ran exactly once.  Before the core
rebuild a repeat sent while the first was running executed a second time.
"""
from __future__ import annotations

import itertools

import pytest

import raw_wire as raw
from agentscope_rpc.message import Msg
from fault_agents import RunCounter, read_runs
from fault_tools import ready, wait_until

pytestmark = pytest.mark.timeout(120)

PAIRS = list(itertools.product(raw.CALL_TRANSPORTS, repeat=2))


@pytest.mark.parametrize("first,again", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_a_task_id_runs_once(server, tmp_path, first, again):
    marks = str(tmp_path)
    agent = ready(RunCounter("dup", marks, hold=1.5, to_dist=server.options))
    target = raw.Target.of(server)
    try:
        request = raw.call_request(agent.agent_id, args=raw.json_args(Msg("user", "once", "user")))
        running = raw.start_call(target, request, first, timeout=30)
        assert wait_until(lambda: read_runs(marks, "dup"), 10) == ["once"], "the first call never started"
        while_running = raw.call(target, request, via=again, timeout=20)
        assert running.wait(30).ok, "the first call must succeed"
        after_done = raw.call(target, request, via=again, timeout=20)
    finally:
        target.close()
    assert read_runs(marks, "dup") == ["once"], "a duplicated task id ran again"
    assert while_running.refused, f"a running task id was accepted again: {while_running}"
    assert after_done.refused, f"a finished task id was accepted again: {after_done}"
