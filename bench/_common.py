"""Helpers shared by every workload script (ours and the peers').

Stdlib only: the peer scripts import this file from their own virtualenvs.
A workload script is run as ``python SCRIPT WORKLOAD [--quick] [--repeats N]``
and prints exactly one line ``BENCH_JSON {...}`` on stdout: either
``{"runs": [{metric: value, ...}, ...], "notes": "..."}`` or
``{"na": "why this system cannot run the workload"}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any, Callable, Optional

if __package__ == "bench":  # ours imports bench._common; the peers import _common from bench/
    from bench import paper_sim_plan
else:
    import paper_sim_plan  # type: ignore[no-redef]

MARK = "BENCH_JSON "

# workload -> size in a full run and in --quick
SIZES = {
    "launch5": {"full": 5, "quick": 5},
    "call_latency": {"full": 2000, "quick": 300},
    "pipelined": {"full": 2000, "quick": 500},
    "chain2": {"full": 500, "quick": 100},
    "fanout200": {"full": 200, "quick": 200},
    "create_rate": {"full": 2000, "quick": 300},
    "streaming": {"full": 20000, "quick": 5000},
    "idle_memory": {"full": 1000, "quick": 300},
    "kill_detect": {"full": 1, "quick": 1},
    "sim10k": {"full": 10000, "quick": 2000},
}
WORKLOADS = list(SIZES)

# paper_sim: one workload per case of bench/paper_sim_plan.py (N x sleep)
PAPER_SIM_QUICK_N = 1000
for _case in paper_sim_plan.CASES:
    SIZES[_case.name] = {"full": _case.n, "quick": min(_case.n, PAPER_SIM_QUICK_N)}
PAPER_SIM = [case.name for case in paper_sim_plan.CASES]
WORKLOADS += PAPER_SIM

DETECT_DEADLINE_S = 30.0  # kill_detect: give up waiting after this long
SLEEP_S = 1.0  # fanout200: each reply sleeps this long


def percentile(values: list, q: float) -> float:
    """Nearest-rank percentile, q in [0, 1]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[index]


def latency_stats(seconds: list) -> dict:
    ms = [s * 1000.0 for s in seconds]
    return {"p50_ms": percentile(ms, 0.50), "p99_ms": percentile(ms, 0.99)}


def rss_mb(pid: int) -> float:
    import psutil  # every venv of the bench installs psutil

    return psutil.Process(pid).memory_info().rss / (1024 * 1024)


def now() -> float:
    return time.perf_counter()


def parse(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=None, help="override the workload's size")
    parser.add_argument("--paper-group", choices=["env", "agent"], default="env",
                        help="paper_sim (ours): groups as environments (default) or as agents")
    return parser.parse_args(argv)


ARGS: Optional[argparse.Namespace] = None  # the parsed command line, for workloads that need more than a size


def size(args: argparse.Namespace) -> int:
    if args.n:
        return args.n
    return SIZES[args.workload]["quick" if args.quick else "full"]


def note(message: str) -> None:
    """A progress line on stderr (the workload's log), with the time of day."""
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def emit(result: dict) -> None:
    sys.stdout.write(MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def main(workloads: dict, na: Optional[dict] = None, setup: Optional[Callable] = None,
         teardown: Optional[Callable] = None) -> None:
    """Run the workload named on the command line; print its JSON line.

    ``workloads[name](n, repeats)`` returns ``(runs, notes)``; ``na`` maps
    the workloads this system cannot run to the reason.
    """
    global ARGS  # pylint: disable=global-statement
    args = ARGS = parse()
    if na and args.workload in na:
        emit({"na": na[args.workload]})
        return
    code = 0
    try:
        if setup is not None:
            setup(args)
        runs, notes = workloads[args.workload](size(args), max(1, args.repeats))
        emit({"runs": runs, "notes": notes})
    except Exception as err:  # pylint: disable=broad-except
        traceback.print_exc()
        emit({"error": f"{type(err).__name__}: {err}"})
        code = 1
    finally:
        if teardown is not None:
            teardown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # don't let a peer runtime's shutdown hang the bench
