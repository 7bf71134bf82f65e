"""Sequential call latency of today's runtime, variants (a) and (b), and the gRPC floor, in one run.

    python bench/experiments/latency.py [--rounds 20] [--block 150] [--warm 20]
                                        [--systems today,a_direct,...] [--checks] [--tag NAME]

One worker process per system (``systems.py``), each with its own server
subprocess, all started before the first measurement.  The run alternates
the systems: in every round each system makes `--warm` untimed and then
`--block` timed sequential calls, one system after another, the order
rotated each round so that every system sits in every position equally
often.  So all share the machine's noise (2 shared cores, load that varies a
lot: the 1-minute load average is recorded every round).  With `--checks`
the systems with agents also run, alternated the same way, pipelined calls
(2,000 issued, then awaited) and 200 agents x 1 s sleep on one server.

Reported per system: p50 / p99 over all timed calls, the median of the
per-round p50s, the per-round p50 ratio to today's runtime (median and
range: a paired comparison, robust to load drifting between rounds), and
CPU time per call of the client and the server processes.  Results go to
``bench/experiments/results/latency-<stamp>[-tag].json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
import time
from typing import Any, Optional

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [p for p in (ROOT,) if p not in sys.path]

from bench.experiments import _procs  # noqa: E402

RESULTS = os.path.join(HERE, "results")
ALL = ["today", "a_direct", "b_sync_server", "ab_sync_session", "b_sync_unary", "floor_aio", "floor_sync_stream",
       "floor_sync_unary"]
DIAGNOSTICS = ["ab_no_hand_off", "ab_single_thread"]  # not in a default run; name them with --systems
WITH_AGENTS = ["today", "a_direct", "b_sync_server", "ab_sync_session", "b_sync_unary"]
STREAMING_FLOORS = ["floor_aio", "floor_sync_stream"]  # --checks: server-stream messages/s
BURST = 20_000
READY_TIMEOUT_S = 180.0
REPLY_TIMEOUT_S = 600.0


def percentile(values: list, q: float) -> float:
    """Nearest-rank percentile, q in [0, 1] (as bench/_common.py)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[index]


