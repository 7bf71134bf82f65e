"""Speech out: what agents say, as audio, sentence by sentence (espeak-ng).

    from agentscope_rpc.tts import Speaker

    with Speaker("speech") as speaker:      # one background worker, one voice per speaker name
        speaker.attach(alice, bob)          # local agents or distributed proxies alike
        alice(bob(None))                    # each sentence becomes speech/<name>/NNNN.wav as it streams
    # leaving the block waits (with a deadline) until every queued sentence is written

A `Speaker` is a `pre_speak` hook (`hook(agent, msg, stream, last)`, see
`agentscope_rpc.agents.hooks`).  It runs wherever the hook runs: in the
agent's process for a local agent, in the orchestrator for a distributed
agent's proxy (`RemoteAgent`), on each relayed chunk.  It never changes the
message (it returns None) and never raises into the agent's speech.

Per message (by `msg.id`) it keeps the text already handed on.  As chunks
arrive, each complete sentence (`split_sentences`: `.`, `!` or `?` followed
by whitespace, or a line break) is queued for synthesis; the final chunk
(`last=True`) flushes the rest.  Content that is not text (a dict, a list) is
read through `agentscope_rpc.message.content_text`.

Synthesis runs on one background thread per Speaker, in order:
`espeak-ng -v VOICE [-s RATE] -w FILE --stdin` with the sentence on stdin,
under a timeout.  Files are `out_dir/<agent>/<NNNN>.wav` (`<agent>` is the
speaker's name made safe for a file name, `NNNN` counts up per agent from 1,
after any files already there), each listed in `Speaker.files` and, as one
JSON line, in `out_dir/manifest.jsonl`.  Where this machine has an audio
output (`find_player`), each file is also played, in order, by a second
thread.

Bounds, so that speech never stalls or grows without end:

* Queue: at most `max_pending` sentences waiting or being synthesized.  A
  hook that finds the queue full waits up to `wait` seconds for room, then
  drops the sentence (and the rest of that call's sentences) with a logged
  warning, counted in `Speaker.dropped`.  The agent is held up by `wait` at
  most once per chunk.
* Unfinished messages: a message whose generator raised never gets
  `last=True`.  When a newer message of the same agent starts, the older
  unfinished one is abandoned (its complete sentences were already queued;
  the incomplete rest is dropped), and at most `max_open` unfinished
  messages are kept over all agents (the oldest goes first).  Both count in
  `Speaker.abandoned`.
* A message id already finished is not spoken again (the same Speaker on two
  proxies of one agent hears each chunk twice): the last 256 are remembered.

Missing espeak-ng raises `TTSUnavailableError` when the Speaker is built
(Debian/Ubuntu: `apt-get install -y espeak-ng`).  A failed synthesis is
logged and counted in `Speaker.errors`.  The worker threads are daemons and
an exit handler closes every open Speaker with a short deadline, so a
program never hangs on its speech at exit.

This module uses only the standard library.
"""
from __future__ import annotations

import atexit
import collections
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
import wave
import weakref
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from .exception import AgentScopeRpcError
from .message import content_text

log = logging.getLogger(__name__)

DEFAULT_VOICES = (
    "en-us+m3", "en+f2", "en-us+f4", "en-gb-scotland+m2", "en+m4", "en-us+f3",
    "en-029+m5", "en-gb-x-rp+f5", "en-us+m6", "en+f1", "en-gb-x-gbclan+m7", "en-us-nyc+m1",
)
"""The espeak-ng voices (language + variant) given to speakers in order of first
appearance; they repeat after twelve speakers.  `en` is British English: with
espeak-ng 1.51 `en-gb+VARIANT` ignores its variant, `en+VARIANT` does not."""

INSTALL_HINT = "apt-get install -y espeak-ng"
"""How to install the synthesizer on Debian or Ubuntu (as root); `make sysdeps` does it."""

MAX_SENTENCE_CHARS = 400
"""Text that runs this long without a sentence end is spoken anyway, cut at a space."""

