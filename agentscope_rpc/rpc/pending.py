"""What a `ClientSession` keeps for each request it sent until the server answers it.

A `PendingCall` (its events, timeout, the placeholders it must wait for), a
`PendingCreate` (the proxy's readiness future and the definitions it needs
sent first) and a `PendingFetch` (the placeholder it fills).  Each holds its
request already serialized as a `ClientItem`, so a resend costs nothing.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from ._proto import agent_server_pb2 as pb
from .call_events import CallEvents


class PendingCall:
    """One call in flight; `item` is its serialized `ClientItem`, made by the caller's thread."""

    __slots__ = ("request_id", "item", "events", "timeout", "timer", "lane_used", "session", "attempt", "held",
                 "method")

    def __init__(self, request_id: str, item: bytes, events: CallEvents, timeout: Optional[float],
                 method: str = "") -> None:
        self.request_id = request_id
        self.method = method
        self.item = item
        self.events = events
        self.timeout = timeout
        self.timer: Optional[asyncio.TimerHandle] = None
        self.lane_used = events.on_result is not None  # outcome goes through the lane
        self.session: Any = None  # the ClientSession it went out on
        self.attempt = 0  # sends that never reached a server (see ClientSession._die)
        self.held: Optional[list] = None  # events held back until the calls it depends on settle (gate)

    def describe(self) -> str:
        """What this request is, for a person (the exit warning)."""
        return f"{self.method or 'a call'} of {self.events.agent_id} (task {self.request_id})"

    def hold_until(self, deps: list, runtime: Any) -> None:
        """Hold this call's events until `deps` (placeholders of calls made here) have settled.

        A call given another call's placeholder runs after it (its server
        fetches the value); holding its events until the first call settled
        here keeps what reaches hooks and streams in causal order, although
        the two travel on different connections.
        """
        left = [p for p in deps if not p.done()]
        if not left:
            return
        self.held = []
        count = [len(left)]

        def one_done(_placeholder: Any) -> None:
            count[0] -= 1
            if count[0] == 0:
                runtime.call_soon(self._open)

        for placeholder in left:
            placeholder.add_done_callback(one_done)

    def _open(self) -> None:
        if self.session is not None:
            self.session.open_gate(self)
        else:
            self.held = None

    def cancel(self) -> None:
        """The placeholder's handle: abandon the call (from any thread)."""
        session = self.session
        if session is not None:
            session.cancel(self.request_id)


class PendingCreate:
    """One creation in flight; `ready` is settled with its `Created` reply or its error."""

    __slots__ = ("request_id", "agent_id", "item", "ready", "defines", "attempt")

    def __init__(self, request: pb.CreateRequest, ready: Any, defines: tuple) -> None:
        self.request_id = request.request_id
        self.agent_id = request.agent_id
        self.item = pb.ClientItem(create=request).SerializeToString()
        self.ready = ready
        self.defines = defines  # (kind, digest, data) blobs it refers to
        self.attempt = 0

    def describe(self) -> str:
        return f"the creation of {self.agent_id}"


class PendingFetch:
    """One fetch of a result by task id; settles `placeholder`."""

    __slots__ = ("request_id", "task_id", "item", "placeholder", "attempt")

    def __init__(self, request: pb.FetchRequest, placeholder: Any) -> None:
        self.request_id = request.request_id
        self.task_id = request.task_id
        self.item = pb.ClientItem(fetch=request).SerializeToString()
        self.placeholder = placeholder
        self.attempt = 0

    def describe(self) -> str:
        return f"a fetch of task {self.task_id}"
