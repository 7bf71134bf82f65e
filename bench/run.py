"""Benchmark suite: this project against AgentScope 0.1.6 and Ray 2.60.

    python bench/run.py [--peers [as016,ray]] [--quick] [--repeats N] [--only name,...]
    python bench/run.py --peers as016 --only paper_sim [--sizes 1k,10k] [--sleeps 0] [--paper-group agent]

Every workload runs as a subprocess printing one JSON line: ours with this
interpreter (``bench/workloads_ours.py``), the peers each in a virtualenv of
their own (``bench/envs.py`` builds them once under ``bench/.venvs``).
Systems alternate per workload so they share the machine's noise; the table
shows the median over the runs (p50/p99 for latencies), the ratio ours/peer
from the same run, and DESIGN §9's targets met or missed.  Results go to
``bench/results/`` (JSON, plus ``latest.md`` and ``bench.png``; a run with
``paper_sim`` cases also plots ``paper_sim.png``, time against N).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [p for p in (ROOT,) if p not in sys.path]

from bench import envs  # noqa: E402
from bench import paper_sim_plan  # noqa: E402
from bench._common import MARK, PAPER_SIM, WORKLOADS  # noqa: E402

RESULTS = os.path.join(HERE, "results")
RUN_TIMEOUT_S = 1200
FRESH_PROCESS = {"launch5"}  # "from nothing": one process per repeat

SYSTEMS = {  # name -> (label, script, venv or None for this interpreter)
    "ours": ("agentscope-rpc", "workloads_ours.py", None),
    "as016": ("AgentScope 0.1.6", "peers/agentscope_v0.py", "agentscope016"),
    "ray": ("Ray 2.60", "peers/ray_actors.py", "ray260"),
}

# workload -> [(metric, unit, lower_is_better)]
METRICS = {
    "launch5": [("wall_s", "s", True)],
    "call_latency": [("p50_ms", "ms", True), ("p99_ms", "ms", True)],
    "pipelined": [("calls_per_s", "/s", False)],
    "chain2": [("p50_ms", "ms", True), ("p99_ms", "ms", True)],
    "fanout200": [("wall_s", "s", True)],
    "create_rate": [("agents_per_s", "/s", False)],
    "streaming": [("chunks_per_s", "/s", False), ("first_chunk_ms", "ms", True)],
    "idle_memory": [("kb_per_agent", "KB", True), ("idle_server_mb", "MB", True)],
    "kill_detect": [("detect_s", "s", True)],
    "sim10k": [("create_s", "s", True), ("round_s", "s", True)],
}
TITLES = {
    "launch5": "a. child-mode launch of 5 agents to first reply",
    "call_latency": "b. sequential call latency",
    "pipelined": "c. pipelined calls to one agent",
    "chain2": "d. 2-hop placeholder chain",
    "fanout200": "e. 200 agents x 1 s sleep, one server",
    "create_rate": "f. agents created per second, one server",
    "streaming": "g. relayed speak chunks, one stream",
    "idle_memory": "h. memory of idle agents",
    "kill_detect": "i. killed server detected",
    "sim10k": "j. 10,000 agents over 4 servers",
}
# DESIGN §9: (workload, metric) -> (bound, lower_is_better)
TARGETS = {
    ("call_latency", "p50_ms"): (0.6, True),
    ("pipelined", "calls_per_s"): (3000, False),
    ("chain2", "p50_ms"): (2.0, True),
    ("fanout200", "wall_s"): (1.3, True),
    ("streaming", "chunks_per_s"): (20000, False),
    ("streaming", "first_chunk_ms"): (2.0, True),
    ("create_rate", "agents_per_s"): (2000, False),
    ("idle_memory", "kb_per_agent"): (20.0, True),
    ("kill_detect", "detect_s"): (2.0, True),
}

# paper_sim: one workload per case (bench/paper_sim_plan.py); `--only paper_sim` runs them all
GROUPS = {"paper_sim": PAPER_SIM}
for _case in paper_sim_plan.CASES:
    METRICS[_case.name] = [("init_s", "s", True), ("round1_s", "s", True), ("round_s", "s", True),
                           ("rss_mb", "MB", True)]
    TITLES[_case.name] = (f"k. paper_sim: {_case.n:,} participants, sleep {_case.sleep:g} s, "
                          f"{_case.agent_servers} agent + {_case.env_servers} env servers")
# issue 12's scale targets
TARGETS.update({
    ("paper_sim_100k_s0", "init_s"): (10.0, True),
    ("paper_sim_100k_s0", "round_s"): (5.0, True),
    ("paper_sim_1M_s0", "init_s"): (100.0, True),
    ("paper_sim_1M_s0", "round_s"): (60.0, True),
    ("paper_sim_1M_s0", "rss_mb"): (8192.0, True),
})


def timeout_of(system: str, workload: str, repeats: int = 1) -> float:
    """How long one workload subprocess may run before it is killed."""
    case = paper_sim_plan.BY_NAME.get(workload)
    if case is not None:
        runs = min(repeats, case.repeats)
        if system == "ours":
            return runs * max(RUN_TIMEOUT_S, case.n * 0.01)
        return runs * paper_sim_plan.PEER_DEADLINE_S + 120  # each run gives up by itself at the deadline
    return RUN_TIMEOUT_S


def _command(system: str, workload: str, quick: bool, repeats: int, extra: tuple = ()) -> tuple[list, dict]:
    _, script, venv_name = SYSTEMS[system]
    python = sys.executable if venv_name is None else envs.python_of(venv_name)
    cmd = [python, os.path.join(HERE, script), workload, "--repeats", str(repeats), *extra]
    if quick:
        cmd.append("--quick")
    env = dict(os.environ)
    if venv_name is None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH", "")]))
    else:
        env.pop("PYTHONPATH", None)  # a peer sees only its own venv
    return cmd, env


def run_one(system: str, workload: str, quick: bool, repeats: int, log_dir: str, extra: tuple = ()) -> dict:
    """Run one workload of one system in a subprocess; returns its JSON result."""
    cmd, env = _command(system, workload, quick, repeats, extra)
    log_path = os.path.join(log_dir, f"{system}-{workload}.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env,  # pylint: disable=consider-using-with
                                cwd=ROOT, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout_of(system, workload, repeats))
        except subprocess.TimeoutExpired:
            limit = timeout_of(system, workload, repeats)
            out = f"{MARK}{json.dumps({'error': f'killed after {limit:.0f} s'})}".encode()
        finally:
            try:  # the workload's servers (and Ray's daemons) share its session
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return {"error": f"no result (exit {proc.returncode}; see {os.path.relpath(log_path, ROOT)})"}


def run_workload(system: str, workload: str, quick: bool, repeats: int, log_dir: str, extra: tuple = ()) -> dict:
    if workload not in FRESH_PROCESS:
        return run_one(system, workload, quick, repeats, log_dir, extra)
    merged: dict = {"runs": []}
    for _ in range(repeats):
        result = run_one(system, workload, quick, 1, log_dir)
        if "runs" not in result:
            return result
        merged["runs"] += result["runs"]
        merged["notes"] = result.get("notes", "")
    return merged


def median_of(result: dict, metric: str) -> Optional[float]:
    values = [r[metric] for r in result.get("runs", []) if r.get(metric) == r.get(metric) and metric in r]
    return statistics.median(values) if values else None


def summarise(results: dict) -> dict:
    """{workload: {metric: {system: median}}}"""
    return {
        w: {m: {s: median_of(results[w][s], m) for s in results[w]} for m, _, _ in METRICS[w]}
        for w in results
    }


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def _ratio(ours: Optional[float], peer: Optional[float]) -> str:
    if ours is None or not peer:
        return "-"
    ratio = ours / peer
    return f"{ratio:.2f}" if ratio >= 0.01 else f"{ratio:.1e}"


def _status(result: dict) -> Optional[str]:
    if "na" in result:
        return "n/a"
    if "error" in result:
        return "error"
    return None


def table(results: dict, systems: list) -> str:
    summary = summarise(results)
    peers = [s for s in systems if s != "ours"]
    head = ["workload / metric", *(SYSTEMS[s][0] for s in systems), *(f"ours/{SYSTEMS[p][0].split()[0]}" for p in peers), "target", ""]
    rows = [head]
    for workload in results:
        rows.append([TITLES[workload], *[""] * (len(head) - 1)])
        for metric, unit, lower in METRICS[workload]:
            cells = [f"  {metric} ({unit}, {'lower' if lower else 'higher'} is better)"]
            for s in systems:
                status = _status(results[workload][s])
                cells.append(status or _fmt(summary[workload][metric][s]))
            ours = summary[workload][metric].get("ours")
            for p in peers:
                peer = summary[workload][metric].get(p)
                cells.append(_ratio(ours, peer))
            target = TARGETS.get((workload, metric))
            if target is None:
                cells += ["", ""]
            else:
                bound, low = target
                met = ours is not None and (ours <= bound if low else ours >= bound)
                if workload == "streaming" and metric == "chunks_per_s":
                    met = met and median_of(results[workload].get("ours", {}), "none_lost") == 1.0
                cells += [f"{'<=' if low else '>='} {_fmt(bound)}", "met" if met else "MISSED"]
            rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    notes = ["", "Notes (how each system ran each workload):"]
    for workload in results:
        for s in systems:
            r = results[workload][s]
            why = r.get("na") or _one_line(r.get("error", "")) or r.get("notes", "")
            notes.append(f"  {workload} / {SYSTEMS[s][0]}: {why}")
    return "\n".join(lines + notes)


def _one_line(error: str, limit: int = 300) -> str:
    """An error for the notes: its first line and, if it has more, its last (a remote traceback's cause)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _publish(record: dict, no_plot: bool, save_json: bool) -> None:
    """Print the table; write latest.md (and the JSON, the plot).

    A run of paper_sim cases only writes paper_sim-latest.md/.json instead,
    so that it does not replace the whole suite's latest run.
    """
    text = table(record["results"], record["systems"])
    header = (f"agentscope-rpc bench, {record['when']}, commit {record.get('commit', '?')}, "
              f"{record.get('cores', os.cpu_count())} cores, "
              f"{'quick, ' if record['quick'] else ''}{record['repeats']} run(s) per workload, medians\n")
    print("\n" + header + text)
    latest = "paper_sim-latest" if all(w in PAPER_SIM for w in record["results"]) else "latest"
    if save_json:
        path = os.path.join(RESULTS, f"run-{record['when']}.json")
        for p in (path, os.path.join(RESULTS, f"{latest}.json")):
            with open(p, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
        print(f"\nresults: {os.path.relpath(path, ROOT)}")
    with open(os.path.join(RESULTS, f"{latest}.md"), "w", encoding="utf-8") as fh:
        fh.write("```\n" + header + text + "\n```\n")
    if not no_plot:
        try:
            from bench.plot import plot, plot_paper_sim

            path = plot(record, os.path.join(RESULTS, "bench.png"))
            if path is not None:
                print(f"plot: {os.path.relpath(path, ROOT)}")
            if any(w in PAPER_SIM for w in record["results"]):
                path = plot_paper_sim(record, os.path.join(RESULTS, "paper_sim.png"))
                print(f"plot: {os.path.relpath(path, ROOT)}")
        except ImportError as err:
            print(f"plot skipped ({err}); pip install matplotlib")


def _commit() -> str:
    """The code measured: the checkout's commit (+dirty), or $BENCH_COMMIT for an exported copy."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "-uno", "--", "agentscope_rpc", "bench"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("BENCH_COMMIT", "unknown")


def _filter_paper_sim(only: list, sizes: str, sleeps: str) -> list:
    """Keep the paper_sim cases of the given N / sleeps (other workloads pass)."""
    want_n = {_parse_n(x) for x in sizes.split(",") if x.strip()}
    want_sleep = {float(x) for x in sleeps.split(",") if x.strip()}
    kept = []
    for w in only:
        case = paper_sim_plan.BY_NAME.get(w)
        if case is None or ((not want_n or case.n in want_n) and (not want_sleep or case.sleep in want_sleep)):
            kept.append(w)
    if (want_n or want_sleep) and not any(w in paper_sim_plan.BY_NAME for w in kept):
        raise ValueError(f"no paper_sim case has N in {sorted(want_n) or 'any'} and sleep in "
                         f"{sorted(want_sleep) or 'any'}; cases: {', '.join(PAPER_SIM)}")
    return kept


def _parse_n(text: str) -> int:
    text = text.strip().lower().replace(",", "").replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        return int(float(text.rstrip("km")) * scale)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 1k, 10000, 1M)") from None


def _skipped(gave_up: dict, system: str, workload: str) -> Optional[dict]:
    """A peer that missed the deadline at some N is not run at a larger N with the same sleep."""
    case = paper_sim_plan.BY_NAME.get(workload)
    if case is None or system == "ours" or case.ours_only or (system, case.sleep) not in gave_up:
        return None  # an ours-only case: the peer script says n/a itself
    return {"na": f"skipped: N={gave_up[(system, case.sleep)]:,} already failed or did not finish "
                  f"within {paper_sim_plan.PEER_DEADLINE_S:.0f} s"}


def _note_gave_up(gave_up: dict, system: str, workload: str, result: dict) -> None:
    case = paper_sim_plan.BY_NAME.get(workload)
    if case is not None and system != "ours" and ("error" in result or "did not finish" in result.get("na", "")):
        gave_up.setdefault((system, case.sleep), case.n)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--peers", nargs="?", const="as016,ray", default="",
                        help="also run the peers: AgentScope 0.1.6 and Ray 2.60 (or only those named: as016, ray)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="runs per workload (default 3, quick 1)")
    parser.add_argument("--only", default="", help="comma-separated workloads or groups ("
                        + ", ".join(GROUPS) + "): " + ",".join(WORKLOADS))
    parser.add_argument("--sizes", default="", help="paper_sim: only these N, e.g. 1k,10k (default: all)")
    parser.add_argument("--sleeps", default="", help="paper_sim: only these participant sleeps, e.g. 0 (default: 0,1)")
    parser.add_argument("--paper-group", choices=["env", "agent"], default="env",
                        help="paper_sim, ours: groups as environments (default) or as agents (a core without envs)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--show", metavar="JSON", help="print (and re-plot) a saved run instead of running")
    args = parser.parse_args(argv)
    if args.show:
        with open(args.show, encoding="utf-8") as fh:
            record = json.load(fh)
        _publish(record, args.no_plot, save_json=False)
        return 0
    repeats = args.repeats or (1 if args.quick else 3)
    only = [w.strip() for w in args.only.split(",") if w.strip()] or WORKLOADS
    only = [name for w in only for name in GROUPS.get(w, [w])]
    unknown = set(only) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    try:
        only = _filter_paper_sim(only, args.sizes, args.sleeps)
    except ValueError as err:
        parser.error(str(err))
    systems = ["ours"]
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if set(peers) - {"as016", "ray"}:
        parser.error(f"unknown peer(s): {', '.join(sorted(set(peers) - {'as016', 'ray'}))} (as016, ray)")
    if peers:
        for name in [p for p in ("as016", "ray") if p in peers]:
            venv_name = SYSTEMS[name][2]
            if not envs.is_ready(venv_name):
                print(f"building {venv_name} (once; bench/.venvs/) ...", flush=True)
            envs.build(venv_name)
            systems.append(name)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    commit = _commit()
    log_dir = os.path.join(RESULTS, "logs", stamp)
    os.makedirs(log_dir, exist_ok=True)
    results: dict = {}
    started = time.monotonic()
    gave_up: dict = {}  # (system, sleep) -> the paper_sim N that did not finish in time
    for workload in only:
        results[workload] = {}
        for system in systems:
            t0 = time.monotonic()
            print(f"[{time.monotonic() - started:6.0f}s] {workload:<13} {SYSTEMS[system][0]} ...", end="", flush=True)
            skip = _skipped(gave_up, system, workload)
            extra = ("--paper-group", args.paper_group) if workload in PAPER_SIM and system == "ours" else ()
            results[workload][system] = skip or run_workload(system, workload, args.quick, repeats, log_dir, extra)
            r = results[workload][system]
            _note_gave_up(gave_up, system, workload, r)
            print(f" {_status(r) or 'ok'} ({time.monotonic() - t0:.0f}s)", flush=True)
    record = {"when": stamp, "commit": commit, "quick": args.quick, "repeats": repeats, "systems": systems,
              "results": results, "summary": summarise(results), "cores": os.cpu_count()}
    _publish(record, args.no_plot, save_json=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
