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
import logging
import os
import shutil
import subprocess
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from . import _espeak, _sentences
from ._espeak import TTSUnavailableError, find_espeak, find_player
from ._hearing import _FINISHED_KEPT, _Hearing, _Open
from ._sentences import split_sentences
from ._worker import SpokenFile, _Worker

log = logging.getLogger(__name__)

DEFAULT_VOICES = (
    "en-us+m3", "en+f2", "en-us+f4", "en-gb-scotland+m2", "en+m4", "en-us+f3",
    "en-029+m5", "en-gb-x-rp+f5", "en-us+m6", "en+f1", "en-gb-x-gbclan+m7", "en-us-nyc+m1",
)
"""The espeak-ng voices (language + variant) given to speakers in order of first
appearance; they repeat after twelve speakers.  `en` is British English: with
espeak-ng 1.51 `en-gb+VARIANT` ignores its variant, `en+VARIANT` does not."""

# Two constants of the submodules, documented here: pdoc reads a constant's docstring where it is assigned.
INSTALL_HINT = _espeak.INSTALL_HINT
"""How to install the synthesizer on Debian or Ubuntu (as root); `make sysdeps` does it."""

MAX_SENTENCE_CHARS = _sentences.MAX_SENTENCE_CHARS
"""Text that runs this long without a sentence end is spoken anyway, cut at a space."""

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


class Speaker(_Hearing, _Worker):
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

    def _assign(self, name: str) -> str:
        voice = self._next_voice()
        self._assigned[name] = voice
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
