"""Runs of queued synchronous calls to one actor, on one worker thread.

A blocking `reply` must run on the thread pool, never on the loop.  Handing
each call to the pool costs two thread wake-ups (loop -> worker -> loop);
with a backlog of small calls on one agent that hop, not the calls, caps
the throughput.  `SyncBatch` hands the actor's queued synchronous calls to
one worker job that runs them one after another (the actor's FIFO order,
one at a time, as before) and posts each outcome back as soon as it is
known; posts that pile up while the loop is busy are handled by one
wake-up.  Async methods, and calls still waiting for a placeholder, take
the ordinary path (`AgentHost._execute`).
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections import deque
from typing import Any, Callable, Optional

from .. import speech
from ..exception import StreamCancelledError
from ..rpc import codec
from ..rpc._proto import agent_server_pb2 as pb
from ..rpc.placeholder import AsyncResult, resolve_placeholders
from .actor import CallTask


class SyncBatch:
    """Runs of synchronous calls for the actors of one `AgentHost`."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._posted: list = []  # (task, outcome | None, on_end | None, tasks lost | None)
        self._scheduled = False

    def accepts(self, agent: Any, task: CallTask) -> bool:
        """Can this call run in a batch (sync method, placeholders ready)?"""
        if task.cancelled or any(not p.done() for p in task.refs):
            return False
        func = getattr(agent, task.method, None)
        return func is not None and not inspect.iscoroutinefunction(func)

    def start(self, agent: Any, tasks: deque, on_end: Callable[[], None]) -> None:
        """Run `tasks` in order on one worker thread; `on_end()` runs on the loop after.

        The worker pops each task just before running it, so whoever empties
        `tasks` meanwhile (the actor's `fail_all`) takes exactly the calls
        that have not started.
        """
        self.host.running_calls += 1  # an actor runs one call at a time

        def end() -> None:
            self.host.running_calls -= 1
            on_end()

        def job() -> None:
            try:
                while True:
                    try:
                        task = tasks.popleft()
                    except IndexError:
                        return
                    self._post(task, self._run_one(agent, task), None)
            finally:
                self._post(None, None, end)

        try:
            future = self.host.pool.submit(job)
        except RuntimeError as err:  # the pool is shut down: the server is stopping
            for task in tasks:
                self._finish(task, ("error", codec.error_to_pb(err)))
            end()
            return
        future.add_done_callback(lambda f: f.cancelled() and self._post(None, None, end, list(tasks)))

    # -- worker thread ---------------------------------------------------------
    @staticmethod
    def _run_one(agent: Any, task: CallTask) -> tuple:
        """What `AgentHost._execute` does for a sync method, minus the awaits."""
        try:
            if task.cancelled:
                raise StreamCancelledError(f"task {task.task_id} was cancelled before it ran")
            if task.refs:  # all resolved already (see accepts)
                task.args = resolve_placeholders(task.args)
                task.kwargs = resolve_placeholders(task.kwargs)
            func = getattr(agent, task.method)
            value = contextvars.Context().run(_bound, func, task)
            if isinstance(value, AsyncResult):  # a reply that returned a placeholder
                value = value.result()
            return ("result", codec.encode(value))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # pylint: disable=broad-except
            return ("error", codec.error_to_pb(err))

    def _post(self, task: Optional[CallTask], outcome: Optional[tuple],
              finished: Optional[Callable[[], None]], failed: Optional[list] = None) -> None:
        with self._lock:
            self._posted.append((task, outcome, finished, failed))
            if self._scheduled:
                return
            self._scheduled = True
        self.host.loop.call_soon_threadsafe(self._flush)

    # -- loop --------------------------------------------------------------------
    def _flush(self) -> None:
        with self._lock:
            posted, self._posted = self._posted, []
            self._scheduled = False
        for task, outcome, finished, failed in posted:
            if task is not None:
                self._finish(task, outcome)
            for lost in failed or ():  # the job was cancelled before it ran (shutdown)
                if not lost.done.done():
                    self._finish(lost, ("error", codec.error_to_pb(StreamCancelledError("server stopping"))))
            if finished is not None:
                finished()

    def _finish(self, task: CallTask, outcome: tuple) -> None:
        kind, value = outcome
        reply = pb.FetchReply(result=value) if kind == "result" else pb.FetchReply(error=value)
        self.host.results.finish(task.task_id, reply)
        task.relay.close()
        if task.done is not None and not task.done.done():
            task.done.set_result(outcome)


def _bound(func: Any, task: CallTask) -> Any:
    with speech.bind_sinks(task.relay, replace=True):
        return func(*task.args, **task.kwargs)
