"""Bar charts of one bench run: latency and throughput against the peers.

    python bench/plot.py [bench/results/latest.json] [-o bench/results/bench.png]

Each panel is one metric; bars are the systems of the run (medians), the
dashed line is DESIGN §9's target for ours where it has one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(HERE),) if p not in sys.path]

PANELS = [  # (workload, metric, title, log scale)
    ("call_latency", "p50_ms", "call latency p50 (ms)", False),
    ("chain2", "p50_ms", "2-hop chain p50 (ms)", False),
    ("pipelined", "calls_per_s", "pipelined calls/s", False),
    ("streaming", "chunks_per_s", "relayed chunks/s", False),
    ("fanout200", "wall_s", "200 x 1 s sleep, wall (s)", False),
    ("create_rate", "agents_per_s", "agents created/s (log)", True),
    ("launch5", "wall_s", "launch 5 to first reply (s)", False),
    ("sim10k", "round_s", "10k-agent round (s)", False),
    ("kill_detect", "detect_s", "killed server detected (s)", False),
]
COLORS = {"ours": "#2b7bba", "as016": "#e8833a", "ray": "#4caf50"}
LABELS = {"ours": "agentscope-rpc", "as016": "AgentScope 0.1.6", "ray": "Ray 2.60"}


def plot(record: dict, out: str) -> Optional[str]:
    """Bar chart panels of the run's ordinary workloads; None if it had none."""
    summary = record["summary"]
    if not any(p[0] in summary for p in PANELS):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.run import TARGETS

    systems = record["systems"]
    panels = [p for p in PANELS if p[0] in summary]
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (workload, metric, title, log) in zip(axes.flat, panels):
        values = summary[workload][metric]
        names = [s for s in systems if values.get(s) is not None]
        bars = ax.bar([LABELS[s] for s in names], [values[s] for s in names],
                      color=[COLORS[s] for s in names])
        for bar, s in zip(bars, names):
            v = values[s]
            ax.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.2f}", (bar.get_x() + bar.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=8)
        for s in systems:
            if values.get(s) is None:
                ax.text(0.98, 0.80, f"{LABELS[s]}: n/a", transform=ax.transAxes, ha="right",
                        va="top", fontsize=7, color="gray")
        target = TARGETS.get((workload, metric))
        if target is not None:
            ax.axhline(target[0], color="red", linestyle="--", linewidth=1, label="target (ours)")
            ax.legend(fontsize=7, loc="upper right", framealpha=0.6)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(top=ax.get_ylim()[1] * 3)
        else:
            ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the value labels
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"agentscope-rpc vs peers, same run ({record['when']}, medians of {record['repeats']})",
                 fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_paper_sim(record: dict, out: str) -> str:
    """paper_sim: init and round time against N (log-log), one panel per sleep; total RSS against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.paper_sim_plan import BY_NAME
    from bench.run import TARGETS

    summary = record["summary"]
    cases = [BY_NAME[w] for w in summary if w in BY_NAME]
    sleeps = sorted({c.sleep for c in cases})
    fig, axes = plt.subplots(1, len(sleeps) + 1, figsize=(5.0 * (len(sleeps) + 1), 4.0), squeeze=False)
    for ax, sleep in zip(axes[0], sleeps):
        for system in record["systems"]:
            for metric, style, what in (("round_s", "-", "round"), ("init_s", "--", "init")):
                points = sorted((c.n, summary[c.name][metric].get(system)) for c in cases if c.sleep == sleep)
                points = [(n, v) for n, v in points if v is not None]
                if points:
                    ax.plot(*zip(*points), style, marker="o", color=COLORS[system],
                            label=f"{LABELS[system]} {what}")
        for c in cases:
            for metric, marker in (("init_s", "v"), ("round_s", "^")):
                target = TARGETS.get((c.name, metric))
                if target is not None and c.sleep == sleep:
                    ax.plot([c.n], [target[0]], marker, color="red", markersize=8, fillstyle="none")
        missing = [f"{LABELS[system]} at {c.n:,}: {_why_missing(record, c.name, system)}"
                   for c in cases if c.sleep == sleep for system in record["systems"]
                   if summary[c.name]["round_s"].get(system) is None and not (c.ours_only and system != "ours")]
        if missing:
            ax.text(0.98, 0.02, "\n".join(missing), transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=6.5, color="gray")
        ax.set_title(f"participants sleep {sleep:g} s (red: targets, \u25bd init, \u25b3 round)", fontsize=10)
        _log_axes(ax, "time (s)")
    ax = axes[0][-1]
    for system in record["systems"]:
        for sleep, style in zip(sleeps, ("-", ":")):
            points = sorted((c.n, summary[c.name]["rss_mb"].get(system)) for c in cases if c.sleep == sleep)
            points = [(n, v) for n, v in points if v is not None]
            if points:
                ax.plot(*zip(*points), style, marker="o", color=COLORS[system],
                        label=f"{LABELS[system]}, sleep {sleep:g}")
    for c in cases:
        target = TARGETS.get((c.name, "rss_mb"))
        if target is not None:
            ax.plot([c.n], [target[0]], "_", color="red", markersize=14, markeredgewidth=2)
    ax.set_title("total RSS, all processes (MB; red: target)", fontsize=10)
    _log_axes(ax, "MB")
    fig.suptitle(f"paper_sim: guess 2/3 of the average ({record['when']}, same run)", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _why_missing(record: dict, workload: str, system: str) -> str:
    result = record["results"].get(workload, {}).get(system, {})
    if "error" in result:
        return "failed"
    why = result.get("na", "not run")
    return "did not finish in time" if "did not finish" in why else ("skipped" if "skipped" in why else "n/a")


def _log_axes(ax, ylabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("participants (N)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", nargs="?", default=os.path.join(HERE, "results", "latest.json"))
    parser.add_argument("-o", "--out", default=os.path.join(HERE, "results", "bench.png"))
    args = parser.parse_args()
    with open(args.path, encoding="utf-8") as fh:
        record = json.load(fh)
    bars = plot(record, args.out)
    if bars is not None:
        print(bars)
    if any(w.startswith("paper_sim") for w in record["summary"]):
        print(plot_paper_sim(record, os.path.join(os.path.dirname(args.out), "paper_sim.png")))


if __name__ == "__main__":
    main()
