"""A client process killed mid-stream: the agent's work is cancelled on the server.

The orchestrator is a separate process (tests/fault_client.py) that streams
from a `RunCounter` on a server this test started; the test SIGKILLs it once
chunks flow.  Observed from the server side only: the speech generator's
`finally` writes a marker file, the agent is no longer busy, the call ran
once, and the server goes on serving others.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import raw_wire as raw
from agentscope_rpc.message import Msg
from dist_agents import Appender
from fault_agents import read_runs, stopped_path
from fault_tools import FAULT_CLIENT, lines_of, script_env, wait_until

pytestmark = pytest.mark.timeout(120)

CANCEL_BOUND_S = 10.0


def test_killed_client_cancels_the_remote_stream(server, tmp_path):
    marks = str(tmp_path)
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, str(FAULT_CLIENT), "stream", "--host", server.host, "--port", str(server.port),
         "--marker-dir", marks, "--wait", "120"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, env=script_env(server.token),
    )
    try:
        assert lines_of(proc).get(timeout=60) == "STREAMING"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    marker = stopped_path(marks, "victim")
    assert wait_until(lambda: os.path.exists(marker), CANCEL_BOUND_S), "the generator ran on after its client died"
    target = raw.Target.of(server)
    try:
        def idle() -> bool:
            agents = raw.manage(target, "ListAgents").reply.agents
            return bool(agents) and not any(a.busy for a in agents)

        assert wait_until(idle, CANCEL_BOUND_S), "the agent stayed busy after its client died"
        assert raw.server_info(target).running_calls == 0
    finally:
        target.close()
    assert read_runs(marks, "victim") == ["first"]
    assert Appender("after", to_dist=server.options)(Msg("user", "still ")).result(timeout=20).content == "still after"
