"""Werewolf's rules as pure functions (roles, names, tallies, potions, winners) and its records.

No model, no transport, no I/O: `game.Moderator` applies these and records
the game in `Line`s (narration), `Decision`s and a `GameResult`.
"""
from __future__ import annotations

import difflib
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

WEREWOLF, VILLAGER, SEER, WITCH = "werewolf", "villager", "seer", "witch"
ROLES = (WEREWOLF, WEREWOLF, VILLAGER, VILLAGER, SEER, WITCH)
WEREWOLVES, VILLAGE, DRAW = "werewolves", "villagers", "draw"
ABSTAIN_WORDS = {"", "none", "nobody", "no one", "noone", "abstain", "pass", "skip", "null", "nothing"}


class GameError(RuntimeError):
    """A player failed in a way the rules cannot absorb (e.g. no answer in time)."""


class PlayersLostError(GameError):
    """Players' agents became unreachable (their server died or was cut off)."""

    def __init__(self, players: list, cause: BaseException) -> None:
        self.players = list(players)
        self.cause = cause
        super().__init__(
            f"lost contact with player(s) {', '.join(self.players)}: "
            f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}",
        )


# -- pure rules ------------------------------------------------------------------
def assign_roles(names: list, rng: random.Random) -> dict:
    """Shuffle the six roles over six names."""
    if len(names) != len(ROLES):
        raise ValueError(f"werewolf needs exactly {len(ROLES)} players, got {len(names)}")
    roles = list(ROLES)
    rng.shuffle(roles)
    return dict(zip(names, roles))


def resolve_name(raw: Any, options: list) -> Optional[str]:
    """The option `raw` names, or None (abstain) when it names none of them."""
    if raw is None or isinstance(raw, bool):
        return None
    text = re.sub(r"[^\w\s-]", " ", str(raw)).strip().lower()
    text = " ".join(text.split())
    if text in ABSTAIN_WORDS:
        return None
    by_lower = {o.lower(): o for o in options}
    if text in by_lower:
        return by_lower[text]
    mentioned = [o for o in options if re.search(rf"\b{re.escape(o.lower())}\b", text)]
    if len(mentioned) == 1:
        return mentioned[0]
    close = difflib.get_close_matches(text, list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def says_abstain(raw: Any) -> bool:
    """An explicit "none" / "abstain" (not merely a name we cannot use)."""
    return isinstance(raw, str) and " ".join(re.sub(r"[^\w\s]", " ", raw).lower().split()) in ABSTAIN_WORDS


def as_bool(value: Any) -> bool:
    """A model's yes/no answer ("yes", "true", "heal", 1, True...) as a bool."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "y", "1", "heal", "save"}
    return bool(value) if isinstance(value, (bool, int)) else False


def tally(votes: dict) -> tuple:
    """`({target: count}, eliminated)` -- eliminated is None on a tie or no votes."""
    counts = Counter(t for t in votes.values() if t is not None)
    if not counts:
        return {}, None
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return dict(ranked), None
    return dict(ranked), ranked[0][0]


def winner_of(roles: dict, alive: list) -> Optional[str]:
    """VILLAGE, WEREWOLVES or None (the game goes on)."""
    wolves = sum(1 for n in alive if roles[n] == WEREWOLF)
    if wolves == 0:
        return VILLAGE
    if wolves >= len(alive) - wolves:
        return WEREWOLVES
    return None


@dataclass
class Potions:
    """The witch's two potions and the rule of one potion per night."""

    heal: bool = True
    poison: bool = True

    def apply(self, witch: str, victim: Optional[str], alive: list, heal: Any, poison: Any) -> tuple:
        """`(saved, poisoned)` after the witch's (already parsed) answer."""
        if as_bool(heal) and self.heal and victim is not None and victim != witch:
            self.heal = False
            return True, None
        target = resolve_name(poison, [n for n in alive if n != witch])
        if target is not None and self.poison:
            self.poison = False
            return False, target
        return False, None


@dataclass
class Line:
    """One line of narration.  `channel`: None (everyone) or who alone hears it."""

    kind: str  # phase announce private decision fallback ballot tally dawn reveal result
    speaker: str
    text: str
    round: int
    channel: Optional[str] = None

    def to_dict(self) -> dict:
        """Plain JSON-able form (message metadata, transcripts)."""
        return asdict(self)


@dataclass
class Decision:
    """What the rules engine made of one answer."""

    target: Optional[str]
    fallback: bool = False
    attempts: int = 1
    content: dict = field(default_factory=dict)


@dataclass
class GameResult:
    """How a game ended, with its facts (`events`) and its narration."""

    winner: str  # WEREWOLVES | VILLAGE | DRAW
    reason: str
    rounds: int
    alive: list
    roles: dict
    events: list = field(default_factory=list)  # (kind, round, details)
    fallbacks: int = 0  # answers the moderator had to make up (no usable JSON)
    narration: list = field(default_factory=list)  # Line
