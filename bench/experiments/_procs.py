"""Server subprocesses of the experiments: start one, read its port, stop it.

A server started here prints ``PORT <n>`` once it listens and exits when its
stdin closes, so it never outlives the process that started it.
"""
from __future__ import annotations

import os
import selectors
import subprocess
import sys
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT_S = 60.0


def env_with_root(extra: Optional[dict] = None) -> dict:
    """This environment with the checkout on PYTHONPATH (and `extra` set)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH", "")]))
    env.update(extra or {})
    return env


def spawn_server(module: str, args: list, extra_env: Optional[dict] = None) -> tuple[subprocess.Popen, int]:
    """Run ``python -m module *args``; returns (process, port) once it printed ``PORT n``."""
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", module, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=env_with_root(extra_env), cwd=ROOT,
    )
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=START_TIMEOUT_S):
            stop(proc)
            raise TimeoutError(f"{module} did not report its port within {START_TIMEOUT_S:.0f} s")
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("PORT "):
        stop(proc)
        raise RuntimeError(f"{module} did not start: {line!r} (exit {proc.poll()})")
    return proc, int(line.split()[1])


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Close the server's stdin (it exits), kill it if it has not after `timeout` seconds."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def serve_until_stdin_closes(port: int) -> None:
    """In a server process: report `port`, then block until the parent closes our stdin."""
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # EOF: the parent is done with us (or died)
