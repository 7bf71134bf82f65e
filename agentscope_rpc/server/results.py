"""Results of calls, kept so that placeholders can be read later.

A result is kept `ttl` seconds after it was produced or last fetched, and at
most `max_items` finished results are kept (oldest dropped first).  A fetch
for a task the server has not seen yet waits `unknown_grace` seconds for it
to arrive (the call and the fetch travel on different connections).
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Optional

from ..exception import AgentNotFoundError, ResultExpiredError
from ..rpc._proto import agent_server_pb2 as pb


class ResultStore:
    """task id -> future of a FetchReply, on the server's loop."""

    def __init__(self, ttl: float, max_items: int, unknown_grace: float) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.unknown_grace = unknown_grace
        self._pending: dict[str, asyncio.Future] = {}
        self._arrived: set[str] = set()  # pending tasks whose call reached this server
        self._done: "OrderedDict[str, tuple[pb.FetchReply, float]]" = OrderedDict()
        self._expired = 0

    def __len__(self) -> int:
        return len(self._done)

    def expect(self, task_id: str) -> None:
        if task_id not in self._done:
            self._arrived.add(task_id)
            if task_id not in self._pending:
                self._pending[task_id] = asyncio.get_running_loop().create_future()

    def known(self, task_id: str) -> bool:
        return task_id in self._pending or task_id in self._done

    def finished(self, task_id: str) -> bool:
        return task_id in self._done

    def finish(self, task_id: str, reply: pb.FetchReply) -> None:
        future = self._pending.pop(task_id, None)
        self._arrived.discard(task_id)
        if future is not None and not future.done():
            future.set_result(reply)
        self._done[task_id] = (reply, time.monotonic() + self.ttl)
        self._evict()

    def _evict(self) -> None:
        now = time.monotonic()
        while self._done:
            task_id, (_, expires) = next(iter(self._done.items()))
            if expires > now and len(self._done) <= self.max_items:
                break
            del self._done[task_id]
            self._expired += 1

    async def fetch(self, task_id: str) -> pb.FetchReply:
        entry = self._done.get(task_id)
        if entry is not None:
            self._done[task_id] = (entry[0], time.monotonic() + self.ttl)
            self._done.move_to_end(task_id)
            return entry[0]
        future = self._pending.get(task_id)
        if future is None:
            # not seen yet: the call may still be on its way
            future = self._pending[task_id] = asyncio.get_running_loop().create_future()
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.unknown_grace)
            except asyncio.TimeoutError:
                if task_id in self._arrived:  # the call came in the meantime: wait for it
                    return await asyncio.shield(future)
                if not future.done():
                    self._pending.pop(task_id, None)
                    if self._expired:
                        raise ResultExpiredError(
                            f"result of task {task_id} is unknown or no longer kept",
                        ) from None
                    raise AgentNotFoundError(f"no task {task_id} on this server") from None
        return await asyncio.shield(future)

    def drop_pending(self, task_id: str, reply: Optional[pb.FetchReply]) -> None:
        """A task that will never run (cancelled, shut down) fails its readers."""
        future = self._pending.pop(task_id, None)
        self._arrived.discard(task_id)
        if future is not None and not future.done() and reply is not None:
            future.set_result(reply)

    def fail_all_pending(self, reply: pb.FetchReply) -> None:
        for task_id in list(self._pending):
            self.drop_pending(task_id, reply)
