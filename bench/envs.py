"""Peer virtualenvs for the benchmark: built once, reused.

``bench/.venvs/agentscope016`` holds AgentScope 0.1.6 with its ``distribute``
extra; ``bench/.venvs/ray260`` holds Ray 2.60.0.  Each is built by the
interpreter that runs the bench (``python -m venv``) and marked ready only
after its install succeeded, so a broken half-built venv is rebuilt.

    python bench/envs.py            # build both (a few minutes, once)
    python bench/envs.py --check    # say which are ready
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv

VENVS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".venvs")

# name -> pip requirements.  AgentScope 0.1.6 imports tqdm without declaring it.
PEERS = {
    "agentscope016": ["agentscope[distribute]==0.1.6", "tqdm", "psutil"],
    "ray260": ["ray==2.60.0", "psutil"],
}

BUILD_TIMEOUT_S = 1200


def python_of(name: str) -> str:
    return os.path.join(VENVS_DIR, name, "bin", "python")


def _marker(name: str) -> str:
    return os.path.join(VENVS_DIR, name, ".bench-ready")


def is_ready(name: str) -> bool:
    return os.path.exists(_marker(name)) and os.path.exists(python_of(name))


def build(name: str, quiet: bool = True) -> str:
    """Build the venv ``name`` unless it is ready; return its python."""
    if is_ready(name):
        return python_of(name)
    path = os.path.join(VENVS_DIR, name)
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [python_of(name), "-m", "pip", "install"]
    if quiet:
        cmd.append("-q")
    subprocess.run(cmd + PEERS[name], check=True, env=env,
                   timeout=BUILD_TIMEOUT_S)
    with open(_marker(name), "w", encoding="utf-8") as f:
        f.write(" ".join(PEERS[name]) + "\n")
    return python_of(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("names", nargs="*", default=list(PEERS))
    args = ap.parse_args()
    for name in args.names:
        if args.check:
            print(f"{name}: {'ready' if is_ready(name) else 'missing'}")
            continue
        print(f"building {name} ...", flush=True)
        print(f"{name}: {build(name, quiet=False)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
