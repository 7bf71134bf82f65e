"""Actors: one agent, one FIFO mailbox.

Calls to one agent run one at a time, in the order each caller sent them
(per-caller sequence numbers; a call that arrives early waits for its
predecessor, at most `GAP_WAIT_S`).  Calls to different agents run
concurrently: a blocking `reply` runs on the server's thread pool, an
`async def` one on the loop.  An idle actor holds no task and no thread.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .. import speech
from ..exception import StreamCancelledError
from .relay import CallRelay

MAX_RUN = 64  # queued sync calls handed to one worker job at most (server.batch)
GAP_WAIT_S = 2.0  # how long a call waits for an earlier call of the same caller
log = logging.getLogger(__name__)


@dataclass
class CallTask:
    """One queued call."""

    task_id: str
    method: str
    args: tuple
    kwargs: dict
    relay: CallRelay
    caller_id: str = ""
    seq: int = 0
    refs: list = field(default_factory=list)  # placeholders to resolve first
    done: Optional[asyncio.Future] = None  # -> ("result", value) | ("error", exc)
    cancelled: bool = False


class Actor:
    """Runs one agent's calls one at a time."""

    __slots__ = ("agent", "_queue", "_running", "_expected", "_held", "_runner", "_execute", "_batch", "_run")

    def __init__(self, agent: Any, execute: Callable[[Any, CallTask], Any], batch: Any = None) -> None:
        self.agent = agent
        self._queue: deque = deque()
        self._running = False
        self._expected: dict[str, int] = {}
        self._held: dict[tuple, CallTask] = {}
        self._runner: Optional[asyncio.Task] = None
        self._execute = execute
        self._batch = batch  # runs of queued sync calls on one worker (server.batch)
        self._run: deque = deque()  # the not yet started calls of the current run

    @property
    def busy(self) -> bool:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._held) + len(self._run)

    def submit(self, task: CallTask) -> None:
        caller = task.caller_id
        if not caller:
            self._enqueue(task)
            return
        expected = self._expected.get(caller, 0)
        if task.seq > expected:  # arrived early: wait for the gap to fill
            self._held[(caller, task.seq)] = task
            asyncio.get_running_loop().call_later(GAP_WAIT_S, self._skip_gap, caller, expected)
            return
        self._enqueue(task)
        if task.seq == expected:
            self._expected[caller] = expected + 1
            self._release_held(caller)

    def _release_held(self, caller: str) -> None:
        while True:
            nxt = self._held.pop((caller, self._expected[caller]), None)
            if nxt is None:
                break
            self._enqueue(nxt)
            self._expected[caller] += 1
        if self._held and any(c == caller for (c, _) in self._held):
            # calls still held behind a later gap: that gap gets its own grace
            asyncio.get_running_loop().call_later(GAP_WAIT_S, self._skip_gap, caller, self._expected[caller])

    def _skip_gap(self, caller: str, missing: int) -> None:
        if self._expected.get(caller, 0) != missing:
            return
        later = sorted(seq for (c, seq) in self._held if c == caller)
        if not later:
            return
        log.warning("call %d of caller %s never arrived; going on", missing, caller)
        self._expected[caller] = later[0]
        self._release_held(caller)

    def _enqueue(self, task: CallTask) -> None:
        self._queue.append(task)
        if not self._running:
            self._running = True
            self._advance()

    def _advance(self, _finished: Any = None) -> None:
        """Start the next queued work, or go idle (on the loop, no task of its own).

        A run of queued sync calls goes to one worker job (`server.batch`),
        which calls back here when it ends; anything else runs as a task
        whose completion calls back here.
        """
        if not self._queue:
            self._running = False
            self._runner = None
            return
        task = self._queue.popleft()
        batch = self._batch
        if batch is not None and batch.accepts(self.agent, task):
            run = self._run = deque([task])
            while self._queue and len(run) < MAX_RUN and batch.accepts(self.agent, self._queue[0]):
                run.append(self._queue.popleft())
            batch.start(self.agent, run, self._advance)
            return
        # a cancelled task still goes through `execute`, which records its
        # failure for anyone waiting on its result
        self._runner = asyncio.get_running_loop().create_task(self._execute(self, task))
        self._runner.add_done_callback(self._advance)

    def fail_all(self, error: BaseException) -> list:
        """Shutdown / deletion: queued calls fail with `error`; returns them."""
        pending = []
        while self._run:  # popped one by one: the worker pops concurrently
            try:
                pending.append(self._run.popleft())
            except IndexError:
                break
        pending += list(self._queue) + list(self._held.values())
        self._queue.clear()
        self._held.clear()
        for task in pending:
            task.cancelled = True
            if task.done is not None and not task.done.done():
                task.done.set_result(("error", error))
            task.relay.close()
        return pending


async def run_agent_method(
    loop: asyncio.AbstractEventLoop,
    pool: Any,
    func: Callable[..., Any],
    task: CallTask,
) -> Any:
    """Run `func(*args, **kwargs)` with the call's relay bound as speech sink."""
    ctx = contextvars.copy_context()

    def bound() -> Any:
        with speech.bind_sinks(task.relay, replace=True):
            return func(*task.args, **task.kwargs)

    if inspect.iscoroutinefunction(func):

        async def bound_async() -> Any:
            with speech.bind_sinks(task.relay, replace=True):
                return await func(*task.args, **task.kwargs)

        return await loop.create_task(bound_async(), context=ctx)
    if task.cancelled:
        raise StreamCancelledError("cancelled before it started")
    return await loop.run_in_executor(pool, ctx.run, bound)
