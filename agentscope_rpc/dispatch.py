"""`Dispatcher`: ordered delivery of relayed events off the event loop.

Jobs carry a *lane* key.  Jobs of one lane run one at a time, in the order
they were dispatched, so one consumer's events reach its hooks and sinks in
order; different lanes run on different threads, so a stuck consumer holds
up only its own lane.  Called on the loop; each job's result comes back as an
asyncio future.
"""
from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections import deque
from typing import Any, Callable, Hashable

THREADS = 8  # lanes that may run at once


class Dispatcher:
    """See the module docstring."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pool: "_DaemonPool | None" = None
        self._lanes: dict = {}  # key -> deque of pending jobs (its head is running)

    def dispatch(self, key: Hashable, func: Callable[..., Any], *args: Any) -> "asyncio.Future":
        """Run `func(*args)` off the loop, after earlier jobs of the same `key`.

        Called on the loop; returns an asyncio future of the result.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
            lane.append((func, args, future))
            self._run_lane(key, lane)
        else:
            lane.append((func, args, future))
        return future

    def _run_lane(self, key: Hashable, lane: deque) -> None:
        pool = self._pool
        if pool is None:
            pool = self._pool = _DaemonPool(THREADS, self._name)
        func, args, future = lane[0]
        loop = future.get_loop()
        ctx = contextvars.copy_context()

        def job() -> None:
            try:
                value, error = ctx.run(func, *args), None
            except BaseException as err:  # pylint: disable=broad-except
                value, error = None, err
            try:
                loop.call_soon_threadsafe(self._lane_done, key, lane, value, error)
            except RuntimeError:
                pass  # the loop is closed: the runtime is gone

        pool.submit(job)

    def _lane_done(self, key: Hashable, lane: deque, value: Any, error: Optional[BaseException]) -> None:
        _, _, future = lane.popleft()
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        if lane:
            self._run_lane(key, lane)
        else:
            del self._lanes[key]

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


class _DaemonPool:
    """A few daemon threads running jobs from one queue.

    Not a ThreadPoolExecutor: those refuse new work once interpreter exit
    begins, and the exit drain still needs the dispatcher.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: "queue.SimpleQueue" = queue.SimpleQueue()
        self._threads: list = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)
        with self._lock:
            if self._idle == 0 and len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
            if job is None:
                return
            job()

    def shutdown(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
