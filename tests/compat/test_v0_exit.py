"""No call lost at exit (issue 9, A8).

A program written as AgentScope 0.1.6 programs are — it issues its last
calls and observes and ends right away — runs as a subprocess.  Every call
and observe runs: the agents mark a file, and one agent lives on a server
the test launched, which outlives the program and is asked afterwards with
`RpcClient`.  The log line saying what is awaited appears; calls that cannot
finish within the grace (`AGENTSCOPE_RPC_EXIT_GRACE`) are named in a
warning; Ctrl-C while the program waits in a long call stops it at once.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from agentscope_rpc.rpc import RpcClient
from v0_dist_helpers import marks, process_gone

pytestmark = pytest.mark.timeout(180)

AGENTS = textwrap.dedent('''
    import os
    import signal
    import sys
    import time

    import agentscope_rpc
    from agentscope_rpc.agents import AgentBase
    from agentscope_rpc.message import Msg
    from agentscope_rpc.rpc import async_func

    # A program started in the background by a non-interactive shell inherits an
    # ignored SIGINT; a program at a terminal has Python's own handler.  Be the latter.
    signal.signal(signal.SIGINT, signal.default_int_handler)


    def mark(path, line):
        with open(path, "a") as fh:
            fh.write(line + "\\n")


    class Debater(AgentBase):
        def __init__(self, name, path, seconds=0.2):
            super().__init__(name)
            self.path = path
            self.seconds = seconds

        def reply(self, x=None):
            time.sleep(self.seconds)  # the agent's work (a model call in a real debate)
            mark(self.path, f"{self.name} reply {x.content}")
            return Msg(self.name, f"{self.name} after {x.content}", "assistant")

        def observe(self, x):
            time.sleep(self.seconds / 2)  # observing takes a while too
            mark(self.path, f"{self.name} observe {x.content}")
            super().observe(x)

        @async_func
        def note(self, text):
            mark(self.path, f"{self.name} note {text}")
            return text


    agentscope_rpc.init(project="exit-test")
''')

DEBATE = AGENTS + textwrap.dedent('''
    path, host, port, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    pro = Debater("pro", path, to_dist=True)
    con = Debater("con", path, to_dist=True)
    judge = Debater("judge", path, to_dist={"host": host, "port": port, "token": token})
    print("JUDGE", judge.agent_id, flush=True)
    x = Msg("host", "topic", "user")
    for _ in range(3):
        x = pro(x)
        con.observe(x)
        x = con(x)
        pro.observe(x)
    judge.observe(x)
    verdict = judge(x)
    judge.note("the end")
    # the program ends here: nothing above was waited for
''')

GRACE = AGENTS + textwrap.dedent('''
    path = sys.argv[1]
    quick = Debater("quick", path, seconds=0.1, to_dist=True)
    slow = Debater("slow", path, seconds=30, to_dist=True)
    quick.wait_ready(60)
    slow.wait_ready(60)
    done = quick(Msg("host", "fast", "user"))
    stuck = slow(Msg("host", "forever", "user"))
    print("IDS", slow.agent_id, stuck.task_id, flush=True)
''')

INTERRUPT = AGENTS + textwrap.dedent('''
    path = sys.argv[1]
    slow = Debater("slow", path, seconds=60, to_dist=True)
    other = Debater("other", path, seconds=60, to_dist=True)
    other(Msg("host", "background", "user"))
    answer = slow(Msg("host", "long", "user"))
    slow.wait_ready(60)
    other.wait_ready(60)
    print("WAITING", slow.client.get_server_info()["pid"], other.client.get_server_info()["pid"], flush=True)
    answer.content  # Ctrl-C arrives here
''')


def _run(tmp_path: Path, source: str, *args: str, env: Any = None, timeout: float = 150) -> subprocess.CompletedProcess:
    program = tmp_path / "program.py"
    program.write_text(source)
    return subprocess.run([sys.executable, str(program), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False, cwd=tmp_path)


def test_calls_and_observes_issued_at_the_end_all_run(module_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    proc = _run(tmp_path, DEBATE, str(path), module_server.host, str(module_server.port), module_server.token)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    lines = marks(path)
    per_agent = {name: [line.split(" ", 1)[1] for line in lines if line.startswith(name + " ")]
                 for name in ("pro", "con", "judge")}
    assert per_agent["pro"] == [
        "reply topic", "observe con after pro after topic",
        "reply con after pro after topic", "observe con after pro after con after pro after topic",
        "reply con after pro after con after pro after topic",
        "observe con after pro after con after pro after con after pro after topic",
    ]
    assert [entry.split(" ", 1)[0] for entry in per_agent["con"]] == ["observe", "reply"] * 3
    final = "con after pro after con after pro after con after pro after topic"
    assert per_agent["judge"] == [f"observe {final}", f"reply {final}", "note the end"]
    assert "waiting up to" in output and "outstanding call" in output  # the log line: what is awaited
    assert "unfinished" not in output

    judge_id = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("JUDGE"))
    client = RpcClient(module_server.host, module_server.port, token=module_server.token)
    assert [m["content"] for m in client.get_agent_memory(judge_id)] == [final]  # it outlived the program


def test_calls_beyond_the_grace_are_named_in_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "marks"
    env = dict(os.environ, AGENTSCOPE_RPC_EXIT_GRACE="1")
    start = time.monotonic()
    proc = _run(tmp_path, GRACE, str(path), env=env)
    took = time.monotonic() - start
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert took < 28, output  # generous: it did not wait for the 30 s reply
    assert marks(path) == ["quick reply fast"]
    agent_id, task_id = next(line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("IDS"))
    warning = next(line for line in output.splitlines() if "unfinished" in line)
    assert "1 call(s)" in warning and task_id in warning, output


def test_abandoned_calls_are_named_by_agent_and_method(tmp_path: Path) -> None:
    env = dict(os.environ, AGENTSCOPE_RPC_EXIT_GRACE="1")
    proc = _run(tmp_path, GRACE, str(tmp_path / "marks"), env=env)
    output = proc.stdout + proc.stderr
    agent_id = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("IDS"))
    warning = next((line for line in output.splitlines() if "unfinished" in line), "")
    # a task id alone tells the user nothing: the warning says which agent's which call was dropped
    assert agent_id in warning and "reply" in warning, output


def test_ctrl_c_stops_the_program_at_once(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(INTERRUPT)
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, str(program), str(tmp_path / "marks")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        readable, _, _ = select.select([proc.stdout], [], [], 90)
        assert readable, "the program printed nothing"
        line = proc.stdout.readline()
        assert line.startswith("WAITING"), line + proc.stderr.read()
        pids = [int(p) for p in line.split()[1:]]
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - start
        assert "KeyboardInterrupt" in err, err
        assert proc.returncode != 0
        assert took < 15, f"{took:.1f}s after Ctrl-C (the call sleeps 60 s, the exit grace is 60 s)"
        assert "waiting up to" not in err  # no grace after Ctrl-C
        for pid in pids:
            assert process_gone(pid, 10), f"child server {pid} outlived the program"
        assert marks(tmp_path / "marks") == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

