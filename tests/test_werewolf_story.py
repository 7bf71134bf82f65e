"""The story checker catches a narration that contradicts the game (it can fail)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed" / "werewolf"
sys.path.insert(0, str(EXAMPLE.parent))

from werewolf.game import Moderator  # noqa: E402
from werewolf.players import WerewolfPlayer  # noqa: E402
from werewolf.story import check_story  # noqa: E402

NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
ROLES = {"Alice": "werewolf", "Bob": "werewolf", "Carol": "villager", "Dave": "villager",
         "Eve": "seer", "Frank": "witch"}


@pytest.fixture(scope="module")
def game() -> tuple:
    """A 3-round policy game with deaths, a heal, checks, ballots and a fallback."""
    configs = {n: {"config_name": f"p{i}", "model_type": "werewolf_policy", "seed": i, "prefer": ["Carol", "Eve"]}
               for i, n in enumerate(NAMES)}
    configs["Dave"] = {"config_name": "junk", "model_type": "scripted", "responses": ["no json at all"]}
    players = [WerewolfPlayer(n, ROLES[n], NAMES, model_config=configs[n]) for n in NAMES]
    result = Moderator(players, ROLES, max_rounds=3, seed=5).run()
    narration = [line.to_dict() for line in result.narration]
    assert check_story(narration, result.events, NAMES) == []
    assert any(line["kind"] == "fallback" for line in narration)
    return narration, result.events


def _edit(narration: list, kind: str, change: object) -> list:
    edited = copy.deepcopy(narration)
    for line in edited:
        if line["kind"] == kind:
            new = change(line)
            if new is not None:
                line.update(new)
                return edited
    raise AssertionError(f"no {kind} line to edit")


@pytest.mark.parametrize("kind, change, expected", [
    ("dawn", lambda l: {"text": "Dawn. Nobody died in the night."} if "died in" in l["text"] and "Nobody" not in
     l["text"] else None, "dawn says"),
    ("dawn", lambda l: {"text": "Dawn. Frank died in the night."} if "Nobody" in l["text"] else None, "dawn says"),
    ("ballot", lambda l: {"text": "I vote for Frank."} if "Frank" not in l["text"] else None, "voted"),
    ("tally", lambda l: {"text": l["text"].replace(" 1", " 2", 1)}, "does not follow from the ballots"),
    ("reveal", lambda l: {"text": l["text"].replace("Eve (seer)", "Eve (villager)")}, "revealed roles"),
    ("result", lambda l: {"text": "Game over after 1 round(s): a draw, no side won."}, "result line"),
    ("private", lambda l: {"text": l["text"].replace("not a werewolf", "a WEREWOLF")} if "not a werewolf" in
     l["text"] else None, "not told truly"),
    ("decision", lambda l: {"text": "I look into Frank."} if l["text"].startswith("I look into") and "Frank" not
     in l["text"] else None, "the seer's line"),
    ("fallback", lambda l: {"kind": "ballot", "speaker": l["text"].split()[0], "text": "I abstain."}
     if l["channel"] is None else None, "fallback not announced"),
    ("announce", lambda l: {"text": "Day 1. Still alive: Alice, Bob."} if l["text"].startswith("Day 1") else None,
     "does not open with the living"),
])
def test_a_contradicting_narration_is_reported(game: tuple, kind: str, change: object, expected: str) -> None:
    narration, events = game
    problems = check_story(_edit(narration, kind, change), events, NAMES)
    assert any(expected in p for p in problems), problems


def test_a_missing_dawn_or_phase_is_reported(game: tuple) -> None:
    narration, events = game
    without_dawn = [l for l in narration if l["kind"] != "dawn"]
    assert any("dawn lines" in p for p in check_story(without_dawn, events, NAMES))
    without_phase = [l for l in narration if l["text"] != "Day 1"]
    assert any("phases" in p for p in check_story(without_phase, events, NAMES))


def test_a_dead_player_speaking_is_reported(game: tuple) -> None:
    narration, events = game
    rnd, dead = next((r, d["deaths"][0]) for k, r, d in events if k == "dawn" and d["deaths"])
    assert any("speaks while dead" in p for p in check_story(narration, events, NAMES, speeches=[(rnd, dead)]))
