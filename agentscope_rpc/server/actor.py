"""Actors: one hosted object, one FIFO mailbox.

The mailbox holds the object's construction first, then its calls, in the
order they arrived on the server (one ordered session stream per caller, so
in the order each caller made them).  Jobs run one at a time: a call whose
arguments hold placeholders waits for them (fetched meanwhile) and the calls
behind it wait too; synchronous work goes to the runner's worker threads —
the queued synchronous calls as one run — and coroutine methods run on the
loop.  If the construction fails, every call queued behind it fails with
that error.  An idle actor holds no task and no thread.

The actor sees only a narrow `Runner` (see `call_runner.ActorRunner`).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Optional, Protocol

from ..exception import AgentCreationError

MAX_RUN = 64  # queued synchronous calls handed to one worker at most


class Runner(Protocol):
    """What an actor needs to run its jobs."""

    def run_sync(self, actor: "Actor", jobs: deque, on_end: Callable[[], None]) -> None: ...
    def run_async(self, actor: "Actor", call: Any, on_end: Callable[[], None]) -> None: ...
    def is_async(self, obj: Any, call: Any) -> bool: ...
    def when_ready(self, call: Any, then: Callable[[], None]) -> None: ...
    def fail(self, call: Any, error: BaseException) -> None: ...


class Construction:
    """The first job of an actor: build its object."""

    __slots__ = ("build", "on_built")

    def __init__(self, build: Callable[[], Any], on_built: Callable[["Actor", Any, Optional[BaseException]], None]):
        self.build = build  # runs on a worker thread
        self.on_built = on_built  # (actor, obj, error) on the loop


class Actor:
    """See the module docstring."""

    __slots__ = ("agent_id", "obj", "error", "_queue", "_busy", "_runner", "_current")

    def __init__(self, agent_id: str, runner: Runner) -> None:
        self.agent_id = agent_id
        self.obj: Any = None  # set once constructed
        self.error: Optional[BaseException] = None  # the construction failed
        self._queue: deque = deque()
        self._busy = False
        self._runner = runner
        self._current: deque = deque()  # the run handed to a worker (it pops from it)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._current)

    def submit(self, job: Any) -> None:
        self._queue.append(job)
        if not self._busy:
            self._advance()

    def _advance(self) -> None:
        """Start the next job, or go idle (on the loop)."""
        queue = self._queue
        if not queue:
            self._busy = False
            return
        self._busy = True
        head = queue[0]
        if isinstance(head, Construction):
            queue.popleft()
            self._current = deque([head])
            self._runner.run_sync(self, self._current, self._advance)
            return
        if self.error is not None:
            self.fail_all(AgentCreationError(f"{self.agent_id} could not be created: {self.error}"))
            self._busy = False
            return
        if not head.ready():
            self._runner.when_ready(head, self._advance)
            return
        runner, obj = self._runner, self.obj
        if runner.is_async(obj, head):
            queue.popleft()
            runner.run_async(self, head, self._advance)
            return
        run = self._current = deque()
        while queue and len(run) < MAX_RUN and not isinstance(queue[0], Construction) \
                and queue[0].ready() and not runner.is_async(obj, queue[0]):
            run.append(queue.popleft())
        runner.run_sync(self, run, self._advance)

    def built(self, obj: Any, error: Optional[BaseException]) -> None:
        """The construction's outcome (on the loop)."""
        self.obj, self.error = obj, error

    def fail_all(self, error: BaseException) -> list:
        """Deletion / shutdown / failed construction: queued calls fail with `error`; returns them."""
        failed = []
        unbuilt = []  # a construction no worker has started: it fails too (its creator is waiting)
        for jobs in (self._current, self._queue):
            while jobs:  # popped one by one: a worker may pop the current run concurrently
                try:
                    job = jobs.popleft()
                except IndexError:
                    break
                (unbuilt if isinstance(job, Construction) else failed).append(job)
        for construction in unbuilt:
            self.built(None, error)
            construction.on_built(self, None, error)
        for call in failed:
            self._runner.fail(call, error)
        return failed
