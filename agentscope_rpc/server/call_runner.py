"""How one call runs on a server — the one place that turns a call into an outcome.

`run_call` (a worker thread) and `run_call_async` (the loop) resolve the
call's placeholders, bind the call's relay as speech sink and the server's
runtime as current, run the method, and encode what it returned: a
("result", Payload) or ("error", RemoteError) outcome.  Any exception the
agent raises — `SystemExit` and other `BaseException`s included — fails its
call, never the server.

`Executor` runs the synchronous work of actors on at most `capacity`
threads: an actor hands it a *run* (its queued jobs, which the worker takes
one after another, so a backlog of small calls to one agent costs one
hand-off) and it posts the outcomes back to the loop in batches.
"""
from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .. import runtime as runtime_mod
from .. import speech
from ..exception import StreamCancelledError
from ..rpc import codec
from ..rpc.placeholder import AsyncResult, resolve_placeholders

Outcome = tuple  # ("result", pb.Payload) | ("error", pb.RemoteError)


@dataclass(eq=False)
class Call:
    """One call queued on an actor."""

    task_id: str
    method: str
    args: tuple
    kwargs: dict
    relay: Any  # the call's CallRelay
    refs: list = field(default_factory=list)  # placeholders in the arguments, fetched before it runs
    on_outcome: Optional[Callable[["Call", Outcome], None]] = None  # on the loop
    cancelled: bool = False

    def ready(self) -> bool:
        return all(p.done() for p in self.refs)


def _failure(error: BaseException) -> Outcome:
    return ("error", codec.error_to_pb(error))


def _encode(value: Any, allow_pickle: bool) -> Outcome:
    try:
        return ("result", codec.encode(value, allow_pickle))
    except Exception as err:  # pylint: disable=broad-except
        return _failure(TypeError(f"the reply cannot travel back: {err}"))


def run_call(agent: Any, call: Call, rt: Any, allow_pickle: bool = True) -> Outcome:
    """Run a synchronous method (on a worker thread)."""
    try:
        if call.cancelled:
            raise StreamCancelledError(f"task {call.task_id} was cancelled before it ran")
        args, kwargs = call.args, call.kwargs
        if call.refs:  # resolved already (the actor waits for them before running the call)
            args, kwargs = resolve_placeholders(args), resolve_placeholders(kwargs)
        func = getattr(agent, call.method)
        current, sinks = runtime_mod.enter(rt), speech.set_sinks((call.relay,))
        try:
            value = func(*args, **kwargs)
        finally:
            speech.reset_sinks(sinks)
            runtime_mod.leave(current)
        if isinstance(value, AsyncResult):  # a reply that returned a placeholder
            value = value.result()
        return _encode(value, allow_pickle)
    except BaseException as err:  # pylint: disable=broad-except  (SystemExit fails the call, not the server)
        return _failure(err)


async def run_call_async(agent: Any, call: Call, rt: Any, allow_pickle: bool = True) -> Outcome:
    """Run a coroutine method (on the loop, in a context of its own)."""
    try:
        if call.cancelled:
            raise StreamCancelledError(f"task {call.task_id} was cancelled before it ran")
        if call.refs:
            await asyncio.gather(*call.refs)
        args, kwargs = resolve_placeholders(call.args), resolve_placeholders(call.kwargs)
        func = getattr(agent, call.method)

        async def bound() -> tuple:
            # BaseExceptions are caught inside the task: asyncio re-raises a task's
            # SystemExit / KeyboardInterrupt out of the event loop, ending the server
            try:
                with runtime_mod.bound(rt), speech.bind_sinks(call.relay, replace=True):
                    value = await func(*args, **kwargs)
                if isinstance(value, AsyncResult):
                    value = await value
                return _encode(value, allow_pickle)
            except BaseException as err:  # pylint: disable=broad-except
                return _failure(err)

        return await asyncio.get_running_loop().create_task(bound(), context=contextvars.Context())
    except asyncio.CancelledError:
        return _failure(StreamCancelledError(f"task {call.task_id} cancelled"))
    except BaseException as err:  # pylint: disable=broad-except
        return _failure(err)