_FINISHED_KEPT = 256
_ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "cf", "approx", "mt", "fig"),
)
_BOUNDARY = re.compile(r"(\n)|([.!?\u2026]+)([\"'\u201d\u2019)\]]*)(?=\s)")
_WORD_BEFORE = re.compile(r"(?:^|[\s(\"'\u201c\u2018])(\w[\w.]*)$")
_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s*")
_SPEAKABLE = re.compile(r"\w")
_NUMBERED = re.compile(r"^(\d+)\.wav$")
_UNSAFE = re.compile(r"[^\w.-]+")


class TTSUnavailableError(AgentScopeRpcError, RuntimeError):
    """The speech synthesizer (espeak-ng) or the requested audio player is missing or broken."""


@dataclasses.dataclass(frozen=True)
class SpokenFile:
    """One sentence written as a WAV file (an entry of `Speaker.files` and of `manifest.jsonl`).

    `agent`: the speaker's name (`msg.name`); `msg_id`: the message it is
    part of; `sentence`: its index in that message (0, 1, ...); `text`: what
    was spoken; `voice`: the espeak-ng voice; `path`: the file; `seconds`:
    its duration.
    """

    agent: str
    msg_id: str
    sentence: int
    text: str
    voice: str
    path: str
    seconds: float


# -- sentences -----------------------------------------------------------------------------
def _ends_sentence(text: str, match: "re.Match", final: bool) -> bool:
    """Whether the punctuation `match` (followed by whitespace) ends a sentence."""
    punct = match.group(2)
    exclaims = "!" in punct or "?" in punct
    if match.group(3) or (not exclaims and (len(punct) > 1 or punct == "\u2026")):
        # a quotation ('"Stop!" she said') or an ellipsis ("Well... maybe") may go on in lower case
        following = _NON_SPACE.search(text, match.end())
        return final if following is None else not following.group().islower()
    if punct == ".":  # an abbreviation ("Dr.", "e.g.") or an initial ("J.") does not end one
        start = match.start()
        word = _WORD_BEFORE.search(text, max(0, start - 24), start)
        if word is not None:
            token = word.group(1)
            if token.lower() in _ABBREVIATIONS or (len(token) == 1 and token.isupper()):
                return False
    return True


def _cut_long(text: str, max_chars: int) -> int:
    """Where to cut `text` (longer than max_chars, no sentence end): after a comma or at a space."""
    window = text[:max_chars]
    for marks in ((",", ";", ":"), (" ", "\t")):
        at = max(window.rfind(mark) for mark in marks)
        if at > max_chars // 4:
            return at + 1
    return max_chars


def split_sentences(text: str, final: bool = False,
                    max_chars: int = MAX_SENTENCE_CHARS) -> tuple[list[str], int]:
    """The complete sentences at the start of `text`, and how many characters they use.

    A sentence ends at `.`, `!` or `?` (or `...`, closing quotes and brackets
    included) followed by whitespace, or at a line break.  A period after a
    common abbreviation (`Mr.`, `e.g.`) or a capital initial (`J.`) does not
    end one; an ellipsis or a closing quote followed by a lower-case word
    (`"Stop!" she said`) does not either.
    While the text is still streaming (`final=False`) punctuation at its very
    end waits for the next chunk (`3.` may become `3.5`); with `final=True`
    the rest counts as a sentence too.  Text that runs past `max_chars`
    without a sentence end is cut after a comma or at a space.

    Returns `(sentences, consumed)`: the sentences, stripped, leaving out
    ones with nothing to pronounce (no letter or digit); `consumed` is the
    length of the prefix of `text` they cover, with the whitespace after
    them.  `split_sentences("Hello. Wor")` is `(["Hello."], 7)`.
    """
    sentences: list = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.start() < start:
            continue  # inside whitespace already consumed
        if match.group(1) is None and not _ends_sentence(text, match, final):
            continue
        end = match.start() if match.group(1) is not None else match.end()
        piece = text[start:end].strip()
        if _SPEAKABLE.search(piece):
            sentences.append(piece)
        start = _SPACE.match(text, match.end()).end()
    while len(text) - start > max_chars:
        cut = start + _cut_long(text[start:], max_chars)
        piece = text[start:cut].strip()
        if _SPEAKABLE.search(piece):
            sentences.append(piece)
        start = _SPACE.match(text, cut).end()
    if final:
        piece = text[start:].strip()
        if _SPEAKABLE.search(piece):
            sentences.append(piece)
        start = len(text)
    return sentences, start


