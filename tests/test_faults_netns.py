"""A cut network link between two "machines" (network namespaces, tests/netns.py).

An agent server runs in namespace h1, the orchestrator (tests/fault_client.py)
in namespace orch.  Mid-call the test sets h1's veth port on the lab's switch
down, so packets are silently dropped (no RST, no FIN: what a pulled cable
or a dead router looks like).  The pending call and a new call must raise
`AgentServerNotAliveError` within `HUNG_BOUND_S` (issue 11 asks for 5 s;
before the core rebuild it took about 14 s).  Once the link is back, a new agent works,
and no call ran twice.  Skipped where namespaces cannot be made.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from fault_agents import read_runs
from fault_tools import FAULT_CLIENT, HUNG_BOUND_S, lines_of, script_env
from netns import NetnsLab, started_lab

pytestmark = pytest.mark.timeout(240)

_ports = itertools.count(7300)
IDLE_S = 2.0
STEP_WAIT_S = 25.0  # the client's longest wait for one step (> HUNG_BOUND_S)


@pytest.fixture(scope="module")
def lab() -> Iterator[NetnsLab]:
    yield from started_lab(["orch", "h1"], label="cut")



def test_cut_link_is_detected_and_nothing_runs_twice(lab, token_file, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    server = lab.start_server("h1", next(_ports), token_file, script_env(), str(tmp_path / "h1.log"))
    token = Path(token_file).read_text().strip()
    client = lab.popen("orch", [sys.executable, str(FAULT_CLIENT), "cut", "--host", server.host,
                                "--port", str(server.port), "--marker-dir", str(marks),
                                "--wait", str(STEP_WAIT_S)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=script_env(token))
    lines = lines_of(client)
    try:
        assert lines.get(timeout=60) == "STARTED"
        time.sleep(IDLE_S)  # let the connection go quiet: nothing in flight is the slowest case to notice
        lab.set_link("h1", up=False)
        try:
            client.stdin.write("go\n")
            client.stdin.flush()
            report = json.loads(lines.get(timeout=2 * STEP_WAIT_S + 20))
        finally:
            lab.set_link("h1", up=True)
        client.stdin.write("back\n")
        client.stdin.flush()
        after = json.loads(lines.get(timeout=STEP_WAIT_S + 20))
    finally:
        if client.poll() is None:
            client.kill()
        client.wait(10)
        server.kill()
    runs = read_runs(str(marks), "victim")
    assert runs.count("first") == 1 and runs.count("second") <= 1, runs  # at most once, also across the outage
    assert after["after"] == "after", after  # the link is back: a fresh agent works (the app may retry)
    assert os.path.exists(marks / "fresh.runs")
    for step in ("pending", "new"):
        seen = report[step]
        assert seen["error"] == "AgentServerNotAliveError", (step, seen)
        assert seen["seconds"] < HUNG_BOUND_S, f"the {step} call failed only {seen['seconds']}s after the cut"
