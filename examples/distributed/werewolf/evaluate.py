"""Measure the embedded models and prompt sets on real games (a benchmark, not a test).

    nice -n 10 python examples/distributed/werewolf/evaluate.py --games 10
    python examples/distributed/werewolf/evaluate.py --report-only      # re-read the transcripts

Plays `--games` games per option (model:prompts, e.g. `smollm2:plain`),
seeds 0..N-1, options taking turns per seed so they share the machine's
noise; each game is `main.py --quiet --transcript ...` in a subprocess.
From every transcript it computes, per option:

* talk naming a living player -- the share of day speeches that name at least
  one other living player;
* first-try JSON -- the share of decisions (kills, checks, potions, votes)
  whose first answer was usable JSON with the required keys;
* wolf votes after a reveal -- once the seer has named, in her day speech, a
  wolf she found, the share of later ballots by non-wolves that target a wolf;
* fallbacks per game, story-checker problems, wall time per game.

Writes `results/model-comparison.md` (the table for the README) and
`results/model-comparison.json`.  Transcripts go to `results/transcripts/`;
a game whose transcript is complete is not played again.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from werewolf.story import check_story, names_in, story_from_transcript  # noqa: E402

OPTIONS = ["smollm2:plain", "smollm2:coached", "gemma3:coached"]


def complete(path: Path) -> bool:
    """A transcript that reached its end event."""
    try:
        last = path.read_text(encoding="utf-8").strip().splitlines()[-1]
        return json.loads(last)["event"] == "end"
    except (OSError, IndexError, ValueError, KeyError):
        return False


def play(option: str, seed: int, args: argparse.Namespace, out: Path) -> dict:
    """One game in a subprocess; returns {"seconds", "status"}."""
    model, prompts = option.split(":")
    transcript = out / f"{model}-{prompts}-seed{seed}.jsonl"
    timing = transcript.with_suffix(".time")
    if complete(transcript) and timing.exists():
        return json.loads(timing.read_text())
    cmd = [sys.executable, str(HERE / "main.py"), "--model", model, "--prompts", prompts, "--seed", str(seed),
           "--rounds", str(args.rounds), "--servers", str(args.servers), "--quiet", "--color", "never",
           "--transcript", str(transcript)]
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.game_timeout, check=False)
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        status = "timeout"
    info = {"seconds": round(time.monotonic() - start, 1), "status": status}
    timing.write_text(json.dumps(info))
    return info


def measure(path: Path) -> dict:
    """The metrics of one transcript."""
    narration, events, seats, speeches = story_from_transcript(str(path))
    roles = next((d["roles"] for k, _, d in events if k == "end"), {})
    talk = [(r, d) for k, r, d in events if k == "speech"]
    named = sum(1 for _, d in talk if names_in(d["text"], [n for n in d["alive"] if n != d["speaker"]]))
    decisions = [d for k, _, d in events if k == "decision"]
    first_try = sum(1 for d in decisions if d["attempts"] == 1 and not d["fallback"])
    found_wolves: set = set()
    revealed_round: Optional[int] = None
    wolf_votes = reveal_votes = 0
    for kind, rnd, details in events:
        if kind == "check" and details["werewolf"]:
            found_wolves.add(details["target"])
        elif kind == "speech" and roles.get(details["speaker"]) == "seer" and revealed_round is None:
            if set(names_in(details["text"], seats)) & found_wolves:
                revealed_round = rnd
        elif kind == "day_votes" and revealed_round is not None:
            for voter, target in details["votes"].items():
                if roles.get(voter) != "werewolf" and target is not None:
                    reveal_votes += 1
                    wolf_votes += roles.get(target) == "werewolf"
    problems = check_story(narration, events, seats, speeches)
    return {
        "speeches": len(talk), "naming": named, "decisions": len(decisions), "first_try": first_try,
        "reveal_votes": reveal_votes, "wolf_votes": wolf_votes,
        "fallbacks": sum(1 for d in decisions if d["fallback"]), "problems": problems,
        "winner": next((d["winner"] for k, _, d in events if k == "end"), None),
    }


def share(part: int, whole: int) -> str:
    """`62% (31/50)`, or `n/a`."""
    return f"{100 * part / whole:.0f}% ({part}/{whole})" if whole else "n/a"


def report(out: Path, options: list, games: int) -> dict:
    """Aggregate the transcripts into the table and the JSON."""
    rows, table = {}, []
    for option in options:
        model, prompts = option.split(":")
        runs = []
        for seed in range(games):
            path = out / f"{model}-{prompts}-seed{seed}.jsonl"
            timing = path.with_suffix(".time")
            if complete(path):
                runs.append(dict(measure(path), **(json.loads(timing.read_text()) if timing.exists() else {})))
        total = {k: sum(r[k] for r in runs) for k in ("speeches", "naming", "decisions", "first_try",
                                                        "reveal_votes", "wolf_votes", "fallbacks")}
        seconds = sorted(r.get("seconds", 0) for r in runs)
        rows[option] = dict(total, games=len(runs), problems=sum(len(r["problems"]) for r in runs),
                            median_seconds=seconds[len(seconds) // 2] if seconds else None,
                            winners={w: sum(1 for r in runs if r["winner"] == w) for w in
                                     ("villagers", "werewolves", "draw")})
        r = rows[option]
        table.append(
            f"| {model} | {prompts} | {r['games']} | {share(r['naming'], r['speeches'])} | "
            f"{share(r['first_try'], r['decisions'])} | {share(r['wolf_votes'], r['reveal_votes'])} | "
            f"{r['fallbacks'] / max(1, r['games']):.1f} | {r['problems']} | {r['median_seconds']} |")
    header = [
        "| model | prompts | games | talk naming a living player | first-try valid JSON | "
        "votes on a wolf after the seer revealed one | fallbacks / game | story problems | median s / game |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    text = "\n".join(header + table) + "\n"
    (out.parent / "model-comparison.md").write_text(
        "# Werewolf on the embedded models\n\n"
        f"`evaluate.py`: {games} games per option (seeds 0-{games - 1}), 2 local agent servers, "
        "2 rounds, talk budget 40 tokens; 2 shared cores under other load.\n\n" + text, encoding="utf-8")
    (out.parent / "model-comparison.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


def main(argv: Optional[list] = None) -> int:
    """Play what is missing, then write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--games", type=int, default=10, help="games per option")
    parser.add_argument("--seeds", help="play only these seeds, e.g. 5-9 (another worker plays the rest)")
    parser.add_argument("--options", default=",".join(OPTIONS), help="model:prompts,...")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per game")
    parser.add_argument("--servers", type=int, default=2, help="local agent servers per game")
    parser.add_argument("--game-timeout", type=float, default=900.0, help="seconds before a game is given up")
    parser.add_argument("--out", default=str(HERE / "results" / "transcripts"), help="transcript folder")
    parser.add_argument("--report-only", action="store_true", help="do not play, only re-read transcripts")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = [o.strip() for o in args.options.split(",") if o.strip()]
    seeds = list(range(args.games))
    if args.seeds:
        low, _, high = args.seeds.partition("-")
        seeds = list(range(int(low), int(high or low) + 1))
    if not args.report_only:
        for seed in seeds:
            for option in options:
                info = play(option, seed, args, out)
                print(f"{option} seed {seed}: {info['status']} in {info['seconds']} s", flush=True)
                report(out, options, args.games)
    rows = report(out, options, args.games)
    print((out.parent / "model-comparison.md").read_text())
    return 0 if all(r["problems"] == 0 for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
