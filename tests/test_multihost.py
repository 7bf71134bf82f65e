"""Werewolf across "machines": agent servers in separate network namespaces.

Three host namespaces (10.231.0.2-4) run `python -m agentscope_rpc.server
start` bound to their own address with a token file; the orchestrator runs
`examples/distributed/werewolf/main.py --hosts ...` from a fourth namespace
(10.231.0.1).  The servers cannot import the example (their PYTHONPATH holds
only the package), so the player class is shipped by value.  Skipped, with
the reason, where namespaces cannot be created (not root, no iproute2).
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netns import NetnsLab, ServerProcess, started_lab  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MAIN = REPO / "examples" / "distributed" / "werewolf" / "main.py"
HOSTS = ["h1", "h2", "h3"]
NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
_ports = itertools.count(7100)


@pytest.fixture(scope="module")
def lab() -> Iterator[NetnsLab]:
    yield from started_lab(["orch", *HOSTS])



def server_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AGENTSCOPE_RPC_TOKEN"}
    env["PYTHONPATH"] = str(REPO)  # the package only: the example travels by value
    return env


@pytest.fixture
def servers(lab: NetnsLab, token_file: str, tmp_path: Path) -> Iterator[list]:
    port = next(_ports)
    started: list = []
    try:
        for host in HOSTS:
            started.append(lab.start_server(host, port, token_file, server_env(), str(tmp_path / f"{host}.log")))
        yield started
    finally:
        for server in started:
            server.kill()


def orchestrate(lab: NetnsLab, servers: list, token_file: str, *flags: str) -> subprocess.Popen:
    argv = [sys.executable, str(MAIN), "--hosts", ",".join(s.address for s in servers),
            "--token-file", token_file, "--policy", *flags]
    return lab.popen("orch", argv, cwd=REPO, env=server_env(), stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)


def test_a_game_across_three_hosts_finishes(lab: NetnsLab, servers: list, token_file: str) -> None:
    proc = orchestrate(lab, servers, token_file, "--seed", "2", "--rounds", "3")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "=== Game over after" in out
    for i, name in enumerate(NAMES):  # round-robin over the three hosts
        assert f"on {servers[i % 3].address}" in next(line for line in out.splitlines() if line.strip().startswith(name))


def test_a_killed_host_is_reported_with_its_players(lab: NetnsLab, servers: list, token_file: str) -> None:
    proc = orchestrate(lab, servers, token_file, "--seed", "2", "--rounds", "3", "--policy-delay", "0.2")
    lines: "queue.Queue[str]" = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    deadline = time.monotonic() + 90
    while True:  # wait until the game is under way: the first day begins
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if "Moderator: Day 1." in line:
            break
    killed: ServerProcess = servers[1]
    killed.kill()
    started = time.monotonic()
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    elapsed = time.monotonic() - started
    err = proc.stderr.read()
    assert proc.returncode == 3, err[-3000:]
    assert "lost contact with player(s) Bob, Eve:" in err  # seats 2 and 5 lived on h2
    assert killed.address in err
    assert elapsed < 60


# -- the deployment kit: server/fleet.py ------------------------------------------------
FLEET = REPO / "server" / "fleet.py"


def fleet(config: Path, action: str, *, lab: "NetnsLab | None" = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(FLEET), action, "--config", str(config)]
    if lab is not None:  # run the kit from the orchestrator's "machine"
        argv = lab.command("orch", argv)
    return subprocess.run(argv, cwd=REPO, env=server_env(), capture_output=True, text=True, timeout=120, check=False)


def _stop_leftovers(run_dir: Path) -> None:
    for pid_file in run_dir.glob("*.pid"):
        record = json.loads(pid_file.read_text())
        if record.get("local"):
            try:
                os.kill(record["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fleet_starts_reports_and_stops_local_servers(tmp_path: Path) -> None:
    config = tmp_path / "fleet.json"
    config.write_text(json.dumps({
        "run_dir": str(tmp_path / "run"), "token_file": str(tmp_path / "secret" / "token"),
        "servers": [{"name": n, "host": "127.0.0.1", "port": _free_port()} for n in ("a", "b")],
    }))
    try:
        started = fleet(config, "start")
        assert started.returncode == 0, started.stderr
        assert (tmp_path / "secret" / "token").stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in (tmp_path / "run").glob("*.pid")) == ["a.pid", "b.pid"]
        shown = fleet(config, "status")
        assert shown.returncode == 0 and shown.stdout.count(" up ") == 2, shown.stdout
        assert fleet(config, "stop").returncode == 0
        down = fleet(config, "status")
        assert down.returncode == 1 and down.stdout.count("DOWN") == 2
        assert not list((tmp_path / "run").glob("*.pid"))
    finally:
        _stop_leftovers(tmp_path / "run")


def test_fleet_through_a_command_template_then_a_game(lab: NetnsLab, tmp_path: Path) -> None:
    """The kit's remote path, with `ip netns exec` standing in for ssh."""
    port = next(_ports)
    config = tmp_path / "fleet.json"
    config.write_text(json.dumps({
        "run_dir": str(tmp_path / "run"), "token_file": str(tmp_path / "token"),
        "ssh": "ip netns exec {ns} sh -c {command}", "python": sys.executable,
        "remote_dir": str(REPO), "pythonpath": [str(REPO)],
        "servers": [{"name": h, "host": lab.addresses[h], "port": port, "ns": lab.ns(h), "local": False}
                    for h in HOSTS],
    }))
    try:
        started = fleet(config, "start", lab=lab)
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.count("remote)") == 3
        hosts = ",".join(f"{lab.addresses[h]}:{port}" for h in HOSTS)
        game = lab.popen("orch", [sys.executable, str(MAIN), "--hosts", hosts, "--token-file", str(tmp_path / "token"),
                                  "--policy", "--rounds", "1"], cwd=REPO, env=server_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = game.communicate(timeout=120)
        assert game.returncode == 0 and "=== Game over" in out, err[-3000:]
        shown = fleet(config, "status", lab=lab)
        assert shown.stdout.count(" up ") == 3 and "agents 0" in shown.stdout  # the game removed its players
    finally:
        stopped = fleet(config, "stop", lab=lab)
    assert stopped.returncode == 0 and stopped.stdout.count("stopped") == 3
    assert fleet(config, "status", lab=lab).stdout.count("DOWN") == 3
