"""werewolf/main.py as a user runs it: flags, one-line errors, transcripts and replay, a real llama.cpp server."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _model_server import start_llama_server, stop_process

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "examples" / "distributed" / "werewolf" / "main.py"
sys.path.insert(0, str(MAIN.parent.parent))
from werewolf.story import check_story, story_from_transcript  # noqa: E402

ANSI = re.compile(r"\033\[[0-9;]*m")


def run(*flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, str(MAIN), *flags], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("flags, message", [
    (["--policy", "--hosts", "127.0.0.1:1", "--token-file", "/nonexistent/token"], "--token-file: No such file"),
    (["--model-config", "/nope.json"], "--model-config: No such file"),
    (["--policy", "--hosts", "127.0.0.1"], "--hosts: expected host:port"),
])
def test_bad_flags_are_one_line_and_exit_2(flags: list, message: str) -> None:
    done = run(*flags, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_servers_that_refuse_us_or_are_gone_are_one_line(server) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        gone = probe.getsockname()[1]
    for flags, code, message in (
        (["--hosts", f"127.0.0.1:{server.port}", "--token", "not-the-token"], 4, "AuthenticationError"),
        (["--hosts", f"127.0.0.1:{gone}"], 3, "is not reachable"),
    ):
        done = run("--policy", *flags, timeout=90)
        assert done.returncode == code, done.stderr[-2000:]
        lines = [line for line in done.stderr.splitlines() if line.strip() and "--token on the command line" not in line]
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_transcript_quiet_colour_and_replay(tmp_path: Path) -> None:
    transcript = tmp_path / "game.jsonl"
    quiet = run("--policy", "--servers", "1", "--seed", "3", "--rounds", "2", "--quiet", "--transcript", str(transcript))
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stdout.strip().startswith("Game over after") and quiet.stdout.strip().count("\n") == 0
    narration, events, seats, speeches = story_from_transcript(str(transcript))
    assert check_story(narration, events, seats, speeches) == []
    replayed = run("--replay", str(transcript), "--color", "never")
    assert replayed.returncode == 0
    assert "== Night 1 ==" in replayed.stdout and "Moderator: Roles: " in replayed.stdout
    assert "\033[" not in replayed.stdout  # piped, never
    coloured = run("--replay", str(transcript), "--color", "always")
    assert "\033[" in coloured.stdout and ANSI.sub("", coloured.stdout) == replayed.stdout  # piped, but forced


def test_roles_stay_hidden_unless_revealed(tmp_path: Path) -> None:
    for flags, hidden in (([], True), (["--reveal"], False)):
        transcript = tmp_path / f"cast{len(flags)}.jsonl"
        done = run("--policy", "--servers", "1", "--rounds", "1", "--transcript", str(transcript), *flags)
        assert done.returncode == 0, done.stderr[-2000:]
        puts = [json.loads(line)["data"] for line in transcript.read_text().splitlines()
                if json.loads(line)["event"] == "put"]
        badges = {p["name"]: p["badge"] for p in puts[0]["players"]}
        roles = next(p for p in puts if p.get("type") == "result")["roles"]
        assert badges == ({n: "player" for n in roles} if hidden else roles)
        seating = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]
        assert {row[0]: row[1] for row in seating} == badges


def test_the_page_replays_a_saved_game(tmp_path: Path) -> None:
    transcript = tmp_path / "game.jsonl"
    assert run("--policy", "--servers", "1", "--seed", "2", "--quiet", "--transcript", str(transcript)).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(MAIN), "--sse", str(port), "--replay", str(transcript)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the page server did not start"
                time.sleep(0.1)  # test set-up: wait for the port, with a deadline
        assert "<title>Werewolf" in page.text
        body = httpx.get(f"http://127.0.0.1:{port}/stream?speed=0", timeout=30).text
        sent = [line[len("event: "):] for line in body.splitlines() if line.startswith("event: ")]
        saved = [json.loads(line)["event"] for line in transcript.read_text().splitlines()]
        assert sent == saved
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_game_against_a_real_llama_cpp_server(tmp_path: Path) -> None:
    """The OpenAI-compatible path on a real model: no raw JSON lines, the talk budget holds, a consistent story.

    Slow (RUN_SLOW=1): the llama.cpp server re-reads each player's whole
    prompt on every call, 3-8 minutes on 2 loaded cores.  The default run
    covers the same rules on a scripted endpoint (test_werewolf.py).
    """
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    from agentscope_rpc.models import find_smollm2_gguf

    try:
        gguf = find_smollm2_gguf()
    except Exception as err:  # pylint: disable=broad-except
        pytest.skip(f"no embedded model: {err}")
    proc, base_url = start_llama_server(gguf, tmp_path / "llama.log")
    try:
        config = tmp_path / "local.json"
        config.write_text(json.dumps({"config_name": "llama-server", "model_type": "openai_chat",
                                      "model_name": "smollm2", "api_key": "none", "base_url": base_url,
                                      "stream": True, "timeout": 240}))
        transcript = tmp_path / "game.jsonl"
        done = run("--model-config", str(config), "--servers", "1", "--rounds", "1", "--seed", "1",
                   "--max-tokens", "12", "--transcript", str(transcript), "--color", "never", timeout=840)
    finally:
        stop_process(proc)
    assert done.returncode == 0, done.stderr[-3000:]
    narration, events, seats, speeches = story_from_transcript(str(transcript))
    assert check_story(narration, events, seats, speeches) == []
    assert not re.search(r"^\w+: \{", done.stdout, re.M)  # no decision shows as raw JSON
    talk = [d["text"] for kind, _, d in events if kind == "speech"]
    assert talk and all(re.search(r"[.!?][\"')\]]*$", t) for t in talk), talk  # whole sentences
    assert all(len(t.split()) <= 45 for t in talk), talk  # --max-tokens holds on this backend too
