"""Outcomes of calls, kept while someone may still fetch them.

A call's outcome is kept from when it is produced until its caller
*releases* it (the caller got it on its own stream and never handed a
reference to it on) — usually within one frame — or, for a result the
caller did hand on, until `ttl` seconds pass.  Kept outcomes are bounded in
bytes (`max_bytes`) and number (`max_items`): past that the oldest go
first, and a late fetcher gets `ResultExpiredError`.  A fetch for a task this server has not seen yet
waits up to `unknown_grace` seconds for the call to arrive (the call and the
fetch travel on different connections); such waits are bounded in number.

Request ids that are running, kept, or were released recently are refused
for new calls, so a duplicated request never runs twice.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Optional

from ..exception import AgentNotFoundError, ResultExpiredError

RECENT_IDS = 65_536  # released task ids remembered to refuse duplicates
MAX_WAITING_FETCHES = 10_000  # fetches waiting for a task not seen yet
_ENTRY_OVERHEAD = 200  # bytes counted per kept outcome beyond its payload

# An outcome: ("result", pb.Payload) | ("error", pb.RemoteError) | ("refused", pb.Refused)
Outcome = tuple


class ResultStore:
    """task id -> outcome, on the server's loop (see module docstring)."""

    def __init__(self, ttl: float, max_bytes: int, unknown_grace: float, max_items: int = 1 << 62) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.unknown_grace = unknown_grace
        self._running: dict[str, Optional[list]] = {}  # task id -> fetchers waiting (futures) or None
        self._kept: "OrderedDict[str, tuple]" = OrderedDict()  # task id -> (outcome, size, expires)
        self._recent: set = set()  # released ids, in two generations of at most RECENT_IDS / 2
        self._older: set = set()
        self._unknown: dict[str, list] = {}  # task id not seen yet -> fetchers waiting
        self._waiting_unknown = 0
        self.bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._kept)

    def known(self, task_id: str) -> bool:
        return task_id in self._running or task_id in self._kept or task_id in self._recent or task_id in self._older

    # -- calls -------------------------------------------------------------------------
    def begin(self, task_id: str) -> None:
        """A call with this id starts; a reused id is refused (FileExistsError)."""
        if self.known(task_id):
            raise FileExistsError(f"request id {task_id} was already used; a call runs at most once")
        self._running[task_id] = self._unknown.pop(task_id, None)

    def finish(self, task_id: str, outcome: Outcome) -> None:
        waiters = self._running.pop(task_id, None)
        for future in waiters or ():
            if not future.done():
                future.set_result(outcome)
        size = outcome[1].ByteSize() + _ENTRY_OVERHEAD
        self._kept[task_id] = (outcome, size, time.monotonic() + self.ttl)
        self.bytes += size
        self._evict()

    def release(self, task_ids: list) -> None:
        """The caller received these outcomes and handed no reference on: forget them."""
        for task_id in task_ids:
            entry = self._kept.pop(task_id, None)
            if entry is not None:
                self.bytes -= entry[1]
                self._remember(task_id)

    def _remember(self, task_id: str) -> None:
        recent = self._recent
        recent.add(task_id)
        if len(recent) > RECENT_IDS // 2:  # the oldest generation is forgotten
            self._older, self._recent = recent, set()

    def _evict(self) -> None:
        now = time.monotonic()
        kept = self._kept
        while kept:
            task_id, (_, size, expires) = next(iter(kept.items()))
            if expires > now and self.bytes <= self.max_bytes and len(kept) <= self.max_items:
                break
            del kept[task_id]
            self.bytes -= size
            self.evicted += 1
            self._remember(task_id)

    # -- fetches -----------------------------------------------------------------------
    async def fetch(self, task_id: str) -> Outcome:
        """The outcome of `task_id`, waiting for it while it runs."""
        self._evict()
        entry = self._kept.get(task_id)
        if entry is not None:
            return entry[0]
        loop = asyncio.get_running_loop()
        if task_id in self._running:
            future = loop.create_future()
            waiters = self._running[task_id]
            if waiters is None:
                waiters = self._running[task_id] = []
            waiters.append(future)
            try:
                return await future
            finally:
                if not future.done() and task_id in self._running and future in (self._running[task_id] or ()):
                    self._running[task_id].remove(future)  # type: ignore[union-attr]
        if task_id in self._recent or task_id in self._older:
            raise ResultExpiredError(f"the result of task {task_id} is no longer kept")
        return await self._fetch_unknown(task_id, loop)

    async def _fetch_unknown(self, task_id: str, loop: asyncio.AbstractEventLoop) -> Outcome:
        if self._waiting_unknown >= MAX_WAITING_FETCHES:
            raise AgentNotFoundError(f"no task {task_id} on this server (too many fetches wait for unknown tasks)")
        future = loop.create_future()
        self._unknown.setdefault(task_id, []).append(future)
        self._waiting_unknown += 1
        try:
            done, _ = await asyncio.wait({future}, timeout=self.unknown_grace)
            if future in done:
                return future.result()
            if task_id in self._running:  # the call came in the meantime: wait for it with its fetchers
                return await future
            raise AgentNotFoundError(f"no task {task_id} on this server")
        finally:
            self._waiting_unknown -= 1
            waiting = self._unknown.get(task_id)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._unknown[task_id]

    def fail_pending(self, outcome: Outcome) -> None:
        """The server is stopping: every waiting fetcher gets `outcome`."""
        for waiters in list(self._running.values()) + list(self._unknown.values()):
            for future in waiters or ():
                if not future.done():
                    future.set_result(outcome)
