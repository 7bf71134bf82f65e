"""A Speaker's hook side: from streamed chunks of each message to sentences queued for the worker."""
from __future__ import annotations

import logging
import time
from typing import Any

from ..message import content_text
from ._sentences import split_sentences
from ._worker import _Job

log = logging.getLogger(__package__)  # "agentscope_rpc.tts", as before it was split

_FINISHED_KEPT = 256


class _Open:
    """One message being streamed: what of it was already queued."""

    __slots__ = ("agent_key", "done", "cuts", "head", "next_index")

    def __init__(self, agent_key: Any) -> None:
        self.agent_key = agent_key
        self.done = 0  # characters of the text already queued (with the whitespace after)
        self.cuts: list = [0]  # values `done` had: sentence boundaries a rewrite can resume at
        self.head = ""  # text[:done], to see whether a chunk extends it
        self.next_index = 0


class _Hearing:
    """What `agentscope_rpc.tts.Speaker` does with each chunk its hook hears (a base class of it).

    Per message it keeps an `_Open` (what was queued already), splits the
    rest into sentences and queues them as `_Job`s for the worker, within
    the bounds the `agentscope_rpc.tts` docstring sets out.  It uses
    the Speaker's state, which `Speaker.__init__` sets up: its lock and
    queue (`_lock`, `_jobs`, `_pending`, `_closed`, `max_pending`, `wait`,
    `dropped`), the messages (`_open`, `_finished`, `_finished_set`,
    `max_open`, `abandoned`) and the voices (`_assigned`, `_assign`).
    """

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