# -- audio output ----------------------------------------------------------------------------
def find_player() -> Optional[list]:
    """The command that plays a WAV file on this machine's audio output, or None if it has none.

    `paplay` when a PulseAudio/PipeWire server is reachable (`PULSE_SERVER`,
    or a socket in `$XDG_RUNTIME_DIR/pulse`), else `aplay -q` when ALSA has
    a playback device (`/dev/snd/pcm*p`).  The file's path is appended.
    """
    paplay = shutil.which("paplay")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if paplay and (os.environ.get("PULSE_SERVER")
                   or (runtime_dir and os.path.exists(os.path.join(runtime_dir, "pulse", "native")))):
        return [paplay]
    aplay = shutil.which("aplay")
    try:
        devices = os.listdir("/dev/snd")
    except OSError:
        devices = []
    if aplay and any(name.startswith("pcm") and name.endswith("p") for name in devices):
        return [aplay, "-q"]
    return None


def _safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._")[:64] or "agent"


# -- the speaker ---------------------------------------------------------------------------------
class _Open:
    """One message being streamed: what of it was already queued."""

    __slots__ = ("agent_key", "done", "cuts", "head", "next_index")

    def __init__(self, agent_key: Any) -> None:
        self.agent_key = agent_key
        self.done = 0  # characters of the text already queued (with the whitespace after)
        self.cuts: list = [0]  # values `done` had: sentence boundaries a rewrite can resume at
        self.head = ""  # text[:done], to see whether a chunk extends it
        self.next_index = 0


class _Job:
    __slots__ = ("name", "voice", "msg_id", "index", "text")

    def __init__(self, name: str, voice: str, msg_id: str, index: int, text: str) -> None:
        self.name, self.voice, self.msg_id, self.index, self.text = name, voice, msg_id, index, text


_LIVE: "weakref.WeakSet[Speaker]" = weakref.WeakSet()
EXIT_TIMEOUT_S = 5.0
"""At interpreter exit, how long each Speaker still open may take to write its queue."""


@atexit.register
def _close_at_exit() -> None:
    for speaker in list(_LIVE):
        try:
            speaker.close(timeout=EXIT_TIMEOUT_S)
        except Exception:  # pylint: disable=broad-except
            pass  # exiting: nothing left to report to


