"""A Speaker's background threads: one writes each queued sentence as a WAV file, one plays the files.

`SpokenFile` is re-exported by `agentscope_rpc.tts`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import subprocess
import uuid
from pathlib import Path

from ._espeak import _SynthesisError, _synthesize_wav

log = logging.getLogger(__package__)  # "agentscope_rpc.tts", as before it was split

_NUMBERED = re.compile(r"^(\d+)\.wav$")
_UNSAFE = re.compile(r"[^\w.-]+")


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


def _safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._")[:64] or "agent"


class _Job:
    __slots__ = ("name", "voice", "msg_id", "index", "text")

    def __init__(self, name: str, voice: str, msg_id: str, index: int, text: str) -> None:
        self.name, self.voice, self.msg_id, self.index, self.text = name, voice, msg_id, index, text


class _Worker:
    """The worker and player threads of `agentscope_rpc.tts.Speaker` (a base class of it).

    `_work` writes the queued `_Job`s in order, `_play_loop` plays the
    written files in order.  Both use the Speaker's state, which
    `Speaker.__init__` sets up: its lock and queue (`_lock`, `_jobs`,
    `_pending`, `_closed`, `_abort`), where files go (`out_dir`, `_dirs`,
    `_taken_dirs`, `_numbers`, `_manifest`, `_files`), the synthesizer
    (`binary`, `rate`, `timeout`, `errors`) and playback (`_player`,
    `_plays`, `_playing`, `_worker`).
    """

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
        try:
            try:
                seconds = _synthesize_wav(self.binary, job.voice, self.rate, job.text, scratch, self.timeout)
            except _SynthesisError as err:
                self._failed(job, str(err))
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

