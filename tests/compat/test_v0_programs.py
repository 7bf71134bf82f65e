"""Small programs written against AgentScope 0.1.6 run after renaming the package (issue 9).

Each program in `v0_programs/` imports `agentscope`; the test renames it the
way a porting user would (`sed 's/\\bagentscope\\b/agentscope_rpc/g'`) and runs
the result in a fresh interpreter, with its config files, in a scratch
directory.  The models are scripted (game logic), so the runs are fast and
exact; the embedded model's path is covered by the parser and agent tests.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "v0_programs"


def ported(name: str, workdir: Path, files: dict) -> Path:
    """Copy program `name` into `workdir` with `agentscope` renamed, and its files."""
    source = (PROGRAMS / name).read_text(encoding="utf-8")
    target = workdir / name
    target.write_text(re.sub(r"\bagentscope\b", "agentscope_rpc", source), encoding="utf-8")
    for dest, src in files.items():
        shutil.copy(PROGRAMS / src, workdir / dest)
    return target


def run(program: Path, stdin: str = "") -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(program)], cwd=program.parent, input=stdin,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{program.name} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_conversation_until_exit(tmp_path):
    program = ported("conversation.py", tmp_path, {"model_configs.json": "conversation_models.json"})
    result = run(program, stdin="Hi there\nexit\n")
    assert "ROUNDS=2 MEMORY=4" in result.stdout  # host, reply, user line, reply (exit is heard later)
    assert "Assistant: Hello, how can I help?" in result.stdout
    assert "Assistant: Glad to help." in result.stdout


def test_werewolf_night(tmp_path):
    pytest.importorskip("loguru")  # 0.1.6's werewolf utilities call loguru's logger.chat
    program = ported("werewolf_mini.py", tmp_path, {"model_configs.json": "werewolf_models.json",
                                                     "agent_configs.json": "werewolf_agents.json"})
    result = run(program)
    out = result.stdout
    assert "ROUNDS=1 VOTES=['Player3', 'Player3']" in out
    heard = json.loads(re.search(r"HEARD=(.*)", out).group(1).replace("'", '"'))
    # Player2 heard the announcement, Player1's words (via the hub and as its input: kept once),
    # its own words, Player1's vote, the vote hint, its own vote, and the result
    assert heard == [
        "Player1 and Player2, discuss who to eliminate.", "Let us eliminate Player3.", "Agreed, Player3.",
        "Player3", "Which player do you vote to kill?", "Player3", "The player with the most votes is Player3.",
    ]
    assert "Moderator: Player1 and Player2, discuss who to eliminate." in out  # echo=True
    assert "Moderator: The night ends." in out  # logger.chat


def test_hooks_tutorial(tmp_path):
    result = run(ported("hooks_tutorial.py", tmp_path, {}))
    # object hooks run before class hooks, so the class hook's prefix lands outside
    assert "REPLY=reply to [seed] [pre] hello [post]" in result.stdout
    assert "ORIGINAL=hello" in result.stdout
    assert "SPOKEN=Friday" in result.stdout and "Friday: [SEED] [PRE] HELLO" in result.stdout
    assert "PLAIN=reply to hello" in result.stdout


def test_memory_tutorial(tmp_path):
    result = run(ported("memory_tutorial.py", tmp_path, {}))
    assert "SIZE=2 MODEL=hi STAMP=8" in result.stdout
    assert (tmp_path / "memory.json").exists()
    assert not (tmp_path / "runs").exists()  # disable_saving=True
