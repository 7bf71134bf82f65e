"""Actors for the sync-stack prototype (variant b): the thread that finds an actor idle runs its step.

`InlineActor.submit(job)` returns True when the actor was idle: the calling
thread (a gRPC handler or session reader) then runs the job itself — no
hand-off to a worker — and calls `finish()`.  A job for a busy actor waits
in its FIFO mailbox; `finish()` hands what queued up meanwhile to a
`WorkerPool` thread as one run, so a handler thread is never kept busy by
other callers' backlog.

`step()` is the actor step itself: decode the arguments (codec), run the
method on the agent object (its hooks included, as `getattr(agent, "reply")`
is on the real server), encode the value or the error (codec).

Compared with `agentscope_rpc/server/call_runner.py` it leaves out binding
the server's runtime and the call's speech relay (context variables, a few
microseconds), placeholders in the arguments (fetched before the call runs),
cancellation and the result store (results kept for fetches until released).
None is on the path of a tiny no-speech call; the result store is a dict
insert and a delete.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.rpc.placeholder import AsyncResult

MAX_RUN = 64  # queued jobs one worker takes from an actor before it lets others go first


def step(agent: Any, request: pb.CallRequest, allow_pickle: bool = True) -> pb.Event:
    """Run one call on `agent`; its outcome as an `Event` (result or error)."""
    try:
        method = request.method
        if not method or method.startswith("_"):
            raise PermissionError(f"method {method!r} is private")
        args, kwargs = codec.decode_args(request.args, None, allow_pickle)
        value = getattr(agent, method)(*args, **kwargs)
        if isinstance(value, AsyncResult):
            value = value.result()
        try:
            payload = codec.encode(value, allow_pickle)
        except Exception as err:  # pylint: disable=broad-except
            raise TypeError(f"the reply cannot travel back: {err}") from err
        return pb.Event(request_id=request.task_id, result=payload)
    except BaseException as err:  # pylint: disable=broad-except  (SystemExit fails the call, not the server)
        return pb.Event(request_id=request.task_id, error=codec.error_to_pb(err))


class Job:
    """One call queued on an actor; `deliver(event)` is told its outcome (on the thread that ran it)."""

    __slots__ = ("request", "deliver")

    def __init__(self, request: pb.CallRequest, deliver: Callable[[pb.Event], None]) -> None:
        self.request = request
        self.deliver = deliver


class WorkerPool:
    """Threads for runs that no caller's thread can take; grows to `capacity`, idle threads wait."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._work: deque = deque()
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0
        self._closed = False

    def submit(self, func: Callable[[], None]) -> None:
        """Run `func()` on a pool thread."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the server is stopping")
            self._work.append(func)
            if len(self._work) > self._idle and self._threads < self.capacity:
                self._threads += 1
                threading.Thread(target=self._loop, name=f"sync-worker-{self._threads}", daemon=True).start()
            else:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._work and not self._closed:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                if not self._work:
                    self._threads -= 1
                    return
                func = self._work.popleft()
            func()

    def close(self) -> None:
        """No new work; idle threads end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class InlineActor:
    """One hosted object with a FIFO mailbox (see module docstring)."""

    __slots__ = ("agent_id", "obj", "_lock", "_busy", "_queue", "_pool")

    def __init__(self, agent_id: str, obj: Any, pool: WorkerPool) -> None:
        self.agent_id = agent_id
        self.obj = obj
        self._lock = threading.Lock()
        self._busy = False
        self._queue: deque = deque()
        self._pool = pool

    def submit(self, job: Job) -> bool:
        """Queue `job`; True when the actor was idle and the caller must `run_here(job)` now."""
        with self._lock:
            if self._busy:
                self._queue.append(job)
                return False
            self._busy = True
            return True

    def run_here(self, job: Job) -> None:
        """Run a job `submit` handed back, then let the queued ones go on a worker."""
        try:
            job.deliver(step(self.obj, job.request))
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            if not self._queue:
                self._busy = False
                return
        self._pool.submit(self._drain)

    def _drain(self) -> None:
        for _ in range(MAX_RUN):
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                job = self._queue.popleft()
            job.deliver(step(self.obj, job.request))
        self._pool.submit(self._drain)  # others' runs go first; this actor stays busy

    def fail_all(self, error: BaseException) -> None:
        """The server stops: queued jobs fail with `error`."""
        with self._lock:
            jobs, self._queue = list(self._queue), deque()
        for job in jobs:
            job.deliver(pb.Event(request_id=job.request.task_id, error=codec.error_to_pb(error)))


def refusal_event(request_id: str, error: BaseException) -> pb.Event:
    """A request refused before it ran (unknown agent, bad request)."""
    return pb.Event(request_id=request_id, refused=codec.refusal(error))

