"""An orchestrator in a process of its own, for faults a test must inflict on the client side.

    python tests/fault_client.py SCENARIO --host H --port P --marker-dir DIR [--wait S]

The token comes from $AGENTSCOPE_RPC_TOKEN (never the command line).  The
script talks on stdout, one line at a time, and waits for the test's cue on
stdin where a scenario has several steps:

- `stream`: starts a `RunCounter` in stream mode and prints `STREAMING` once
  20 chunks arrived, then waits for the call (the test kills this process).
- `cut`: starts a `RunCounter` call that sleeps, prints `STARTED`, then waits
  for a line on stdin (the link is cut meanwhile).  It measures how long the
  pending call and a new call take to fail, prints them as one JSON line,
  waits for another line (the link is back), then creates and calls a fresh
  agent, retrying as an application would until `--wait` passes, and prints
  a JSON line about that (its content, attempts, seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from agentscope_rpc import runtime  # noqa: E402
from agentscope_rpc.message import Msg  # noqa: E402
from fault_agents import RunCounter  # noqa: E402



def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def failure(func) -> dict:
    """Run `func()`, expecting it to raise; what it raised and after how long."""
    start = time.monotonic()
    try:
        func()
        error = None
    except Exception as err:  # pylint: disable=broad-except
        error = type(err).__name__
    return {"error": error, "seconds": round(time.monotonic() - start, 3)}


def stream(options: dict, marker_dir: str, wait: float) -> None:
    agent = RunCounter("victim", marker_dir, hold=120.0, mode="stream", to_dist=options)
    chunks = [0]
    streaming = threading.Event()

    def count(*_args) -> None:
        chunks[0] += 1
        if chunks[0] == 20:
            streaming.set()

    agent.register_hook("pre_speak", "count", count)
    placeholder = agent(Msg("user", "first"))
    if not streaming.wait(30):
        say("NO-STREAM")
        return
    say("STREAMING")
    placeholder.result(timeout=wait)


def cut(options: dict, marker_dir: str, wait: float) -> None:
    agent = RunCounter("victim", marker_dir, hold=20.0, to_dist=options)
    started = threading.Event()
    agent.register_hook("pre_speak", "started", lambda *_: started.set())
    placeholder = agent(Msg("user", "first"))
    if not started.wait(30):
        say("NO-START")
        return
    say("STARTED")
    sys.stdin.readline()  # the test cuts the link, then says go
    pending = failure(lambda: placeholder.result(timeout=wait))
    new = failure(lambda: agent(Msg("user", "second")).result(timeout=wait))
    say(json.dumps({"pending": pending, "new": new}))
    sys.stdin.readline()  # the link is back
    start = time.monotonic()
    deadline = start + wait
    attempts = 0
    while True:  # as an application would after an outage: retry until the deadline
        attempts += 1
        try:
            fresh = RunCounter("fresh", marker_dir, hold=0.0, to_dist=options)
            content = fresh(Msg("user", "after")).result(timeout=max(1.0, deadline - time.monotonic())).content
            break
        except Exception as err:  # pylint: disable=broad-except
            content = f"{type(err).__name__}: {err}"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)  # pacing the application's retries, not coordination
    say(json.dumps({"after": content, "attempts": attempts, "seconds": round(time.monotonic() - start, 3)}))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["stream", "cut"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--marker-dir", required=True)
    parser.add_argument("--wait", type=float, default=60.0, help="longest wait for any one step")
    args = parser.parse_args()
    runtime.default().set_printer(None)
    options = {"host": args.host, "port": args.port}  # the token: $AGENTSCOPE_RPC_TOKEN
    {"stream": stream, "cut": cut}[args.scenario](options, args.marker_dir, args.wait)
    return 0


if __name__ == "__main__":
    sys.exit(main())