class Speaker:
    """Turns agents' speech into WAV files, sentence by sentence, one voice per speaker.

    `Speaker(out_dir, voices=None, play=None, rate=None, max_pending=64,
    wait=2.0, timeout=15.0, binary="espeak-ng", hook_name="tts",
    manifest=True, max_open=64)`:

    * `out_dir`: where the files go (`out_dir/<agent>/NNNN.wav`, made as needed).
    * `voices`: a mapping `{name: voice}` of fixed voices (e.g.
      `{"Alice": "en-gb-x-rp+f3"}`), or a sequence of voices to hand out
      instead of `DEFAULT_VOICES`.  Other names get the next voice of the
      list not already taken, in order of first appearance.
    * `play`: None plays the files only where an audio output exists
      (`find_player`); True always (`TTSUnavailableError` if no player is
      installed); False never.
    * `rate`: words per minute (espeak-ng's `-s`, 80-450); None: its default (175).
    * `max_pending`, `wait`: the queue's bound and how long a hook waits for
      room before dropping a sentence (see the module docstring).
    * `timeout`: seconds one espeak-ng (or player) run may take before it is killed.
    * `binary`: the espeak-ng executable (a name on PATH or a path).
    * `hook_name`: the name `attach` registers the hook under.
    * `manifest`: also append each file as one JSON line to `out_dir/manifest.jsonl`.
    * `max_open`: unfinished messages kept over all agents.

    Use it as a context manager, or call `close()`; `flush()` waits for the
    queue without closing.
    """

    def __init__(
        self,
        out_dir: Union[str, os.PathLike],
        voices: Union[Mapping[str, str], Sequence[str], None] = None,
        play: Optional[bool] = None,
        rate: Optional[int] = None,
        max_pending: int = 64,
        wait: float = 2.0,
        timeout: float = 15.0,
        binary: str = "espeak-ng",
        hook_name: str = "tts",
        manifest: bool = True,
        max_open: int = 64,
    ) -> None:
        if max_pending < 1 or max_open < 1:
            raise ValueError("max_pending and max_open must be at least 1")
        if rate is not None and not 80 <= int(rate) <= 450:
            raise ValueError(f"rate must be 80-450 words per minute, not {rate}")
        self.out_dir = Path(out_dir)
        self.binary = find_espeak(binary)
        self.rate = None if rate is None else int(rate)
        self.max_pending, self.wait, self.timeout = max_pending, float(wait), float(timeout)
        self.max_open = max_open
        self.hook_name = hook_name
        fixed = dict(voices) if isinstance(voices, Mapping) else {}
        self._pool = list(voices) if voices and not isinstance(voices, Mapping) else list(DEFAULT_VOICES)
        self._assigned: dict = fixed  # speaker name -> voice
        self._cursor = 0
        self._player = self._choose_player(play)
        self._manifest = self.out_dir / "manifest.jsonl" if manifest else None
        self.out_dir.mkdir(parents=True, exist_ok=True)

        self._lock = threading.Condition()  # guards everything below and the queue
        self._open: "collections.OrderedDict[str, _Open]" = collections.OrderedDict()
        self._finished: collections.deque = collections.deque(maxlen=_FINISHED_KEPT)
        self._finished_set: set = set()
        self._jobs: collections.deque = collections.deque()
        self._pending = 0  # queued or being synthesized
        self._files: list = []
        self._closed = False
        self._abort = False
        self.dropped = 0
        """Sentences dropped because the queue stayed full for `wait` seconds."""
        self.abandoned = 0
        """Unfinished messages given up (a newer message of the same agent started, or over `max_open`)."""
        self.errors = 0
        """Sentences whose synthesis failed (logged)."""

        self._dirs: dict = {}  # speaker name -> directory (worker thread only)
        self._taken_dirs: dict = {}  # directory name -> speaker name
        self._numbers: dict = {}  # directory -> next number
        self._plays: collections.deque = collections.deque()
        self._playing: Optional[subprocess.Popen] = None
        self._worker = threading.Thread(target=self._work, name="tts-speaker", daemon=True)
        self._worker.start()
        self._play_thread: Optional[threading.Thread] = None
        if self._player is not None:
            self._play_thread = threading.Thread(target=self._play_loop, name="tts-player", daemon=True)
            self._play_thread.start()
        _LIVE.add(self)

    def _choose_player(self, play: Optional[bool]) -> Optional[list]:
        if play is False:
            return None
        found = find_player()
        if found is None and play:
            for name, args in (("paplay", []), ("aplay", ["-q"])):
                path = shutil.which(name)
                if path:
                    return [path, *args]
            raise TTSUnavailableError(
                "play=True, but neither aplay nor paplay is installed (apt-get install -y alsa-utils)")
        return found

    # -- public state ----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        """Whether files are also played (an audio output was found, or play=True)."""
        return self._player is not None

    @property
    def files(self) -> list:
        """The files written so far, in order (a list of `SpokenFile`; a copy)."""
        with self._lock:
            return list(self._files)

    @property
    def open_messages(self) -> int:
        """Messages streaming now (started, not yet ended) that the Speaker keeps state for."""
        with self._lock:
            return len(self._open)

    @property
    def pending(self) -> int:
        """Sentences queued or being synthesized."""
        with self._lock:
            return self._pending

    def voice_for(self, name: str) -> str:
        """The voice of speaker `name`: fixed by `voices`, else the next free one of the list.

        Deterministic: the same names in the same order of first appearance
        get the same voices.  Once every voice of the list is taken they
        repeat, in order.
        """
        with self._lock:
            voice = self._assigned.get(name)
            if voice is None:
                voice = self._next_voice()
                self._assigned[name] = voice
            return voice

    def _next_voice(self) -> str:
        taken = set(self._assigned.values())
        size = len(self._pool)
        for step in range(size):
            at = (self._cursor + step) % size
            if self._pool[at] not in taken:
                self._cursor = at + 1
                return self._pool[at]
        voice = self._pool[self._cursor % size]
        self._cursor += 1
        return voice

    # -- hook registration -----------------------------------------------------------------
    def attach(self, *agents: Any) -> "Speaker":
        """Register this Speaker as the `pre_speak` hook `hook_name` of each agent or proxy; returns self."""
        for agent in agents:
            agent.register_hook("pre_speak", self.hook_name, self)
        return self

    def detach(self, *agents: Any) -> None:
        """Remove the hook from each agent or proxy (those without it are skipped)."""
        for agent in agents:
            agent.remove_hook("pre_speak", self.hook_name)

    # -- the hook ------------------------------------------------------------------------------
    def __call__(self, agent: Any, msg: Any, stream: bool, last: bool) -> None:
        """The pre_speak hook: queue the sentences this chunk completes.  Returns None (no change)."""
        try:
            self._hear(agent, msg, bool(stream), bool(last))
        except Exception:  # pylint: disable=broad-except
            log.exception("tts: could not queue speech of %r", getattr(msg, "name", None))
        return None

    def _hear(self, agent: Any, msg: Any, stream: bool, last: bool) -> None:
        msg_id = str(getattr(msg, "id", "") or id(msg))
        name = str(getattr(msg, "name", None) or getattr(agent, "name", None) or "agent")
        text = content_text(getattr(msg, "content", None))
        with self._lock:
            if self._closed or msg_id in self._finished_set:
                return
            state = self._open.get(msg_id)
            if state is None:
                state = _Open(getattr(agent, "agent_id", None) or id(agent))
                if stream and not last:
                    self._start(msg_id, state)
            else:
                self._open.move_to_end(msg_id)
            if not text.startswith(state.head):
                self._rewritten(state, text)
            sentences, used = split_sentences(text[state.done:], final=last or not stream)
            if used:
                state.done += used
                state.head = text[:state.done]
                state.cuts.append(state.done)
            if last or not stream:
                self._open.pop(msg_id, None)
                self._finish(msg_id)
            if not sentences:
                return
            voice = self._assigned.get(name) or self._assign(name)
            jobs = []
            for sentence in sentences:
                jobs.append(_Job(name, voice, msg_id, state.next_index, sentence))
                state.next_index += 1
            self._enqueue(jobs)

    def _assign(self, name: str) -> str:
        voice = self._next_voice()
        self._assigned[name] = voice
        return voice

    def _start(self, msg_id: str, state: _Open) -> None:
        """A new streamed message: older unfinished ones of the same agent ended without `last`."""
        stale = [key for key, other in self._open.items() if other.agent_key == state.agent_key]
        while len(self._open) - len(stale) >= self.max_open:
            oldest = next(key for key in self._open if key not in stale)
            stale.append(oldest)
        for key in stale:
            del self._open[key]
            self.abandoned += 1
            log.debug("tts: message %s ended without its last chunk; its unfinished sentence is dropped", key)
        self._open[msg_id] = state

    def _finish(self, msg_id: str) -> None:
        if len(self._finished) == self._finished.maxlen:
            self._finished_set.discard(self._finished[0])
        self._finished.append(msg_id)
        self._finished_set.add(msg_id)

    @staticmethod
    def _rewritten(state: _Open, text: str) -> None:
        """A hook before this one rewrote what was already queued: resume at the sentence it changed.

        The sentences from the first changed character on are queued again
        from the new text (nothing already spoken is lost or cut in half).
        """
        same = 0
        head = state.head
        limit = min(len(head), len(text))
        while same < limit and head[same] == text[same]:
            same += 1
        resume = max(cut for cut in state.cuts if cut <= same)
        state.cuts = [cut for cut in state.cuts if cut <= resume]
        state.done = resume
        state.head = text[:resume]

    def _enqueue(self, jobs: list) -> None:
        """Add jobs to the queue (the lock is held); wait for room at most `wait` seconds once."""
        deadline = None
        for at, job in enumerate(jobs):
            if self._pending >= self.max_pending:
                self._lock.notify_all()  # the worker may be asleep with jobs already queued
                if deadline is None:
                    deadline = time.monotonic() + self.wait
                room = self._lock.wait_for(
                    lambda: self._pending < self.max_pending or self._closed,
                    timeout=max(0.0, deadline - time.monotonic()))
                if not room or self._closed:
                    lost = len(jobs) - at
                    self.dropped += lost
                    log.warning("tts: the speech queue is full (%d sentences); dropped %d sentence(s) of %s: %r",
                                self.max_pending, lost, job.name, job.text[:60])
                    break
            self._jobs.append(job)
            self._pending += 1
        self._lock.notify_all()

    # -- waiting and closing -----------------------------------------------------------------
    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued sentence is written; False if `timeout` seconds passed first.

        Messages still streaming are not ended: only what was queued so far
        is waited for.
        """
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self, timeout: Optional[float] = 30.0) -> bool:
        """Write what is queued (within `timeout` seconds), finish playing, stop the threads.

        Later chunks are ignored.  Returns False when the deadline cut the
        queue short (the rest is dropped) or playback short.  Closing twice
        is harmless.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        left = (lambda: None) if deadline is None else (lambda: max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._closed = True
            self._open.clear()
            done = self._lock.wait_for(lambda: self._pending == 0, timeout=left())
            if not done:
                self._abort = True
                log.warning("tts: closing with %d sentence(s) not yet written; they are dropped", self._pending)
            self._lock.notify_all()
        self._worker.join(left())
        if self._play_thread is not None:
            with self._lock:
                played = self._lock.wait_for(lambda: not self._plays and self._playing is None, timeout=left())
                self._plays.clear()
                self._lock.notify_all()
                playing = self._playing
            if playing is not None:
                playing.kill()
            self._play_thread.join(left())
            done = done and played
        _LIVE.discard(self)
        return done and not self._worker.is_alive()

    def __enter__(self) -> "Speaker":
        """The Speaker itself."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """`close()` with its default deadline."""
        self.close()

    def __repr__(self) -> str:
        return f"Speaker({str(self.out_dir)!r}, files={len(self._files)}, pending={self._pending})"

    # -- the worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._jobs and not self._closed:
                    self._lock.wait()
                if not self._jobs or self._abort:
                    self._pending -= len(self._jobs)
                    self._jobs.clear()
                    self._lock.notify_all()
                    if self._closed:
                        return
                    continue
                job = self._jobs.popleft()
            try:
                self._synthesize(job)
            except Exception:  # pylint: disable=broad-except
                with self._lock:
                    self.errors += 1
                log.exception("tts: could not write %r for %s", job.text[:60], job.name)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _directory(self, name: str) -> Path:
        folder = self._dirs.get(name)
        if folder is None:
            base = _safe_name(name)
            safe, n = base, 1
            while self._taken_dirs.get(safe, name) != name:  # two names, one safe spelling
                n += 1
                safe = f"{base}-{n}"
            self._taken_dirs[safe] = name
            folder = self._dirs[name] = self.out_dir / safe
            folder.mkdir(parents=True, exist_ok=True)
            numbers = [int(m.group(1)) for m in map(_NUMBERED.match, os.listdir(folder)) if m]
            self._numbers[folder] = max(numbers, default=0) + 1
        return folder

    def _synthesize(self, job: _Job) -> None:
        folder = self._directory(job.name)
        scratch = folder / f".{uuid.uuid4().hex}.wav"
        command = [self.binary, "-v", job.voice, "-b", "1", "-w", str(scratch)]
        if self.rate is not None:
            command += ["-s", str(self.rate)]
        command.append("--stdin")
        try:
            try:
                done = subprocess.run(command, input=job.text.encode("utf-8"), capture_output=True,
                                      timeout=self.timeout, check=False)
            except subprocess.TimeoutExpired:
                self._failed(job, f"espeak-ng took longer than {self.timeout:g} s")
                return
            if done.returncode != 0 or not scratch.exists():
                why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
                self._failed(job, why)
                return
            try:
                with wave.open(str(scratch), "rb") as audio:
                    seconds = audio.getnframes() / float(audio.getframerate() or 1)
            except (wave.Error, EOFError) as err:
                self._failed(job, f"espeak-ng wrote no usable WAV ({err})")
                return
            path = self._publish(scratch, folder)
        finally:
            if scratch.exists():
                scratch.unlink()
        record = SpokenFile(job.name, job.msg_id, job.index, job.text, job.voice, str(path), round(seconds, 3))
        with self._lock:
            self._files.append(record)
            if self._player is not None:
                self._plays.append(record)
                self._lock.notify_all()
        if self._manifest is not None:
            line = dataclasses.asdict(record)
            line["path"] = os.path.relpath(path, self.out_dir)
            with open(self._manifest, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")

    def _publish(self, scratch: Path, folder: Path) -> Path:
        """Give the finished file the next free number (never overwriting another writer's file)."""
        number = self._numbers[folder]
        while True:
            path = folder / f"{number:04d}.wav"
            try:
                os.link(scratch, path)
                break
            except FileExistsError:
                number += 1
            except OSError:  # a file system without hard links
                if path.exists():
                    number += 1
                    continue
                os.replace(scratch, path)
                break
        self._numbers[folder] = number + 1
        return path

    def _failed(self, job: _Job, why: str) -> None:
        with self._lock:
            self.errors += 1
        log.warning("tts: espeak-ng failed on %r (%s, voice %s): %s", job.text[:60], job.name, job.voice, why)

    # -- playback ----------------------------------------------------------------------------------
    def _play_loop(self) -> None:
        while True:
            with self._lock:
                while not self._plays and not (self._closed and not self._worker.is_alive()):
                    self._lock.wait(0.5)
                if not self._plays:
                    return
                record = self._plays.popleft()
                try:
                    self._playing = subprocess.Popen([*self._player, record.path], stdin=subprocess.DEVNULL,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                except OSError as err:
                    log.warning("tts: could not play %s: %s", record.path, err)
                    continue
                playing = self._playing
            try:
                _, err = playing.communicate(timeout=record.seconds + self.timeout)
                if playing.returncode not in (0, -9):
                    log.warning("tts: %s could not play %s: %s", self._player[0], record.path,
                                err.decode("utf-8", "replace").strip())
            except subprocess.TimeoutExpired:
                playing.kill()
                playing.communicate()
            finally:
                with self._lock:
                    self._playing = None
                    self._lock.notify_all()


def find_espeak(binary: str = "espeak-ng") -> str:
    """The full path of the synthesizer `binary`, after checking that it runs.

    Raises `TTSUnavailableError` (with the `apt-get` line that installs it)
    when it is missing or does not run.  `Speaker` calls it first thing.
    """
    path = shutil.which(binary)
    if path is None:
        raise TTSUnavailableError(
            f"the speech synthesizer {binary!r} is not installed (Debian/Ubuntu, as root: {INSTALL_HINT}; "
            f"or `make sysdeps`)")
    try:
        done = subprocess.run([path, "--version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TTSUnavailableError(f"{path} does not run ({err}); reinstall it: {INSTALL_HINT}") from None
    if done.returncode != 0:
        raise TTSUnavailableError(
            f"{path} --version failed (exit status {done.returncode}); reinstall it: {INSTALL_HINT}")
    return path


__all__ = [
    "Speaker",
    "SpokenFile",
    "TTSUnavailableError",
    "DEFAULT_VOICES",
    "INSTALL_HINT",
    "MAX_SENTENCE_CHARS",
    "EXIT_TIMEOUT_S",
    "split_sentences",
    "find_espeak",
    "find_player",
]
