"""examples/distributed/tool_agent.py as a user runs it: terminal, embedded model, the SSE page's stream."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from test_examples_cli import env, one_line, run
from test_streaming_sse import sse_events

try:
    from _model_server import free_port
except ImportError:  # pragma: no cover
    from tests._model_server import free_port

pytestmark = pytest.mark.timeout(300)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed" / "tool_agent.py"
CALL = '<tool_call>{"name": "get_forecast", "arguments": {"city": "Oslo", "days": 2}}</tool_call>'


@pytest.fixture
def models(tmp_path: Path) -> str:
    path = tmp_path / "models.json"
    path.write_text(json.dumps([{"config_name": "canned", "model_type": "scripted", "stream": True, "cycle": True,
                                 "responses": [f"Let me look. {CALL}", "Rain on day one, then showers."]}]))
    return str(path)


def test_terminal_run_shows_the_answer_and_tool_lines_not_the_call(models: str) -> None:
    done = run("tool_agent", "--model-config", models, "--ask", "Rain in Oslo?")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "User: Rain in Oslo?" in out and "Assistant: Let me look." in out
    assert "get_forecast(city='Oslo', days=2)" in out and "Rain on day one, then showers." in out
    assert "<tool_call>" not in out and '"arguments"' not in out


def test_a_bad_tool_choice_is_one_line(models: str) -> None:
    done = run("tool_agent", "--model-config", models, "--tool-choice", "teleport")
    assert done.returncode == 2
    assert "tool_choice 'teleport'" in one_line(done.stderr)


def test_embedded_model_calls_the_weather_tool() -> None:
    pytest.importorskip("llama_cpp")
    done = run("tool_agent", "--ask", "What is the weather in Tokyo right now?", timeout=240)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Assistant calls get_current_weather(city='Tokyo'" in out  # grammar-constrained, greedy enough
    assert '"sky": "sunny"' in out  # the tool's result line
    answer = [line for line in out.splitlines() if line.startswith("Assistant: ")]
    assert answer and answer[-1].strip() != "Assistant:"
    assert "<tool_call>" not in out


def test_sse_mode_streams_typed_tool_events(models: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--model-config", models, "--sse", "--port", str(port)],
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the page did not come up"
            time.sleep(0.2)  # test set-up: poll readiness until the deadline
        with httpx.stream("GET", base + "/stream", params={"question": "Rain in Oslo?"}, timeout=60) as response:
            events = list(sse_events(response))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    kinds = [k for k, _ in events]
    assert kinds.count("tool_call") == 1 and kinds.count("tool_result") == 1 and kinds[-1] == "end"
    call = next(d for k, d in events if k == "tool_call")
    assert call["tool"] == "get_forecast" and call["arguments"] == {"city": "Oslo", "days": 2}
    text = "".join(d.get("delta", "") for k, d in events if k == "chunk")
    assert text == "Let me look. Rain on day one, then showers."
