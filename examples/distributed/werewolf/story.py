"""The story checker: does the narration tell the game that was played?

    python examples/distributed/werewolf/story.py game.jsonl     # a --transcript file

`check_story(narration, events, seats)` replays the facts the rules engine
recorded (`GameResult.events`: kill votes, the night's outcome, seer checks,
dawn deaths, decisions and fallbacks, ballots, eliminations, the end) on its
own -- it keeps its own list of the living -- and reads the narration *text*
the audience saw, sentence by sentence, against them.  It returns a list of
problems (empty: consistent).  Checked: phases in order; each dawn names
exactly who died (or that nobody did); the werewolves' wake-up names the
living wolves with the right grammar; every private decision line says what
was decided (the wolves' picks, the pack's victim, the witch's potion, the
seer's target and verdict); each fallback is announced; every voter's ballot
is shown and the tally follows from the ballots shown; nobody dead speaks;
"Still alive" is right; the roles are revealed and the winner is right.

`story_from_transcript(path)` gets (narration, events, seats, speeches) from
a transcript written by `main.py --transcript`.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional

WOLF, SEER = "werewolf", "seer"


def names_in(text: str, seats: Iterable[str]) -> list:
    """Seats named in `text`, in seat order."""
    return [n for n in seats if re.search(rf"\b{re.escape(n)}\b", text)]


class _Reader:
    """Walks the narration of one round."""

    def __init__(self, lines: list) -> None:
        self.lines = lines

    def find(self, rnd: int, kind: Optional[str] = None, speaker: Optional[str] = None,
             pattern: Optional[str] = None, channel: Any = "any") -> list:
        found = []
        for line in self.lines:
            if line["round"] != rnd or (kind and line["kind"] != kind) or (speaker and line["speaker"] != speaker):
                continue
            if channel != "any" and line.get("channel") != channel:
                continue
            if pattern and not re.search(pattern, line["text"]):
                continue
            found.append(line)
        return found


def _by_kind(events: list, kind: str) -> dict:
    out: dict = {}
    for k, rnd, details in events:
        if k == kind:
            out.setdefault(rnd, []).append(details)
    return out


def check_story(narration: list, events: list, seats: list, speeches: Optional[list] = None) -> list:
    """Problems found comparing the narration (dicts or `Line`s) with the facts; [] if none."""
    lines = [n.to_dict() if hasattr(n, "to_dict") else dict(n) for n in narration]
    events = [tuple(e) for e in events]
    read = _Reader(lines)
    problems: list = []
    end = [d for k, _, d in events if k == "end"]
    if not end:
        return ["the facts have no end of game"]
    roles = end[0]["roles"]
    alive = list(seats)
    nights, dawns, checks = _by_kind(events, "night"), _by_kind(events, "dawn"), _by_kind(events, "check")
    kills, days, decisions = _by_kind(events, "kill_votes"), _by_kind(events, "day_votes"), _by_kind(events, "decision")
    spoken = speeches if speeches is not None else [(r, d["speaker"]) for k, r, d in events if k == "speech"]
    phases = [line["text"] for line in lines if line["kind"] == "phase"]
    expected_phases = []
    for rnd in sorted(set(nights) | set(days)):
        expected_phases += [f"Night {rnd}"] + ([f"Day {rnd}"] if rnd in days else [])
    if phases != expected_phases:
        problems.append(f"phases {phases} != {expected_phases}")

    def fallback_of(rnd: int, player: str, action: str) -> Optional[bool]:
        for d in decisions.get(rnd, []):
            if d["player"] == player and d["action"] == action:
                return bool(d["fallback"])
        return None

    for rnd in sorted(set(nights) | set(days)):
        if rnd in nights:
            problems += _check_night(read, rnd, nights[rnd][0], kills.get(rnd, [{}])[0], checks.get(rnd, []),
                                     dawns.get(rnd), roles, alive, seats, fallback_of)
            deaths = (dawns.get(rnd) or [{"deaths": []}])[0]["deaths"]
            alive = [n for n in alive if n not in deaths]
        for r, speaker in spoken:
            if r == rnd and speaker not in alive:
                problems.append(f"round {rnd}: {speaker} speaks while dead")
        if rnd in days:
            problems += _check_day(read, rnd, days[rnd][0], alive, seats, fallback_of)
            out = days[rnd][0]["eliminated"]
            alive = [n for n in alive if n != out]
    last = max(set(nights) | set(days), default=0)
    problems += _check_end(read, last, end[0], roles, alive, seats)
    return problems


def _check_night(read: _Reader, rnd: int, night: dict, kill_votes: dict, checks: list, dawn: Optional[list],
                 roles: dict, alive: list, seats: list, fallback_of: Any) -> list:
    problems = []
    wolves = [n for n in alive if roles[n] == WOLF]
    wake = read.find(rnd, "private", pattern=r"you are the (werewolves|last werewolf)")
    if len(wake) != 1:
        problems.append(f"night {rnd}: {len(wake)} werewolf wake-up lines")
    else:
        named = names_in(wake[0]["text"].split(":")[0], seats)
        plural = "you are the werewolves" in wake[0]["text"]
        if named != wolves or plural != (len(wolves) > 1):
            problems.append(f"night {rnd}: wake-up {wake[0]['text']!r} but the living wolves are {wolves}")
    shown: dict = {}
    for wolf in wolves:
        said = read.find(rnd, "decision", wolf, r"^I want ")
        made_up = read.find(rnd, "fallback", pattern=rf"^{wolf} hesitated; the moderator chose", channel="werewolves")
        line = (said or made_up or [None])[0]
        if line is None:
            problems.append(f"night {rnd}: no line for {wolf}'s pick")
            continue
        picked = names_in(line["text"].replace(wolf, "", 1) if made_up else line["text"], seats)
        shown[wolf] = picked[0] if picked else None
        if shown[wolf] != kill_votes.get(wolf):
            problems.append(f"night {rnd}: {line['text']!r} but {wolf}'s vote was {kill_votes.get(wolf)}")
        if bool(made_up) != bool(fallback_of(rnd, wolf, "kill")):
            problems.append(f"night {rnd}: {wolf}'s fallback {'announced' if made_up else 'not announced'} wrongly")
    pack = read.find(rnd, "private", pattern=r"^\(werewolves only\) The pack ")
    victim = night["attacked"]
    if not pack or (names_in(pack[0]["text"], seats) or [None])[0] != victim:
        problems.append(f"night {rnd}: the pack's line does not name the victim {victim}")
    counts = Counter(t for t in shown.values() if t)
    if victim is not None and counts and counts[victim] != max(counts.values()):
        problems.append(f"night {rnd}: victim {victim} is not the most named of {dict(counts)}")
    problems += _check_witch(read, rnd, night, roles, alive, seats, fallback_of)
    seers = [n for n in alive if roles[n] == SEER]
    if seers:
        seer = seers[0]
        picks = read.find(rnd, "decision", seer, r"^I look into ") + \
            read.find(rnd, "fallback", pattern=rf"^{seer} hesitated", channel="seer")
        target = checks[0]["target"] if checks else None
        if not picks or (names_in(picks[0]["text"].replace(seer, "", 1), seats) or [None])[0] != target:
            problems.append(f"night {rnd}: the seer's line does not name her check {target}")
        if target is not None:
            verdict = read.find(rnd, "private", pattern=rf"^\(seer only\) {target} is ")
            wolf = roles[target] == WOLF
            if len(verdict) != 1 or ("a WEREWOLF" in verdict[0]["text"]) != wolf:
                problems.append(f"night {rnd}: the seer is not told truly what {target} is")
    deaths = [n for n in (None if night["saved"] else victim, night["poisoned"]) if n is not None]
    deaths = list(dict.fromkeys(deaths))
    if not dawn or dawn[0]["deaths"] != deaths:
        problems.append(f"night {rnd}: the recorded dawn {dawn} does not follow from the night {night}")
    said = read.find(rnd, "dawn")
    if len(said) != 1:
        problems.append(f"night {rnd}: {len(said)} dawn lines")
    elif names_in(said[0]["text"], seats) != [n for n in seats if n in deaths] or \
            (not deaths and "Nobody died" not in said[0]["text"]):
        problems.append(f"night {rnd}: dawn says {said[0]['text']!r} but the dead are {deaths or 'nobody'}")
    return problems


def _check_witch(read: _Reader, rnd: int, night: dict, roles: dict, alive: list, seats: list,
                 fallback_of: Any) -> list:
    witches = [n for n in alive if roles[n] == "witch"]
    if not witches:
        return []
    witch = witches[0]
    said = read.find(rnd, "decision", witch) + read.find(rnd, "fallback", pattern=rf"^{witch} hesitated", channel="witch")
    if not said:
        return []  # no potion left: she is not asked
    text = said[0]["text"]
    if text.startswith("I heal"):
        ok = night["saved"] and names_in(text, seats) == [night["attacked"]]
    elif text.startswith("I poison"):
        ok = not night["saved"] and names_in(text, seats) == [night["poisoned"]]
    else:
        ok = not night["saved"] and night["poisoned"] is None
    if bool(fallback_of(rnd, witch, "witch")) != said[0]["kind"].startswith("fallback"):
        ok = False
    return [] if ok else [f"night {rnd}: the witch says {text!r} but the night was {night}"]


def _check_day(read: _Reader, rnd: int, day: dict, alive: list, seats: list, fallback_of: Any) -> list:
    problems = []
    opening = read.find(rnd, "announce", pattern=r"^Day \d+\. Still alive: ")
    if len(opening) != 1 or names_in(opening[0]["text"], seats) != alive:
        problems.append(f"day {rnd}: the day does not open with the living {alive}")
    ballots: dict = {}
    for voter in alive:
        said = read.find(rnd, "ballot", voter)
        made_up = read.find(rnd, "fallback", pattern=rf"^{voter} hesitated", channel=None)
        line = (said or made_up or [None])[0]
        if line is None:
            problems.append(f"day {rnd}: {voter}'s ballot is not shown")
            continue
        named = names_in(line["text"].replace(voter, "", 1) if made_up else line["text"], seats)
        ballots[voter] = named[0] if named else None
        if ballots[voter] != day["votes"].get(voter):
            problems.append(f"day {rnd}: {line['text']!r} but {voter} voted {day['votes'].get(voter)}")
        if bool(made_up) != bool(fallback_of(rnd, voter, "vote")):
            problems.append(f"day {rnd}: {voter}'s fallback {'announced' if made_up else 'not announced'} wrongly")
    tally = read.find(rnd, "tally")
    counts = Counter(t for t in ballots.values() if t)
    if len(tally) != 1:
        return problems + [f"day {rnd}: {len(tally)} tally lines"]
    shown = {m.group(1): int(m.group(2)) for m in re.finditer(r"(\w+) (\d+)", tally[0]["text"].split(".")[0])}
    if shown != dict(counts):
        problems.append(f"day {rnd}: tally {tally[0]['text']!r} does not follow from the ballots {dict(counts)}")
    ranked = counts.most_common()
    out = ranked[0][0] if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]) else None
    said_out = [n for n in seats if re.search(rf"\b{n} is eliminated", tally[0]["text"])]
    if (said_out[0] if said_out else None) != out or out != day["eliminated"]:
        problems.append(f"day {rnd}: {tally[0]['text']!r} but the ballots eliminate {out}")
    return problems


def _check_end(read: _Reader, rnd: int, end: dict, roles: dict, alive: list, seats: list) -> list:
    problems = []
    if sorted(alive) != sorted(end["alive"]):
        problems.append(f"the survivors {end['alive']} are not the replayed living {alive}")
    reveal = read.find(rnd, "reveal")
    if len(reveal) != 1:
        problems.append("the roles are not revealed at the end")
    else:
        told = dict(re.findall(r"(\w+) \((\w+)\)", reveal[0]["text"]))
        if told != roles:
            problems.append(f"revealed roles {told} != {roles}")
    wolves = sum(1 for n in alive if roles[n] == WOLF)
    winner = "villagers" if wolves == 0 else "werewolves" if wolves >= len(alive) - wolves else "draw"
    result = read.find(rnd, "result")
    if end["winner"] != winner:
        problems.append(f"the winner {end['winner']} is not {winner}")
    if len(result) != 1 or (winner == "draw") != ("draw" in result[0]["text"]) or \
            (winner != "draw" and f"the {winner} win" not in result[0]["text"]):
        problems.append(f"the result line does not say {winner}")
    return problems


def story_from_transcript(path: str) -> tuple:
    """(narration, events, seats, speeches) from a `--transcript` file."""
    narration, speeches, events, seats, rnd = [], [], None, [], 0
    moderator = "Moderator"
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        kind, data = entry["event"], entry["data"]
        if kind == "put" and isinstance(data, dict):
            if data.get("type") == "cast":
                seats = [p["name"] for p in data["players"]]
                moderator = data.get("moderator", moderator)
            elif data.get("type") == "phase":
                rnd = data["round"]
                narration.append({"kind": "phase", "speaker": moderator, "text": data["title"], "round": rnd,
                                  "channel": None})
            elif data.get("type") == "result":
                events = data["events"]
        elif kind == "message":
            told = (data.get("metadata") or {}).get("narration")
            if told:  # the text the audience saw, not the copy in the metadata
                narration.append(dict(told, speaker=data.get("name"), text=str(data.get("content"))))
            elif data.get("name") in seats:
                speeches.append((rnd, data["name"]))
    return narration, events or [], seats, speeches


def main(argv: Optional[list] = None) -> int:
    """Check transcripts; exit status 1 if any story is inconsistent."""
    paths = argv if argv is not None else sys.argv[1:]
    bad = 0
    for path in paths:
        narration, events, seats, speeches = story_from_transcript(path)
        problems = check_story(narration, events, seats, speeches)
        print(f"{path}: {'consistent' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  - {problem}")
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
