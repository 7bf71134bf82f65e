"""The examples as command-line programs: --help, one-line errors, exit codes, Ctrl-C (issue 14).

Each runs in a subprocess as a user would run it.  The model is a scripted
one (a `--model-config` file) where the embedded model would only slow the
test down; the embedded model itself is tested in test_models.py.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "local_conversation": REPO / "examples" / "local_conversation.py",
    "streaming_chat": REPO / "examples" / "distributed" / "streaming_chat.py",
    "parallel_search": REPO / "examples" / "distributed" / "parallel_search.py",
    "werewolf": REPO / "examples" / "distributed" / "werewolf" / "main.py",
    "tool_agent": REPO / "examples" / "distributed" / "tool_agent.py",
}


def env() -> dict:
    values = dict(os.environ)
    values["PYTHONPATH"] = os.pathsep.join([str(REPO), values.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return values


def run(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES[name]), *args], capture_output=True, text=True,
                          timeout=timeout, env=env(), check=False)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "agent server listening" not in line]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def scripted_models(tmp_path: Path) -> str:
    path = tmp_path / "models.json"
    path.write_text(json.dumps([{"config_name": "canned", "model_type": "scripted", "stream": True,
                                 "cycle": True, "responses": ["Lovely week, Bob!", "Busy at the bakery."]}]))
    return str(path)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_documents_its_flags(name: str) -> None:
    done = run(name, "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    options = done.stdout.split("options:")[1]
    lines = options.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^  -", line) and not line.startswith("  -h, --help"):
            described = len(re.split(r"\s{2,}", line.strip())) > 1 or lines[i + 1].startswith(" " * 10)
            assert described, f"{name}: {line.strip()!r} has no help text"


@pytest.mark.parametrize("name", ["local_conversation", "streaming_chat", "tool_agent"])
def test_model_config_errors_are_one_line(name: str, tmp_path: Path, scripted_models: str) -> None:
    done = run(name, "--model-config", str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert "cannot read model configs" in one_line(done.stderr)
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    done = run(name, "--model-config", str(bad))
    assert done.returncode == 2
    assert "is not valid JSON" in one_line(done.stderr)
    done = run(name, "--model-config", scripted_models, "--model-config-name", "nope")
    assert done.returncode == 2
    assert "--model-config-name 'nope': not in" in one_line(done.stderr)


def test_local_conversation_with_a_model_config_file(scripted_models: str) -> None:
    done = run("local_conversation", "--model-config", scripted_models, "--turns", "2")
    assert done.returncode == 0, done.stderr
    assert "[2 replies in" in done.stdout


def test_streaming_chat_with_a_model_config_file(scripted_models: str) -> None:
    done = run("streaming_chat", "--model-config", scripted_models, "--turns", "2")
    assert done.returncode == 0, done.stderr
    assert "Alice: Lovely week, Bob!" in done.stdout
    assert "agents in 2 agent servers" in done.stdout


def test_a_creation_failure_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps([{"config_name": "odd", "model_type": "scripted", "no_such_key": 1}]))
    done = run("streaming_chat", "--model-config", str(path), "--turns", "1")
    assert done.returncode == 2
    assert "AgentCreationError" in one_line(done.stderr)


@pytest.mark.parametrize("args, message", [
    (("--queries", "0"), "--queries must be between 1 and 6"),
    (("--latency", "-1"), "--latency must not be negative"),
])
def test_parallel_search_bad_flags(args: tuple, message: str) -> None:
    done = run("parallel_search", *args, timeout=60)
    assert done.returncode == 2 and message in done.stderr


def test_ctrl_c_exits_130_after_cleanup() -> None:
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, str(EXAMPLES["parallel_search"]), "--queries", "1", "--latency", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env(), PYTHONUNBUFFERED="1"),
        start_new_session=True,  # Ctrl-C reaches the whole process group, as in a terminal
    )
    try:
        assert proc.stdout.readline()  # the sequential run printed its answer ...
        _wait_for_a_server_under(proc.pid)  # ... and the distributed run's agent server is up
        os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the example and its server
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert one_line(err) == "parallel_search: interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_for_a_server_under(pid: int, timeout: float = 60.0) -> None:
    """Until a process under `pid` serves agents (its agent servers start quietly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                if any(conn.status == psutil.CONN_LISTEN for conn in child.net_connections("tcp")):
                    return
            except psutil.Error:
                continue
        time.sleep(0.05)  # polling a process table: there is nothing to wait on
    raise AssertionError(f"no agent server under pid {pid} after {timeout}s")
