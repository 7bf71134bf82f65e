"""Werewolf rules and the moderator: plain Python, no model, no transport.

Six players: two werewolves, two villagers, a seer and a witch.  The
moderator is ordinary code; players are agents (local or distributed) that
take a `Msg` whose `metadata["action"]` says what is asked:

* `"discuss"`: say something (free text, streamed to the terminal);
* `"kill"`, `"check"`, `"vote"`: a dict with `"target"` (a player's name);
* `"witch"`: a dict with `"heal"` (bool) and `"poison"` (a name or "none").

Rules, as implemented:

* Night: the living werewolves whisper in a private msghub, then each names a
  victim (a living non-werewolf); most votes wins, a tie is broken by the
  game's seeded RNG, no vote at all means no attack.  The witch hears who was
  attacked while she still has her healing potion and may save them, but not
  herself; or she may poison any other living player; at most one potion per
  night, each potion once per game.  The seer names a player and alone learns
  whether they are a werewolf.  Deaths are announced at dawn.
* Day: living players talk in turn in a msghub (the first speaker rotates),
  then vote at the same time (votes are private; the tally is announced).
  The player with the most votes is eliminated; a tie or no votes: nobody.
* The village wins when no werewolf is alive; the werewolves win when they are
  at least as many as the others.  After `max_rounds` nights and days without
  a winner the game ends as a draw.

Bad answers never stop the game: a name is matched loosely (case, extra
words, small typos); when `"target"` is no usable name (and not an explicit
"none"), the one legal name in the player's `"speak"` line counts ("I vote
for Carol."); otherwise the answer is an abstention.  When
the player's model produced no usable JSON at all (the agent's retries and
its fallback, `metadata["parse_failed"]`), the moderator picks a random legal
target for kills, checks and votes with its seeded RNG, and the witch keeps
her potions.  A player whose server cannot be reached ends the game with
`PlayersLostError`, naming every player that became unreachable.
"""
from __future__ import annotations

import concurrent.futures
import difflib
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from agentscope_rpc.message import Msg
from agentscope_rpc.msghub import msghub

try:
    from . import prompts as P
except ImportError:  # loaded as a plain file (a server's --agent-dir reads every .py here)
    import importlib.util
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location("_werewolf_prompts", Path(__file__).with_name("prompts.py"))
    P = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(P)

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
class GameResult:
    winner: str  # WEREWOLVES | VILLAGE | DRAW
    reason: str
    rounds: int
    alive: list
    roles: dict
    events: list = field(default_factory=list)  # (kind, round, details)
    fallbacks: int = 0  # answers the moderator had to make up (no usable JSON)


