"""The raw `Session` stream of tests/raw_wire.py, and how a raw request ended (`Outcome`).

`RawSession(target)` opens one Session stream: `send(calls=[...],
fetches=[...], ...)` writes a frame, a reader thread files each returned
event under its correlation id (a call's task id, a creation's or fetch's
id), and `wait(id, timeout)` returns that request's `Outcome`.
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


def apply_event(outcome: Outcome, event: pb.CallEvent) -> None:
    """Fold one CallEvent of a call into its Outcome."""
    kind = event.WhichOneof("event")
    if kind == "speak":
        outcome.speak_chunks += len(event.speak.chunks)
    elif kind == "result":
        outcome.result, outcome.answered = event.result, True
    elif kind == "error":
        outcome.error, outcome.answered = event.error, True


_END = object()


class RawSession:
    """One raw `Session` stream: send frames, collect events per correlation id."""

    def __init__(self, target: Target, timeout: float = 60.0) -> None:
        self._requests: "queue.Queue[Any]" = queue.Queue()
        self._lock = threading.Condition()
        self._events: dict = {}  # id -> Outcome
        self.final: Optional[Outcome] = None  # how the stream itself ended
        self._stream = target.stub().Session(iter(self._requests.get, _END), metadata=target.metadata,
                                             timeout=timeout)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def send(self, **frame: Any) -> None:
        """One SessionRequest frame: calls=[...], cancel=[...], creates=[...], fetches=[...]."""
        self._requests.put(pb.SessionRequest(**frame))

    def _read(self) -> None:
        final = Outcome(answered=True)
        try:
            for reply in self._stream:
                with self._lock:
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
