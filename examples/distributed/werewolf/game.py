"""The werewolf moderator: plain Python, no model, no transport.

Six players: two werewolves, two villagers, a seer and a witch (`rules.py`).
The moderator is ordinary code; players are agents (local or distributed)
that take a `Msg` whose `metadata["action"]` says what is asked:

* `"discuss"`: say something (free text, streamed live);
* `"kill"`, `"check"`, `"vote"`: a dict with `"target"` (a player's name);
* `"witch"`: a dict with `"heal"` (bool) and `"poison"` (a name or "none").

The story the audience sees is the moderator's *narration* (`Line`s handed
to `narrate`, and kept in `Moderator.narration`) plus the players' free
talk.  Every line about a decision is derived from the decision the rules
engine applied -- "I look into Bob." is said only when Bob is the one
checked -- so the story cannot contradict the game: each dawn names each
death (or that nobody died), each ballot is shown before the tally that
follows from it, a decision the moderator had to make up is announced as
such ("Alice hesitated; the moderator chose Bob at random"), and the roles
are revealed at the end.  `story.check_story` replays the facts
(`GameResult.events`) against the narration.

Rules, as implemented:

* Night: each living werewolf names a victim (a living non-werewolf),
  privately to the pack; most votes wins, a tie is broken by the game's
  seeded RNG, no vote at all means no attack.  The witch hears who was
  attacked while she still has her healing potion and may save them, but not
  herself; or she may poison any other living player; at most one potion per
  night, each potion once per game.  The seer names a player and alone learns
  whether they are a werewolf.  Deaths are announced at dawn.
* Day: living players talk in turn in a msghub (the first speaker rotates),
  then vote at the same time; every ballot and the tally are announced.  The
  player with the most votes is eliminated; a tie or no votes: nobody.
* The village wins when no werewolf is alive; the werewolves win when they are
  at least as many as the others.  After `max_rounds` nights and days without
  a winner the game ends as a draw.

Bad answers never stop the game: a name is matched loosely (case, extra
words, small typos); when `"target"` is no usable name (and not an explicit
"none"), the one legal name in the player's `"speak"` line counts (plain
prompts); otherwise the answer is an abstention.  When the player's model
produced no usable JSON at all (`metadata["parse_failed"]`), the moderator
picks a random legal target for kills, checks and votes with its seeded RNG,
and the witch keeps her potions.  A player whose server cannot be reached
ends the game with `PlayersLostError`, naming every player that became
unreachable.
"""
from __future__ import annotations

import concurrent.futures
import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

from agentscope_rpc.message import Msg
from agentscope_rpc.msghub import msghub


