"""Speech out (agentscope_rpc.tts) with the real espeak-ng: local agents, a distributed agent, werewolf --tts.

Nothing of ours is mocked: agents speak through `AgentBase.speak` (locally, or on
a real agent server whose chunks are relayed to the proxy's hook here), and every
WAV file espeak-ng writes is opened with `wave` and measured.  The one stand-in
is a shell script that runs espeak-ng after a pause, to make the queue fill up.
"""
from __future__ import annotations

import array
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import pytest

from agentscope_rpc.exception import AgentCallError
from agentscope_rpc.message import Msg
from agentscope_rpc.tts import (DEFAULT_VOICES, INSTALL_HINT, Speaker, TTSUnavailableError, find_player,
                                split_sentences)
from tts_agents import Breaker, Talker

pytestmark = pytest.mark.timeout(120)

if shutil.which("espeak-ng") is None and not os.environ.get("CI"):  # in CI, `make sysdeps` installed it
    pytest.skip(f"espeak-ng is not installed ({INSTALL_HINT}, or `make sysdeps` as root)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
WEREWOLF = REPO / "examples" / "distributed" / "werewolf" / "main.py"


def measure(path: str) -> tuple[float, float]:
    """(RMS of the 16-bit samples, duration in seconds) of a WAV file."""
    with wave.open(path, "rb") as audio:
        assert audio.getsampwidth() == 2 and audio.getnchannels() == 1
        samples = array.array("h", audio.readframes(audio.getnframes()))
        seconds = audio.getnframes() / audio.getframerate()
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return rms, seconds


def assert_audible(files: list) -> None:
    for record in files:
        rms, seconds = measure(record.path)
        assert rms > 300 and seconds > 0.2, (record, rms, seconds)
        assert abs(seconds - record.seconds) < 0.01


def texts(speaker: Speaker, agent: str) -> list:
    return [f.text for f in speaker.files if f.agent == agent]


ALICE = ["Hello Bob. The weather is fine today! Shall we walk?", ("whole", "Yes, indeed. See you at noon.")]
BOB = ["Hi Alice. I would love to... but it may rain. Maybe later?"]


def check_exchange(speaker: Speaker, out: Path, alice: str = "Alice", bob: str = "Bob") -> None:
    """The files of the exchange ALICE[0], BOB[0], ALICE[1]: one per sentence per agent, in order."""
    assert speaker.flush(timeout=30)
    assert texts(speaker, alice) == ["Hello Bob.", "The weather is fine today!", "Shall we walk?",
                                     "Yes, indeed.", "See you at noon."]
    assert texts(speaker, bob) == ["Hi Alice.", "I would love to... but it may rain.", "Maybe later?"]
    for name, count in ((alice, 5), (bob, 3)):
        mine = [f for f in speaker.files if f.agent == name]
        assert [Path(f.path) for f in mine] == [out / name / f"{n:04d}.wav" for n in range(1, count + 1)]
        assert sorted(os.listdir(out / name)) == [f"{n:04d}.wav" for n in range(1, count + 1)]  # no leftovers
        assert len({f.voice for f in mine}) == 1
    firsts = [f for f in speaker.files if f.agent == alice]
    assert [f.sentence for f in firsts] == [0, 1, 2, 0, 1] and firsts[0].msg_id != firsts[3].msg_id
    assert speaker.voice_for(alice) != speaker.voice_for(bob)
    assert_audible(speaker.files)
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [(m["agent"], m["text"], m["path"]) for m in manifest] == [
        (f.agent, f.text, os.path.relpath(f.path, out)) for f in speaker.files]
    assert speaker.open_messages == 0 and speaker.dropped == speaker.errors == 0


def test_two_local_agents_one_file_per_sentence(tmp_path: Path) -> None:
    alice, bob = Talker("Alice", ALICE), Talker("Bob", BOB)
    with Speaker(tmp_path, play=False) as speaker:
        speaker.attach(alice, bob)
        alice(bob(alice(None)))  # streamed, streamed, then one whole message
        check_exchange(speaker, tmp_path)
        assert not speaker.playing


def test_a_distributed_agent_speaks_through_its_proxy(tmp_path: Path, module_server) -> None:
    alice = Talker("Alice", ALICE, to_dist=module_server.options)  # on the server
    bob = Talker("Bob", BOB)  # here
    with Speaker(tmp_path, play=False) as speaker:
        speaker.attach(alice, bob)  # the proxy's hook: runs in this process on each relayed chunk
        first = alice(None)
        bob(first)
        alice(None).result(timeout=30)  # resolves after all its chunks reached the hooks
        check_exchange(speaker, tmp_path)


def test_words_split_across_chunks(tmp_path: Path) -> None:
    agent = Talker("Ann", [("chunks", ["Hel", "lo. Wor", "ld!"])])
    with Speaker(tmp_path, play=False).attach(agent) as speaker:
        agent()
        assert speaker.flush(10)
        assert texts(speaker, "Ann") == ["Hello.", "World!"]
        assert_audible(speaker.files)


def test_sentence_boundaries() -> None:
    assert split_sentences("Hello. Wor") == (["Hello."], 7)
    assert split_sentences("Hello.") == ([], 0)  # "3." may become "3.5": wait for the next chunk
    assert split_sentences("Hello.", final=True) == (["Hello."], 6)
    assert split_sentences("It costs 3.5 dollars. Then")[0] == ["It costs 3.5 dollars."]
    assert split_sentences("Dr. Smith, e.g. Mr. J. Doe, came. Yes")[0] == ["Dr. Smith, e.g. Mr. J. Doe, came."]
    assert split_sentences("Well... maybe. So... That")[0] == ["Well... maybe.", "So..."]
    assert split_sentences('He said "Stop!" Then "why?" she asked. Ok')[0] == [
        'He said "Stop!"', 'Then "why?" she asked.']
    assert split_sentences("Line one\n\nLine two\nmore") == (["Line one", "Line two"], 19)
    assert split_sentences("... !? ---", final=True) == ([], 10)  # nothing to pronounce
    long = "word " * 200  # no sentence end: cut before it grows past the bound
    sentences, used = split_sentences(long, max_chars=100)
    assert all(len(s) <= 100 for s in sentences) and len(long) - used <= 100


def test_voices_are_distinct_and_deterministic(tmp_path: Path) -> None:
    names = [f"agent{i}" for i in range(len(DEFAULT_VOICES))]
    with Speaker(tmp_path, play=False, voices={"agent3": "en-gb-x-rp+f3"}) as speaker:
        voices = [speaker.voice_for(name) for name in names]
        assert voices[3] == "en-gb-x-rp+f3" and len(set(voices)) == len(names)
        assert speaker.voice_for("agent0") == voices[0] == DEFAULT_VOICES[0]
        assert speaker.voice_for("one more") in DEFAULT_VOICES  # they repeat once all are taken
        for name in names:
            speaker(None, Msg(name, "Hello there.", "assistant"), False, True)
        assert speaker.flush(30)
    again = Speaker(tmp_path / "again", play=False, voices={"agent3": "en-gb-x-rp+f3"})
    assert [again.voice_for(name) for name in names] == voices
    again.close()
    audio = [Path(f.path).read_bytes() for f in speaker.files]
    assert len(audio) == len(names) and len(set(audio)) == len(names)  # every voice sounds different


def test_a_message_that_fails_mid_stream_leaves_no_state(tmp_path: Path) -> None:
    agents = [Breaker(f"b{i}", "A whole sentence. And then it bre") for i in range(6)]
    with Speaker(tmp_path, play=False, max_open=3).attach(*agents) as speaker:
        for _ in range(10):
            with pytest.raises(ValueError):
                agents[0]()
            assert speaker.open_messages == 1  # a newer message of b0 ends the previous one
        for agent in agents[1:]:
            with pytest.raises(ValueError):
                agent()
        assert speaker.open_messages == 3  # at most max_open, over all agents
        assert speaker.abandoned == 9 + 3
        assert speaker.flush(30)
        assert texts(speaker, "b0") == ["A whole sentence."] * 10  # the unfinished rest is never spoken


def test_a_distributed_message_that_fails_mid_stream(tmp_path: Path, module_server) -> None:
    agent = Breaker("far", "It starts well. Then it bre", to_dist=module_server.options)
    with Speaker(tmp_path, play=False).attach(agent) as speaker:
        for _ in range(3):
            with pytest.raises(AgentCallError):
                agent(None).result(timeout=30)
        assert speaker.open_messages == 1
        assert speaker.flush(30)
        assert texts(speaker, "far") == ["It starts well."] * 3


def test_a_full_queue_waits_then_drops(tmp_path: Path) -> None:
    slow = tmp_path / "slow-espeak"
    slow.write_text(f'#!/bin/sh\n[ "$1" = --version ] || sleep 0.8\nexec {shutil.which("espeak-ng")} "$@"\n')
    slow.chmod(0o755)
    agent = Talker("Zed", [("whole", "One. Two. Three. Four. Five.")])
    with Speaker(tmp_path / "out", play=False, binary=str(slow), max_pending=2, wait=0.2).attach(agent) as speaker:
        started = time.monotonic()
        agent()
        took = time.monotonic() - started
        assert 0.15 < took < 0.7  # waited `wait` once for room, then dropped the rest of the message
        assert speaker.dropped == 3
        assert speaker.flush(10)
        assert texts(speaker, "Zed") == ["One.", "Two."]


def test_two_registrations_of_one_speaker_speak_once(tmp_path: Path) -> None:
    agent = Talker("Echo", ["Once only. Really!", ("whole", "Whole, once.")])
    speaker = Speaker(tmp_path, play=False)
    agent.register_hook("pre_speak", "tts", speaker)
    agent.register_hook("pre_speak", "tts again", speaker)  # as if on two proxies of one agent
    agent()
    agent()
    assert speaker.close(10)
    assert texts(speaker, "Echo") == ["Once only.", "Really!", "Whole, once."]
    agent()  # closed: ignored, and the agent still speaks
    assert len(speaker.files) == 3


def test_rewritten_text_and_non_text_content(tmp_path: Path) -> None:
    def rename(agent, msg, stream, last):  # a hook before the Speaker rewrites what was said
        if last and isinstance(msg.content, str):
            return Msg(msg.name, msg.content.replace("Hi Bob", "Hi Robert"), msg.role, id=msg.id)
        return None

    agent = Talker("Rita", ["Hi Bob. How are you? Bye now."])
    agent.register_hook("pre_speak", "rename", rename)
    with Speaker(tmp_path, play=False).attach(agent) as speaker:
        agent()
        agent.speak({"answer": "yes"})
        assert speaker.flush(10)
    # the sentences queued before the change are spoken again from the changed one on
    assert texts(speaker, "Rita") == ["Hi Bob.", "How are you?", "Hi Robert.", "How are you?", "Bye now.",
                                      '{"answer": "yes"}']


def test_missing_espeak_is_a_clear_error(tmp_path: Path) -> None:
    before = threading.active_count()
    with pytest.raises(TTSUnavailableError) as info:
        Speaker(tmp_path, binary=str(tmp_path / "no-such-espeak-ng"))
    assert isinstance(info.value, RuntimeError)
    assert "apt-get install -y espeak-ng" in str(info.value) and "no-such-espeak-ng" in str(info.value)
    assert threading.active_count() == before  # nothing was started


def test_files_only_without_an_audio_output(tmp_path: Path) -> None:
    found = find_player()
    pulse = Path(os.environ.get("XDG_RUNTIME_DIR") or "/nonexistent", "pulse", "native")
    if not os.path.exists("/dev/snd") and not os.environ.get("PULSE_SERVER") and not pulse.exists():
        assert found is None  # as on this project's machines: no sound card, no sound server
    with Speaker(tmp_path) as speaker:
        assert speaker.playing == (found is not None)
    with Speaker(tmp_path, play=False) as speaker:
        assert not speaker.playing


def test_play_true_plays_each_file_in_order(tmp_path: Path, monkeypatch) -> None:
    bin_dir, played = tmp_path / "bin", tmp_path / "played.txt"
    bin_dir.mkdir()
    player = bin_dir / "aplay"  # stands in for ALSA's player (this machine has no sound card)
    player.write_text(f'#!/bin/sh\n[ "$1" = -q ] || exit 9\nsleep 0.05\necho "$2" >> {played}\n')
    player.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    agent = Talker("Pia", ["First one. Second one. Third one."])
    speaker = Speaker(tmp_path / "out", play=True).attach(agent)
    assert speaker.playing
    agent()
    assert speaker.close(timeout=20)  # waits for the playing too
    assert played.read_text().split() == [f.path for f in speaker.files] and len(speaker.files) == 3


def test_werewolf_tts_writes_each_players_speech(tmp_path: Path) -> None:
    out, transcript = tmp_path / "speech", tmp_path / "game.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(WEREWOLF), "--policy", "--servers", "1", "--rounds", "1",
                           "--seed", "2", "--tts", str(out), "--transcript", str(transcript), "--color", "never"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Speech: WAV files in {out}/<name>/" in done.stdout
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    voices = {}
    for entry in manifest:
        voices.setdefault(entry["agent"], set()).add(entry["voice"])
    players = set(voices) - {"Moderator"}
    assert "Moderator" in voices and len(players) >= 4
    assert all(len(v) == 1 for v in voices.values())  # one voice per player ...
    assert len({next(iter(v)) for v in voices.values()}) == len(voices)  # ... each its own
    # every message of the game (whole or streamed from the servers) was voiced, sentence by sentence
    said: dict = {}
    for line in transcript.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "message":
            said[event["data"]["id"]] = event["data"]["content"]
        elif event["event"] == "chunk":
            said[event["data"]["id"]] = said.get(event["data"]["id"], "") + event["data"]["delta"]
    voiced: dict = {}
    for entry in manifest:
        voiced.setdefault(entry["msg_id"], []).append(entry["text"])
    assert voiced == {msg_id: split_sentences(text, final=True)[0] for msg_id, text in said.items()}
    for entry in manifest[::7]:
        rms, seconds = measure(str(out / entry["path"]))
        assert rms > 300 and seconds > 0.2


@pytest.mark.parametrize("flags, path, message", [
    (["--policy", "--tts", "{out}"], "empty", "--tts: the speech synthesizer 'espeak-ng' is not installed"),
    (["--tts", "{out}", "--replay", "game.jsonl"], None, "--tts voices a game as it is played, not a --replay"),
])
def test_werewolf_tts_usage_errors_are_one_line(tmp_path: Path, flags: list, path: str, message: str) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    if path == "empty":  # no espeak-ng on PATH
        env["PATH"] = str(tmp_path)
    argv = [flag.format(out=tmp_path / "speech") for flag in flags]
    done = subprocess.run([sys.executable, str(WEREWOLF), *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    if path == "empty":
        assert INSTALL_HINT in done.stderr
