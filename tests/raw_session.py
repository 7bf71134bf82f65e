"""The raw `Session` stream of tests/raw_wire.py, and how a raw request ended (`Outcome`).

`RawSession(target)` opens one Session stream: `send(calls=[...],
fetches=[...], ...)` writes a frame, a reader thread files each returned
event under its correlation id (a call's task id, a creation's or fetch's
id), and `wait(id, timeout)` returns that request's `Outcome`.

Two wire formats are spoken, whichever the generated proto holds:
`NEW_WIRE` (issue 10: `ClientFrame`/`ServerFrame` of items — create, call,
fetch, cancel, define, credit, release, part — answered by `Event`s keyed by
request id) or the earlier one (`SessionRequest` batches answered by
`TaskEvent`s).
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import grpc

from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb

_STATUS = {code.value[0]: code for code in grpc.StatusCode}
NEW_WIRE = hasattr(pb, "ClientFrame")


@dataclass
class Outcome:
    """How one raw request ended."""

    status: Optional[grpc.StatusCode] = None  # None: answered (see result/error/created/reply)
    details: str = ""
    result: Optional[pb.Payload] = None
    error: Optional[pb.RemoteError] = None
    created: Optional[pb.CreateAgentReply] = None
    reply: Any = None  # a unary RPC's answer
    speak_chunks: int = 0
    answered: bool = False  # a terminal event or status arrived

    @property
    def ok(self) -> bool:
        """The request succeeded: an answer, a result or a created agent; no error."""
        return self.status is None and self.error is None and self.answered

    @property
    def refused(self) -> bool:
        """The server said no: a non-OK status or an error event."""
        return self.status is not None or self.error is not None

    def value(self) -> Any:
        """The decoded result payload."""
        assert self.result is not None, self
        return codec.decode(self.result)

    def __str__(self) -> str:
        if self.status is not None:
            return f"status {self.status.name}: {self.details[:300]}"
        if self.error is not None:
            return f"error {self.error.type}: {self.error.message[:300]}"
        return f"ok (result={self.result is not None}, created={self.created is not None})"


def from_rpc_error(err: grpc.RpcError) -> Outcome:
    """The Outcome of a request that failed with a gRPC status."""
    return Outcome(status=err.code(), details=err.details() or "", answered=True)


def apply_event(outcome: Outcome, event: Any) -> None:
    """Fold one event of a request (a CallEvent, or a new-wire Event) into its Outcome."""
    kind = event.WhichOneof("event")
    if kind == "speak":
        batch = event.speak
        outcome.speak_chunks += len(batch.deltas if NEW_WIRE else batch.chunks)
    elif kind == "result":
        outcome.result, outcome.answered = event.result, True
    elif kind == "error":
        outcome.error, outcome.answered = event.error, True
    elif kind == "refused":
        outcome.status = _STATUS.get(event.refused.code, grpc.StatusCode.UNKNOWN)
        outcome.details, outcome.answered = event.refused.details, True
    elif kind == "created":
        outcome.created, outcome.answered = event.created, True


_END = object()


class RawSession:
    """One raw `Session` stream: send frames, collect events per correlation id."""

    def __init__(self, target: Any, timeout: float = 60.0) -> None:
        self._requests: "queue.Queue[Any]" = queue.Queue()
        self._lock = threading.Condition()
        self._events: dict = {}  # id -> Outcome
        self._parts: dict = {}  # request id -> bytes of an item arriving in parts (new wire)
        self.final: Optional[Outcome] = None  # how the stream itself ended
        self._stream = target.stub().Session(iter(self._requests.get, _END), metadata=target.metadata,
                                             timeout=timeout)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def send(self, calls: tuple = (), fetches: tuple = (), creates: tuple = (), cancel: tuple = (),
             defines: tuple = (), release: tuple = ()) -> None:
        """One frame carrying these requests (messages made by tests/raw_wire.py), in this order:
        definitions, creations, calls, fetches, cancellations (task ids), and — new wire only —
        the release of results received and never handed on (task ids), as a real client sends."""
        if not NEW_WIRE:
            if calls or fetches or creates or cancel:
                self._requests.put(pb.SessionRequest(calls=calls, fetches=fetches, creates=creates, cancel=cancel))
            return
        items = [pb.ClientItem(define=d) for d in defines] + [pb.ClientItem(create=c) for c in creates]
        items += [pb.ClientItem(call=c) for c in calls] + [pb.ClientItem(fetch=f) for f in fetches]
        items += [pb.ClientItem(cancel=task_id) for task_id in cancel]
        if release:
            items.append(pb.ClientItem(release=pb.Release(task_ids=list(release))))
        self._requests.put(pb.ClientFrame(items=items))

    def _read(self) -> None:
        final = Outcome(answered=True)
        try:
            for reply in self._stream:
                with self._lock:
                    if NEW_WIRE:
                        for item in reply.items:
                            self._note_item(item)
                    else:
                        for event in reply.events:
                            self._note(event)
                    self._lock.notify_all()
        except grpc.RpcError as err:
            final = from_rpc_error(err)
        with self._lock:
            self.final = final
            self._lock.notify_all()

    def _note(self, event: pb.TaskEvent) -> None:
        outcome = self._events.setdefault(event.task_id, Outcome())
        if event.status:
            outcome.status = _STATUS[event.status]
            outcome.details = event.details
            outcome.answered = True
        elif event.HasField("created"):
            outcome.created, outcome.answered = event.created, True
        elif event.HasField("event"):
            apply_event(outcome, event.event)

    def _note_item(self, item: Any) -> None:
        kind = item.WhichOneof("item")
        if kind == "event":
            apply_event(self._events.setdefault(item.event.request_id, Outcome()), item.event)
        elif kind == "part":  # a large item in parts: reassemble, then note it
            part = item.part
            data = self._parts.pop(part.request_id, b"") + part.data
            if part.last:
                self._note_item(pb.ServerItem.FromString(data))
            else:
                self._parts[part.request_id] = data

    def wait(self, ident: str, timeout: float) -> Outcome:
        """The outcome for a call's task id (or a creation's / fetch's id)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                outcome = self._events.get(ident)
                if outcome is not None and outcome.answered:
                    return outcome
                if self.final is not None:  # the stream ended: its status answers what is left
                    return self.final if self.final.status is not None else Outcome(
                        status=grpc.StatusCode.ABORTED, details="session ended without an answer", answered=True)
                left = deadline - time.monotonic()
                if left <= 0:
                    return Outcome(status=grpc.StatusCode.DEADLINE_EXCEEDED, details="no answer in time")
                self._lock.wait(left)

    def close(self) -> None:
        """Half-close: the server ends the stream once everything is answered."""
        self._requests.put(_END)

    def cancel(self) -> None:
        """Abort the stream at once (as a client that goes away)."""
        self._stream.cancel()