def _sibling(name: str) -> Any:
    """`from . import name`, or the file next to this one (a server's --agent-dir)."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    key = f"_werewolf_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


P = _sibling("prompts")
R = _sibling("rules")
WEREWOLF, VILLAGER, SEER, WITCH = R.WEREWOLF, R.VILLAGER, R.SEER, R.WITCH
WEREWOLVES, VILLAGE, DRAW = R.WEREWOLVES, R.VILLAGE, R.DRAW
GameError, PlayersLostError, Potions = R.GameError, R.PlayersLostError, R.Potions
assign_roles, resolve_name, says_abstain, tally, winner_of = (
    R.assign_roles, R.resolve_name, R.says_abstain, R.tally, R.winner_of,
)
Line, Decision, GameResult = R.Line, R.Decision, R.GameResult
MODERATOR = "Moderator"


class Moderator:
    """Runs one game over `players` (agents whose names are keys of `roles`)."""

    def __init__(
        self,
        players: list,
        roles: dict,
        max_rounds: int = 3,
        seed: Optional[int] = None,
        narrate: Optional[Callable[[Line], None]] = None,
        call_timeout: float = 600.0,
        probe_timeout: float = 15.0,
        prompts: str = P.DEFAULT_PROMPTS,
    ) -> None:
        self.players = {p.name: p for p in players}
        self.seats = [p.name for p in players]
        self.roles = dict(roles)
        self.alive = list(self.seats)
        self.max_rounds = max_rounds
        self.rng = random.Random(seed)
        self.narrate = narrate or (lambda line: None)
        self.call_timeout = call_timeout
        self.probe_timeout = probe_timeout
        self.prompts = P.PROMPT_SETS[prompts]
        self.potions = Potions()
        self.seen: dict = {}  # what the seer learned: name -> is a werewolf
        self.events: list = []
        self.narration: list = []
        self.fallbacks = 0

    def role_holders(self, role: str) -> list:
        """Living players of `role`."""
        return [n for n in self.alive if self.roles[n] == role]

    def run(self) -> GameResult:
        """Play nights and days until a side wins or `max_rounds` ran out."""
        for rnd in range(1, self.max_rounds + 1):
            for phase in (self.night, self.day):
                phase(rnd)
                won = winner_of(self.roles, self.alive)
                if won is not None:
                    return self._finish(won, f"the {won} won on {phase.__name__} {rnd}", rnd)
        return self._finish(DRAW, f"no side won within {self.max_rounds} round(s)", self.max_rounds)

    def sync(self) -> None:
        """Wait until every player has taken in everything it was told."""
        pending = [self._guard(self.players[n].sync) for n in self.seats]
        for answer in pending:
            self._wait(answer)

    # -- night -----------------------------------------------------------------------
    def night(self, rnd: int) -> None:
        """Wolves, witch, seer; then dawn names the dead."""
        self._say("phase", P.PHASE_NIGHT.format(round=rnd), rnd)
        self._say("announce", P.NIGHT.format(round=rnd), rnd, tell=self.alive)
        victim = self._wolves_choose(rnd)
        saved, poisoned = self._witch_acts(rnd, victim)
        self._seer_checks(rnd)
        deaths = list(dict.fromkeys(n for n in (None if saved else victim, poisoned) if n is not None))
        self.events.append(("night", rnd, {"attacked": victim, "saved": saved, "poisoned": poisoned}))
        text = P.DAWN_DEATHS.format(deaths=P.list_names(deaths)) if deaths else P.DAWN_NONE
        self._say("dawn", text, rnd, tell=self.alive)
        self.events.append(("dawn", rnd, {"deaths": deaths}))
        self.alive = [n for n in self.alive if n not in deaths]

    def _wolves_choose(self, rnd: int) -> Optional[str]:
        wolves = self.role_holders(WEREWOLF)
        prey = [n for n in self.alive if self.roles[n] != WEREWOLF]
        wake = P.WOLVES_WAKE if len(wolves) > 1 else P.WOLF_WAKES
        self._say("private", wake.format(wolves=P.list_names(wolves), options=P.list_names(prey)), rnd,
                  channel="werewolves", tell=wolves)
        decisions = self._decide_all(rnd, wolves, P.WOLF_KILL, "kill", lambda w: prey)
        for wolf in wolves:
            self._announce_decision(rnd, wolf, decisions[wolf], "werewolves", wolves,
                                    P.WOLF_PICK, P.WOLF_PASS)
        votes = {w: d.target for w, d in decisions.items()}
        counts = Counter(t for t in votes.values() if t is not None)
        top = [t for t, c in counts.items() if c == max(counts.values())] if counts else []
        victim = self.rng.choice(sorted(top)) if top else None
        line = P.WOLVES_CHOSE.format(victim=victim) if victim else P.WOLVES_NO_CHOICE
        self._say("private", line, rnd, channel="werewolves", tell=wolves)
        self.events.append(("kill_votes", rnd, votes))
        return victim

    def _witch_acts(self, rnd: int, victim: Optional[str]) -> tuple:
        witches = self.role_holders(WITCH)
        if not witches or not (self.potions.heal or self.potions.poison):
            return False, None
        witch = witches[0]
        if not self.potions.heal:
            attack = "the night is yours."
        elif victim is None:
            attack = "nobody was attacked tonight."
        elif victim == witch:
            attack = "the werewolves attacked YOU tonight (you cannot heal yourself)."
        else:
            attack = f"the werewolves attacked {victim} tonight."
        self._say("private", P.WITCH_WAKES.format(name=witch, attack=attack), rnd, channel="witch")
        others = [n for n in self.alive if n != witch]
        text = P.WITCH_ASK.format(
            name=witch, attack=attack, heal="unused" if self.potions.heal else "used",
            poison="unused" if self.potions.poison else "used", options=P.options_line(others + [P.NO_ONE]),
        )
        answer = self._ask_one(witch, text, "witch", others + [P.NO_ONE])
        content = answer.content if isinstance(answer.content, dict) else {}
        attempts = _attempts(answer)
        if _parse_failed(answer):
            self.fallbacks += 1  # the defined fallback: she keeps her potions
            saved, poisoned = False, None
            self._say("fallback", P.FALLBACK_WITCH.format(name=witch), rnd, channel="witch")
        else:
            saved, poisoned = self.potions.apply(witch, victim, self.alive, content.get("heal"), content.get("poison"))
            if saved:
                line = P.WITCH_HEAL.format(victim=victim)
            elif poisoned:
                line = P.WITCH_POISON.format(target=poisoned)
            else:
                line = P.WITCH_NOTHING
            self._say("decision", line, rnd, speaker=witch, channel="witch", tell=[witch])
        self.events.append(("decision", rnd, {
            "player": witch, "action": "witch", "saved": saved, "poisoned": poisoned,
            "fallback": _parse_failed(answer), "attempts": attempts,
        }))
        return saved, poisoned

    def _seer_checks(self, rnd: int) -> None:
        seers = self.role_holders(SEER)
        if not seers:
            return
        seer = seers[0]
        options = [n for n in self.alive if n != seer]
        unchecked = [n for n in options if n not in self.seen] or options
        decision = self._decide(rnd, seer, P.SEER_ASK.format(name=seer, options=P.options_line(options)),
                                "check", options, fallback_pool=unchecked)
        self._announce_decision(rnd, seer, decision, "seer", [seer], P.SEER_PICK, None)
        target = decision.target
        if target is None:
            return
        self.seen[target] = self.roles[target] == WEREWOLF
        verdict = "a WEREWOLF" if self.seen[target] else "not a werewolf"
        self._say("private", P.SEER_RESULT.format(target=target, verdict=verdict), rnd, channel="seer", tell=[seer])
        self.events.append(("check", rnd, {"seer": seer, "target": target, "werewolf": self.seen[target]}))

    # -- day -------------------------------------------------------------------------
    def day(self, rnd: int) -> None:
        """Talk in turn, then everyone votes; every ballot and the tally are shown."""
        self._say("phase", P.PHASE_DAY.format(round=rnd), rnd)
        text = P.DAY.format(round=rnd, alive=P.list_names(self.alive))
        self._say("announce", text, rnd)
        start = (rnd - 1) % len(self.alive)
        order = self.alive[start:] + self.alive[:start]
        with msghub([self.players[n] for n in self.alive]) as hub:
            # announced under the guard: a player whose server died is named, as for any other call
            self._guard(lambda: hub.broadcast(Msg(MODERATOR, text, role="user")))
            for name in order:
                answer = self._ask_one(name, self._discuss_prompt(name), "discuss")
                said = answer.content if isinstance(answer.content, str) else str(answer.content)
                self.events.append(("speech", rnd, {"speaker": name, "text": said, "alive": list(self.alive)}))
        decisions = self._decide_all(rnd, self.alive, P.DAY_VOTE, "vote",
                                     lambda v: [n for n in self.alive if n != v])
        for voter in self.alive:
            self._announce_decision(rnd, voter, decisions[voter], None, self.alive, P.VOTE_FOR, P.VOTE_NONE)
        votes = {v: d.target for v, d in decisions.items()}
        counts, out = tally(votes)
        shown = ", ".join(f"{t} {c}" for t, c in counts.items()) or "no votes"
        outcome = P.ELIMINATED.format(name=out) if out else P.NOBODY_OUT
        self._say("tally", P.VOTE_RESULT.format(tally=shown, outcome=outcome), rnd, tell=self.alive)
        self.events.append(("day_votes", rnd, {"votes": votes, "eliminated": out}))
        if out is not None:
            self.alive.remove(out)

    def _discuss_prompt(self, name: str) -> str:
        others = [n for n in self.alive if n != name]
        facts = ""
        found = [n for n, wolf in self.seen.items() if wolf and n in self.alive]
        if self.roles[name] == SEER and self.seen:
            facts = "You learned at night: " + "; ".join(
                f"{n} is {'a WEREWOLF' if wolf else 'not a werewolf'}" for n, wolf in self.seen.items()) + ". "
        elif self.roles[name] == WEREWOLF:
            partners = [w for w in self.role_holders(WEREWOLF) if w != name]
            if partners:
                facts = f"Never accuse your partner {partners[0]}. "
                others = [n for n in others if n not in partners]
        example = found[0] if self.roles[name] == SEER and found else self.rng.choice(others)
        reason = P.SEER_REASON.format(target=example) if example in found and self.roles[name] == SEER \
            else self.rng.choice(P.REASONS)
        return self.prompts["day_discuss"].format(
            name=name, facts=facts, alive=P.list_names(self.alive), options=P.list_names(others),
            example=example, reason=reason)

    # -- the end -----------------------------------------------------------------------
    def _finish(self, winner: str, reason: str, rnd: int) -> GameResult:
        self.sync()
        cast = ", ".join(f"{n} ({self.roles[n]})" for n in self.seats)
        self._say("reveal", P.REVEAL.format(cast=cast), rnd)
        template = P.RESULT_DRAW if winner == DRAW else P.RESULT_WIN
        self._say("result", template.format(rounds=rnd, winner=winner), rnd)
        self.events.append(("end", rnd, {"winner": winner, "roles": dict(self.roles), "alive": list(self.alive)}))
        return GameResult(winner, reason, rnd, list(self.alive), dict(self.roles), self.events,
                          self.fallbacks, self.narration)

    # -- narration -----------------------------------------------------------------------
    def _say(self, kind: str, text: str, rnd: int, speaker: str = MODERATOR,
             channel: Optional[str] = None, tell: Optional[list] = None) -> None:
        line = Line(kind, speaker, text, rnd, channel)
        self.narration.append(line)
        self.narrate(line)
        if tell:
            msg = Msg(speaker, text, role="user" if speaker == MODERATOR else "assistant")
            for name in tell:
                if name != speaker:  # a player remembers its own decision (see players.py)
                    self._guard(lambda n=name: self.players[n].observe(msg))

    def _announce_decision(self, rnd: int, name: str, decision: Decision, channel: Optional[str],
                           hearers: list, chose: str, passed: Optional[str]) -> None:
        if decision.fallback:
            template = P.FALLBACK if decision.target else P.FALLBACK_NONE
            text = template.format(name=name, target=decision.target)
            self._say("fallback", text, rnd, channel=channel, tell=hearers)
        elif decision.target is not None or passed is not None:
            text = chose.format(target=decision.target) if decision.target else passed
            self._say("ballot" if channel is None else "decision", text, rnd, speaker=name,
                      channel=channel, tell=hearers)
        else:  # a seer who named nobody usable
            self._say("decision", "I look into nobody tonight.", rnd, speaker=name, channel=channel)

    # -- asking players ------------------------------------------------------------------
    def _request(self, name: str, text: str, action: str, options: Optional[list]) -> Any:
        metadata = {"action": action, "options": list(options or [])}
        return self._guard(lambda: self.players[name](Msg(MODERATOR, text, role="user", metadata=metadata)))

    def _wait(self, pending: Any) -> Any:
        if hasattr(pending, "result") and not isinstance(pending, (Msg, bool)):
            return self._guard(lambda: pending.result(timeout=self.call_timeout))
        return pending

    def _ask_one(self, name: str, text: str, action: str, options: Optional[list] = None) -> Msg:
        return self._wait(self._request(name, text, action, options))

    def _decide(self, rnd: int, name: str, text: str, action: str, options: list,
                fallback_pool: Optional[list] = None) -> Decision:
        return self._judge(rnd, name, action, self._ask_one(name, text, action, options), options, fallback_pool)

    def _decide_all(self, rnd: int, names: list, template: str, action: str, options_of: Callable) -> dict:
        """Ask everyone at once (remote players think in parallel); name -> Decision."""
        pending = {}
        for name in names:
            options = options_of(name)
            text = template.format(name=name, options=P.options_line(options))
            pending[name] = (options, self._request(name, text, action, options))
        return {name: self._judge(rnd, name, action, self._wait(p), opts) for name, (opts, p) in pending.items()}

    def _judge(self, rnd: int, name: str, action: str, answer: Msg, options: list,
               fallback_pool: Optional[list] = None) -> Decision:
        content = answer.content if isinstance(answer.content, dict) else {"target": answer.content}
        if _parse_failed(answer):
            self.fallbacks += 1
            pool = fallback_pool or options
            decision = Decision(self.rng.choice(pool) if pool else None, True, _attempts(answer), content)
        else:
            raw = content.get("target")
            target = resolve_name(raw, options)
            if target is None and not says_abstain(raw):  # what was said aloud counts too
                target = resolve_name(content.get("speak"), options)
            decision = Decision(target, False, _attempts(answer), content)
        self.events.append(("decision", rnd, {
            "player": name, "action": action, "target": decision.target,
            "fallback": decision.fallback, "attempts": decision.attempts,
        }))
        return decision

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


def _meta(answer: Msg) -> dict:
    return answer.metadata if isinstance(getattr(answer, "metadata", None), dict) else {}


def _parse_failed(answer: Msg) -> bool:
    return bool(_meta(answer).get("parse_failed"))


def _attempts(answer: Msg) -> int:
    return int(_meta(answer).get("attempts") or 1)