class Worker:
    """One system's worker process (bench/experiments/systems.py)."""

    def __init__(self, name: str, log_dir: str) -> None:
        self.name = name
        self._log = open(os.path.join(log_dir, f"{name}.log"), "wb")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "bench.experiments.systems", name], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, env=_procs.env_with_root(), cwd=ROOT, start_new_session=True,
        )
        self.info = self._read(READY_TIMEOUT_S)
        if not self.info.startswith("READY "):
            raise RuntimeError(f"{name} did not start: {self.info!r} (see {self._log.name})")
        self.info = json.loads(self.info[len("READY "):])

    def _read(self, timeout: float) -> str:
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=timeout):
                raise TimeoutError(f"{self.name} did not answer within {timeout:.0f} s")
        line = self.proc.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"{self.name} exited (code {self.proc.poll()}; see {self._log.name})")
        return line.strip()

    def ask(self, **command: Any) -> dict:
        """Send one command; its JSON answer."""
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        return json.loads(self._read(REPLY_TIMEOUT_S))

    def stop(self) -> None:
        """Ask it to quit; kill it if it does not within 30 s."""
        try:
            self.proc.stdin.write(b'{"op": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def _git_head() -> str:
    """The commit measured: git's HEAD, or $EXPERIMENT_COMMIT in an exported snapshot."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        head = ""
    return os.environ.get("EXPERIMENT_COMMIT", "") or head


def _rotated(names: list, r: int) -> list:
    k = r % len(names)
    return names[k:] + names[:k]


def run(names: list, rounds: int, block: int, warm: int, checks: Optional[tuple], log_dir: str) -> dict:
    """Start the workers, alternate the measurements; the raw record."""
    record: dict = {"systems": names, "rounds": rounds, "block": block, "warm": warm, "commit": _git_head(),
                    "grpc": grpc.__version__, "python": sys.version.split()[0], "cores": os.cpu_count(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load": [], "blocks": {n: [] for n in names},
                    "checks": {}}
    workers: dict[str, Worker] = {}
    try:
        for name in names:
            workers[name] = Worker(name, log_dir)
            print(f"  {name}: ready", flush=True)
        for r in range(rounds):
            record["load"].append(os.getloadavg()[0])
            for name in _rotated(names, r):
                reply = workers[name].ask(op="block", n=block, warm=warm)
                if "error" in reply:
                    raise RuntimeError(f"{name}: {reply['error']}")
                record["blocks"][name].append(reply)
            p50s = {n: percentile(record["blocks"][n][-1]["samples_us"], 0.5) / 1e3 for n in names}
            print(f"  round {r + 1}/{rounds} load {record['load'][-1]:.1f}: "
                  + " ".join(f"{n}={v:.3f}" for n, v in p50s.items()), flush=True)
        if checks:
            record["checks"] = _checks([workers[n] for n in names if n in WITH_AGENTS], *checks)
            record["bursts"] = _bursts([workers[n] for n in names if n in STREAMING_FLOORS])
        record["load"].append(os.getloadavg()[0])
    finally:
        for worker in workers.values():
            worker.stop()
    record["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return record


def _bursts(workers: list) -> dict:
    """Messages/s of one server stream of BURST small messages (3 alternated repeats), for the floors."""
    out: dict = {w.name: [] for w in workers}
    for r in range(3 if workers else 0):
        for worker in _rotated(workers, r):
            out[worker.name].append(worker.ask(op="burst", n=BURST))
        print(f"  burst {r + 1}/3: " + " ".join(
            f"{w.name}={out[w.name][-1].get('msgs_per_s', float('nan')):,.0f}/s" for w in workers), flush=True)
    return out


def _checks(workers: list, pipelined: int = 3, sleepers: int = 2) -> dict:
    """Pipelined calls/s and 200 x 1 s sleepers (alternated repeats), for the agent systems."""
    out: dict = {w.name: {"pipelined": [], "sleepers": [], "load": []} for w in workers}
    if not workers:
        return out
    for r in range(pipelined):
        for worker in _rotated(workers, r):
            out[worker.name]["load"].append(os.getloadavg()[0])
            out[worker.name]["pipelined"].append(worker.ask(op="pipelined", n=2000))
        print(f"  pipelined {r + 1}/{pipelined}: " + " ".join(
            f"{w.name}={out[w.name]['pipelined'][-1].get('calls_per_s', float('nan')):,.0f}/s" for w in workers),
            flush=True)
    for r in range(sleepers):
        for worker in _rotated(workers, r):
            out[worker.name]["sleepers"].append(worker.ask(op="sleepers", n=200, s=1.0))
        print(f"  sleepers {r + 1}/{sleepers}: " + " ".join(
            f"{w.name}={out[w.name]['sleepers'][-1].get('wall_s', float('nan')):.2f}s" for w in workers), flush=True)
    return out


def summarise(record: dict) -> dict:
    """Per system: pooled percentiles, per-round p50s, paired ratios to today, CPU per call."""
    names = record["systems"]
    per_round = {n: [percentile(b["samples_us"], 0.5) / 1e3 for b in record["blocks"][n]] for n in names}
    summary = {}
    for name in names:
        blocks = record["blocks"][name]
        samples = [s / 1e3 for b in blocks for s in b["samples_us"]]
        calls = [len(b["samples_us"]) for b in blocks]
        row = {
            "calls": len(samples),
            "p50_ms": percentile(samples, 0.5),
            "p99_ms": percentile(samples, 0.99),
            "round_p50_median_ms": statistics.median(per_round[name]),
            "cpu_client_us": statistics.median(b["cpu_client_s"] / c * 1e6 for b, c in zip(blocks, calls)),
            "cpu_server_us": statistics.median(b["cpu_server_s"] / c * 1e6 for b, c in zip(blocks, calls)),
        }
        if "today" in per_round and name != "today":
            ratios = [v / t for v, t in zip(per_round[name], per_round["today"])]
            row.update(ratio_median=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                       rounds_faster=sum(r < 1 for r in ratios))
        summary[name] = row
    return summary


def _checks_table(checks: dict) -> list:
    if not checks:
        return []
    lines = ["", "| system | pipelined calls/s (each run) | 200 x 1 s sleepers, wall s (each run) |",
             "|---|---:|---:|"]
    for name, c in checks.items():
        rates = [f"{p['calls_per_s']:,.0f}" for p in c["pipelined"] if "calls_per_s" in p]
        walls = [f"{s['wall_s']:.2f}" for s in c["sleepers"] if "wall_s" in s]
        errors = [p["error"] for p in c["pipelined"] + c["sleepers"] if "error" in p]
        lines.append(f"| {name} | {' / '.join(rates)} | {' / '.join(walls)} |"
                     + (f" errors: {errors}" if errors else ""))
    return lines


def _bursts_table(bursts: dict) -> list:
    if not bursts:
        return []
    lines = ["", f"| floor | one server stream of {BURST:,} 64-byte messages, messages/s (each run) |", "|---|---:|"]
    for name, runs in bursts.items():
        rates = [f"{r['msgs_per_s']:,.0f}" if "msgs_per_s" in r else f"error: {r.get('error')}" for r in runs]
        lines.append(f"| {name} | {' / '.join(rates)} |")
    return lines


def markdown(record: dict, summary: dict) -> str:
    """The run as a Markdown table (what README.md quotes)."""
    from bench.experiments.systems import SYSTEMS  # noqa: PLC0415  (labels only)

    load = record["load"]
    head = (f"Run {record['started']} .. {record['finished']}, commit {record['commit']}, grpcio {record['grpc']}, "
            f"Python {record['python']}, {record['cores']} cores; {record['rounds']} rounds x {record['block']} "
            f"timed calls (+{record['warm']} untimed) per system, alternated; 1-min load average per round "
            f"min {min(load):.1f} / median {statistics.median(load):.1f} / max {max(load):.1f}.")
    lines = [head, "",
             "| system | calls | p50 ms | p99 ms | median of round p50s | round p50 / today's (median, range) "
             "| client CPU us/call | server CPU us/call |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in summary.items():
        ratio = (f"{row['ratio_median']:.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f}), "
                 f"faster in {row['rounds_faster']}/{record['rounds']}") if "ratio_median" in row else "1"
        lines.append(f"| {name}: {SYSTEMS[name].label} | {row['calls']:,} | {row['p50_ms']:.3f} | {row['p99_ms']:.2f} "
                     f"| {row['round_p50_median_ms']:.3f} | {ratio} | {row['cpu_client_us']:.0f} "
                     f"| {row['cpu_server_us']:.0f} |")
    return "\n".join(lines + _checks_table(record.get("checks", {})) + _bursts_table(record.get("bursts", {}))) + "\n"


def main(argv: Optional[list] = None) -> int:
    """Run, print and save (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=int, default=150, help="timed calls per system per round")
    parser.add_argument("--warm", type=int, default=20, help="untimed calls before each block")
    parser.add_argument("--systems", default=",".join(ALL))
    parser.add_argument("--checks", action="store_true", help="also pipelined calls/s and 200 x 1 s sleepers")
    parser.add_argument("--pipelined-repeats", type=int, default=3, help="with --checks")
    parser.add_argument("--sleepers-repeats", type=int, default=2, help="with --checks")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--out", default=RESULTS, help="directory of the result files (default: results/)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = set(names) - set(ALL) - set(DIAGNOSTICS)
    if unknown:
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))} (known: {', '.join(ALL + DIAGNOSTICS)})")
    stamp = time.strftime("%Y%m%d-%H%M%S") + (f"-{args.tag}" if args.tag else "")
    log_dir = os.path.join(args.out, "logs", stamp)
    os.makedirs(log_dir, exist_ok=True)
    checks = (args.pipelined_repeats, args.sleepers_repeats) if args.checks else None
    record = run(names, args.rounds, args.block, args.warm, checks, log_dir)
    record["summary"] = summarise(record)
    text = markdown(record, record["summary"])
    print("\n" + text)
    base = os.path.join(args.out, f"latency-{stamp}")
    with open(base + ".json", "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    with open(base + ".md", "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"results: {os.path.relpath(base, ROOT)}.json / .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