# -- the moderator -------------------------------------------------------------------
class Moderator:
    """Runs one game over `players` (agents whose names are keys of `roles`)."""

    def __init__(
        self,
        players: list,
        roles: dict,
        max_rounds: int = 3,
        seed: Optional[int] = None,
        announce: Optional[Callable[[str], None]] = None,
        call_timeout: float = 600.0,
        probe_timeout: float = 15.0,
    ) -> None:
        self.players = {p.name: p for p in players}
        self.seats = [p.name for p in players]
        self.roles = dict(roles)
        self.alive = list(self.seats)
        self.max_rounds = max_rounds
        self.rng = random.Random(seed)
        self.announce = announce or (lambda text: None)
        self.call_timeout = call_timeout
        self.probe_timeout = probe_timeout
        self.potions = Potions()
        self.checked: set = set()
        self.last_deaths: list = []
        self.events: list = []
        self.fallbacks = 0

    def role_holders(self, role: str) -> list:
        return [n for n in self.alive if self.roles[n] == role]

    def run(self) -> GameResult:
        result = None
        for rnd in range(1, self.max_rounds + 1):
            for phase in (self.night, self.day):
                phase(rnd)
                won = winner_of(self.roles, self.alive)
                if won is not None:
                    result = self._result(won, f"the {won} won on {phase.__name__} {rnd}", rnd)
                    break
            if result is not None:
                break
        self.sync()
        return result or self._result(DRAW, f"no side won within {self.max_rounds} round(s)", self.max_rounds)

    def sync(self) -> None:
        """Wait until every player has taken in everything it was told."""
        pending = [self._guard(self.players[n].sync) for n in self.seats]
        for answer in pending:
            self._wait(answer)

    # -- phases ----------------------------------------------------------------------
    def night(self, rnd: int) -> None:
        self._tell(self.alive, P.NIGHT.format(round=rnd))
        victim = self._wolves_choose(rnd)
        saved, poisoned = self._witch_acts(victim)
        self._seer_checks(rnd)
        deaths = list(dict.fromkeys(n for n in (None if saved else victim, poisoned) if n is not None))
        self.events.append(("night", rnd, {"attacked": victim, "saved": saved, "poisoned": poisoned}))
        self.alive = [n for n in self.alive if n not in deaths]
        self.last_deaths = deaths

    def _wolves_choose(self, rnd: int) -> Optional[str]:
        wolves = self.role_holders(WEREWOLF)
        prey = [n for n in self.alive if self.roles[n] != WEREWOLF]
        text = P.WOLVES_WAKE.format(wolves=" and ".join(wolves), options=P.list_names(prey))
        self.announce(text)
        agents = [self.players[w] for w in wolves]
        with msghub(agents, announcement=Msg("Moderator", text, role="user")):
            for wolf in wolves:
                self._ask_one(wolf, P.WOLF_DISCUSS.format(name=wolf), "discuss")
        votes = self._ask_all(wolves, P.WOLF_KILL, "kill", lambda w: prey)
        counts = Counter(t for t in votes.values() if t is not None)
        top = [t for t, c in counts.items() if c == max(counts.values())] if counts else []
        victim = self.rng.choice(sorted(top)) if top else None
        line = P.WOLVES_CHOSE.format(victim=victim) if victim else P.WOLVES_NO_CHOICE
        self._tell(wolves, line)
        self.events.append(("kill_votes", rnd, votes))
        return victim

    def _witch_acts(self, victim: Optional[str]) -> tuple:
        witches = self.role_holders(WITCH)
        if not witches or not (self.potions.heal or self.potions.poison):
            return False, None
        witch = witches[0]
        if victim is None:
            attack = "nobody was attacked tonight."
        elif victim == witch:
            attack = "the werewolves attacked YOU tonight (you cannot heal yourself)."
        else:
            attack = f"the werewolves attacked {victim} tonight."
        others = [n for n in self.alive if n != witch]
        text = P.WITCH_ASK.format(
            name=witch,
            attack=attack if self.potions.heal else "the night is over.",
            heal="unused" if self.potions.heal else "used",
            poison="unused" if self.potions.poison else "used",
            options=P.list_names(others + [P.NO_ONE]),
        )
        answer = self._ask_one(witch, text, "witch", others + [P.NO_ONE])
        content = answer.content if isinstance(answer.content, dict) else {}
        if _parse_failed(answer):
            self.fallbacks += 1  # the defined fallback: she keeps her potions
            return False, None
        return self.potions.apply(witch, victim, self.alive, content.get("heal"), content.get("poison"))

    def _seer_checks(self, rnd: int) -> None:
        seers = self.role_holders(SEER)
        if not seers:
            return
        seer = seers[0]
        options = [n for n in self.alive if n != seer]
        answer = self._ask_one(seer, P.SEER_ASK.format(name=seer, options=P.list_names(options)), "check", options)
        unchecked = [n for n in options if n not in self.checked] or options
        target = self._target(answer, options, fallback_pool=unchecked)
        if target is None:
            return
        self.checked.add(target)
        verdict = "a WEREWOLF" if self.roles[target] == WEREWOLF else "not a werewolf"
        self._tell([seer], P.SEER_RESULT.format(target=target, verdict=verdict))
        self.events.append(("check", rnd, {"seer": seer, "target": target}))

    def day(self, rnd: int) -> None:
        deaths = self.last_deaths
        dead = f"{P.list_names(deaths)} died last night." if deaths else "Nobody died last night."
        text = P.DAY.format(round=rnd, deaths=dead, alive=P.list_names(self.alive))
        self.announce(text)
        start = (rnd - 1) % len(self.alive)
        order = self.alive[start:] + self.alive[:start]
        with msghub([self.players[n] for n in self.alive], announcement=Msg("Moderator", text, role="user")):
            for name in order:
                self._ask_one(name, P.DAY_DISCUSS.format(name=name), "discuss")
        votes = self._ask_all(self.alive, P.DAY_VOTE, "vote", lambda v: [n for n in self.alive if n != v])
        counts, out = tally(votes)
        shown = ", ".join(f"{t} {c}" for t, c in counts.items()) or "everyone abstained"
        outcome = f"{out} is eliminated." if out else "Tie or no votes: nobody is eliminated."
        self._tell(self.alive, P.VOTE_RESULT.format(tally=shown, outcome=outcome))
        self.events.append(("day_votes", rnd, {"votes": votes, "eliminated": out}))
        if out is not None:
            self.alive.remove(out)

    # -- talking to players --------------------------------------------------------
    def _tell(self, names: list, text: str) -> None:
        self.announce(text)
        msg = Msg("Moderator", text, role="user")
        for name in names:
            self._guard(lambda n=name: self.players[n].observe(msg))

    def _request(self, name: str, text: str, action: str, options: Optional[list]) -> Any:
        metadata = {"action": action, "options": list(options or [])}
        return self._guard(lambda: self.players[name](Msg("Moderator", text, role="user", metadata=metadata)))

    def _wait(self, pending: Any) -> Any:
        if hasattr(pending, "result") and not isinstance(pending, (Msg, bool)):
            return self._guard(lambda: pending.result(timeout=self.call_timeout))
        return pending

    def _ask_one(self, name: str, text: str, action: str, options: Optional[list] = None) -> Msg:
        return self._wait(self._request(name, text, action, options))

    def _ask_all(self, names: list, template: str, action: str, options_of: Callable) -> dict:
        """Ask everyone at once (remote players think in parallel); name -> target."""
        pending = {}
        for name in names:
            options = options_of(name)
            text = template.format(name=name, options=P.list_names(options))
            pending[name] = (options, self._request(name, text, action, options))
        return {name: self._target(self._wait(p), opts) for name, (opts, p) in pending.items()}

    def _target(self, answer: Msg, options: list, fallback_pool: Optional[list] = None) -> Optional[str]:
        if _parse_failed(answer):
            self.fallbacks += 1
            pool = fallback_pool or options
            return self.rng.choice(pool) if pool else None
        content = answer.content if isinstance(answer.content, dict) else {"target": answer.content}
        raw = content.get("target")
        target = resolve_name(raw, options)
        if target is None and not says_abstain(raw):  # what was said aloud counts too
            target = resolve_name(content.get("speak"), options)
        return target

    # -- failures ------------------------------------------------------------------------
    def _guard(self, func: Callable) -> Any:
        try:
            return func()
        except Exception as err:  # pylint: disable=broad-except
            lost = self.unreachable_players()
            if lost:
                raise PlayersLostError(lost, err) from err
            raise GameError(f"{type(err).__name__}: {err}") from err

    def unreachable_players(self) -> list:
        """Distributed players whose agent does not answer a cheap attribute read in time."""
        remote = {n: a for n, a in self.players.items() if hasattr(a, "endpoint")}
        if not remote:
            return []
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(remote))
        try:
            probes = {name: pool.submit(getattr, agent, "role") for name, agent in remote.items()}
            done, _ = concurrent.futures.wait(probes.values(), timeout=self.probe_timeout)
            return [n for n, f in probes.items() if f not in done or f.exception() is not None]
        finally:
            pool.shutdown(wait=False)

    def _result(self, winner: str, reason: str, rnd: int) -> GameResult:
        return GameResult(winner, reason, rnd, list(self.alive), dict(self.roles), self.events, self.fallbacks)


def _parse_failed(answer: Msg) -> bool:
    return bool((answer.metadata or {}).get("parse_failed")) if isinstance(answer.metadata, dict) else False