class Executor:
    """Worker threads for the synchronous work of one server's actors (see module docstring).

    Threads are added as the work needs them, up to `capacity`: a few at
    once, then — while jobs wait and no running job has finished for
    `STALL_S` (the workers are blocked: sleeping, waiting on a model) —
    twice as many each time.  Short jobs so get a few busy threads instead
    of hundreds contending for the interpreter, and blocking ones get as
    many threads as they need within milliseconds.
    """

    MIN_THREADS = 2
    STALL_S = 0.002  # a backlog with no job finished for this long adds threads (checked only while jobs wait)

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self.loop = loop
        self.capacity = capacity
        self._jobs: deque = deque()
        self._cond = threading.Condition(threading.Lock())
        self._threads = 0
        self._idle = 0
        self._finished = 0  # jobs finished so far (progress, seen by the backlog check)
        self._checking: Optional[asyncio.TimerHandle] = None
        self._posted: list = []
        self._post_lock = threading.Lock()
        self._flush_scheduled = False
        self._closed = False

    def start_run(self, run: deque, work: Callable[[Any], Any], on_outcome: Callable[[Any, Any], None],
                  on_end: Callable[[], None]) -> None:
        """On a worker: pop items of `run` one by one, post `on_outcome(item, work(item))`, then `on_end()`.

        Items are popped just before they run, so whoever empties `run`
        meanwhile (an actor failing its queue) takes exactly those not started.
        Called on the loop.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("the server is stopping")
            self._jobs.append((run, work, on_outcome, on_end))
            if self._idle:
                self._idle -= 1  # claimed now: a second job must not count on the same idle worker
                self._cond.notify()
                return
            if self._threads < min(self.MIN_THREADS, self.capacity):
                self._spawn(1)
                return
        if self._checking is None:
            self._checking = self.loop.call_later(self.STALL_S, self._check_backlog, self._finished)

    def _spawn(self, count: int) -> None:
        """(locked) Start `count` more workers."""
        for _ in range(count):
            self._threads += 1
            threading.Thread(target=self._work, name=f"agent-{self._threads}", daemon=True).start()

    def _check_backlog(self, finished_before: int) -> None:
        with self._cond:
            self._checking = None
            backlog = len(self._jobs) - self._idle
            if backlog <= 0 or self._closed:
                return
            if self._finished == finished_before and self._threads < self.capacity:
                self._spawn(min(backlog, max(self._threads, 1), self.capacity - self._threads))
            finished = self._finished
        self._checking = self.loop.call_later(self.STALL_S, self._check_backlog, finished)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._idle += 1  # whoever notifies us takes us off the idle count
                    self._cond.wait()
                if not self._jobs:
                    self._threads -= 1
                    return
                run, work, on_outcome, on_end = self._jobs.popleft()
            ctx = contextvars.Context()
            while True:
                try:
                    item = run.popleft()
                except IndexError:
                    break
                self._post(on_outcome, item, ctx.run(work, item))
            with self._cond:
                self._finished += 1
            self._post(on_end)

    def _post(self, func: Callable[..., None], *args: Any) -> None:
        with self._post_lock:
            self._posted.append((func, args))
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._flush)
        except RuntimeError:
            pass  # the loop is closed: the server has stopped

    def _flush(self) -> None:
        with self._post_lock:
            posted, self._posted = self._posted, []
            self._flush_scheduled = False
        for func, args in posted:
            func(*args)

    def close(self) -> None:
        """No new work; idle workers exit (running ones finish their job)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class ActorRunner:
    """The `actor.Runner` of one server: its executor, loop and runtime."""

    def __init__(self, executor: Executor, rt: Any, allow_pickle: bool = True) -> None:
        self.executor = executor
        self.loop = executor.loop
        self.runtime = rt
        self.allow_pickle = allow_pickle
        self.running = 0  # jobs running now (the server's idle check)
        self.idle: Optional[asyncio.Event] = None
        self._async_kinds: dict = {}  # (class, method) -> is a coroutine function

    def _started(self) -> None:
        self.running += 1
        if self.idle is not None:
            self.idle.clear()

    def _ended(self) -> None:
        self.running -= 1
        if self.running == 0 and self.idle is not None:
            self.idle.set()

    def is_async(self, obj: Any, call: Call) -> bool:
        key = (type(obj), call.method)
        kind = self._async_kinds.get(key)
        if kind is None:
            func = getattr(obj, call.method, None)
            kind = self._async_kinds[key] = asyncio.iscoroutinefunction(func) or \
                asyncio.iscoroutinefunction(getattr(func, "__wrapped__", None))
        return kind

    def run_sync(self, actor: Any, jobs: deque, on_end: Callable[[], None]) -> None:
        def work(job: Any) -> Any:
            if isinstance(job, Call):
                return run_call(actor.obj, job, self.runtime, self.allow_pickle)
            try:  # a Construction
                with runtime_mod.bound(self.runtime):
                    return (job.build(), None)
            except BaseException as err:  # pylint: disable=broad-except  (SystemExit in a constructor too)
                return (None, err)

        def outcome(job: Any, result: Any) -> None:
            if isinstance(job, Call):
                job.on_outcome(job, result)
            else:
                actor.built(*result)
                job.on_built(actor, *result)

        def end() -> None:
            self._ended()
            on_end()

        self._started()
        try:
            self.executor.start_run(jobs, work, outcome, end)
        except RuntimeError as err:  # the server is stopping
            for job in list(jobs):
                if isinstance(job, Call):
                    job.on_outcome(job, _failure(err))
            jobs.clear()
            end()

    def run_async(self, actor: Any, call: Call, on_end: Callable[[], None]) -> None:
        self._started()
        task = self.loop.create_task(run_call_async(actor.obj, call, self.runtime, self.allow_pickle))

        def done(_task: asyncio.Task) -> None:
            call.on_outcome(call, task.result())
            self._ended()
            on_end()

        task.add_done_callback(done)

    def when_ready(self, call: Call, then: Callable[[], None]) -> None:
        pending = [p for p in call.refs if not p.done()]
        if not pending:
            self.loop.call_soon(then)
            return
        left = [len(pending)]

        def one_done(_placeholder: Any) -> None:
            left[0] -= 1
            if left[0] == 0:
                self.loop.call_soon_threadsafe(then)

        for placeholder in pending:
            placeholder._start_fetch()  # pylint: disable=protected-access
            placeholder.add_done_callback(one_done)

    @staticmethod
    def fail(call: Call, error: BaseException) -> None:
        """A call that will never run (deleted agent, failed construction, shutdown): refused."""
        call.cancelled = True
        call.on_outcome(call, ("refused", codec.refusal(error)))
