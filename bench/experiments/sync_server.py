"""Variant (b): an agent server on gRPC's synchronous stack.

    PYTHONPATH=. python -m bench.experiments.sync_server [--port 0] [--threads 512]

(token from AGENTSCOPE_RPC_TOKEN; prints ``PORT n``; exits when stdin closes)

Two transports on one server, both on the same wire types as the real one:

* ``CallUnary`` / ``CreateUnary`` (a `CallRequest` -> `Event`, unary): the
  gRPC handler thread runs the actor step itself when the actor is idle; a
  call to a busy actor waits in its mailbox and its handler thread waits for
  the outcome (`sync_actor`).  This is the variant the issue names.
* ``Session`` (the real bidirectional stream, `ClientFrame`/`ServerFrame`):
  the handler thread is the writer (grpc's sync server sends a stream's
  responses only from the thread that iterates the handler's generator);
  *reader* threads take turns reading frames (leader/follower: the one that
  holds the read lock reads).  A reader that gets a call to an idle actor
  hands the read lock to a waiting follower, runs the step itself, and
  queues the outcome for the writer; so a blocking reply never stops the
  session from reading, and other agents' calls still start.

What it leaves out compared with the real server (agentscope_rpc/server/),
and whether it matters for the speed of a tiny sequential call:
speech relays and per-call credit (not on a no-speech call's path), the
result store and fetches (a dict insert/delete per call), cancellation,
class shipping / `--agent-dir` / model configs (creation only), placeholders
in arguments, management RPCs, a graceful drain at stop, the part limit per
item.  None is essential to the latency measured.  It is *not* a candidate
as is: unary calls give up per-caller FIFO (concurrent RPCs race to their
actor) and hold one server thread per waiting call.
"""
from __future__ import annotations

import argparse
import hmac
import importlib
import os
import threading
import uuid
from concurrent import futures
from typing import Any, Iterator, Optional

import grpc

from agentscope_rpc.exception import AgentCreationError, AgentNotFoundError
from agentscope_rpc.rpc import codec
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb

from bench.experiments import _frames, _procs
from bench.experiments.sync_actor import InlineActor, Job, WorkerPool, refusal_event, step

SERVICE = "agentscope_rpc.AgentServer"
MAX_MESSAGE_BYTES = 32 << 20
MAX_READERS = 64  # reader threads per session at most (beyond: calls go to the worker pool)
SPARE_READERS = 2  # waiting readers a session keeps; more end
WAIT_POLL_S = 1.0  # a unary call waiting for a busy actor checks this often that its caller is still there
# Diagnostic switch, to measure what the session's thread structure costs (both unsafe: a blocking reply
# then stops the whole session): SYNC_SERVER_MODE=no-hand-off — the reader runs the step before a
# follower may read; single-thread — the handler thread reads, runs every step and writes (no other thread).
MODE = os.environ.get("SYNC_SERVER_MODE", "hand-off")


class SyncHost:
    """The agents of one prototype server and how they are built."""

    def __init__(self, token: str, pool_threads: int) -> None:
        self.token = token
        self.instance_id = uuid.uuid4().hex
        self.actors: dict[str, InlineActor] = {}
        self.pool = WorkerPool(pool_threads)
        self._lock = threading.Lock()

    def authorised(self, context: grpc.ServicerContext) -> bool:
        """Whether the caller presented this server's token (constant-time check)."""
        if not self.token:
            return True
        given = dict(context.invocation_metadata()).get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    def create(self, request: pb.CreateRequest) -> pb.Event:
        """Build the object on this thread (import path only); its `created` or `refused` event."""
        rid = request.request_id
        try:
            if "__main__" in request.module.split(".") or not request.module:
                raise AgentCreationError(f"class {request.class_name} has no importable module")
            obj: Any = importlib.import_module(request.module)
            for part in request.class_name.split("."):
                obj = getattr(obj, part)
            args, kwargs = codec.decode_args(request.init_args)
            agent = obj(*args, **kwargs)
            agent.agent_id = request.agent_id
        except BaseException as err:  # pylint: disable=broad-except
            return refusal_event(rid, err if isinstance(err, AgentCreationError) else AgentCreationError(
                f"cannot create {request.class_name}: {type(err).__name__}: {err}"))
        with self._lock:
            if request.agent_id in self.actors:
                return refusal_event(rid, AgentCreationError(f"agent id {request.agent_id} is taken"))
            self.actors[request.agent_id] = InlineActor(request.agent_id, agent, self.pool)
        return pb.Event(request_id=rid, created=pb.Created(
            agent_id=request.agent_id, name=str(getattr(agent, "name", "")), class_name=type(agent).__name__))

    def actor(self, agent_id: str) -> InlineActor:
        """The actor of `agent_id` (AgentNotFoundError if none)."""
        actor = self.actors.get(agent_id)
        if actor is None:
            raise AgentNotFoundError(f"no agent {agent_id!r} on this server")
        return actor

    # -- unary transport ---------------------------------------------------------------
    def call_unary(self, request: pb.CallRequest, context: grpc.ServicerContext) -> pb.Event:
        """`CallUnary`: run the step on this handler thread if the actor is idle, else wait for it."""
        if not self.authorised(context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid token is required")
        try:
            actor = self.actor(request.agent_id)
        except AgentNotFoundError as err:
            return refusal_event(request.task_id, err)
        outcome: list = []
        done = threading.Event()

        def deliver(event: pb.Event) -> None:
            outcome.append(event)
            done.set()

        job = Job(request, deliver)
        if actor.submit(job):
            actor.run_here(job)
            return outcome[0]
        while not done.wait(WAIT_POLL_S):
            if not context.is_active():
                return refusal_event(request.task_id, AgentNotFoundError("the caller went away"))
        return outcome[0]

    def create_unary(self, request: pb.CreateRequest, context: grpc.ServicerContext) -> pb.Event:
        """`CreateUnary`."""
        if not self.authorised(context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid token is required")
        return self.create(request)

    # -- session transport --------------------------------------------------------------
    def session(self, requests: Iterator[pb.ClientFrame], context: grpc.ServicerContext) -> Iterator[pb.ServerFrame]:
        """`Session`: the handler thread writes; reader threads read and run steps (module docstring)."""
        if not self.authorised(context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid token is required")
        if MODE == "single-thread":
            return self._single_thread_session(requests)
        session = SyncSession(self, requests)
        context.add_callback(session.closed)
        return session.responses()

    def _single_thread_session(self, requests: Iterator[pb.ClientFrame]) -> Iterator[pb.ServerFrame]:
        """Diagnostic (SYNC_SERVER_MODE=single-thread): no thread but the handler's; calls only."""
        yield pb.ServerFrame(items=[pb.ServerItem(hello=pb.Hello(
            instance_id=self.instance_id, max_request_bytes=MAX_MESSAGE_BYTES, version="sync-prototype"))]).SerializeToString()
        for frame in requests:
            events = []
            for item in frame.items:
                kind = item.WhichOneof("item")
                if kind == "call":
                    try:
                        events.append(step(self.actor(item.call.agent_id).obj, item.call))
                    except AgentNotFoundError as err:
                        events.append(refusal_event(item.call.task_id, err))
                elif kind == "create":
                    events.append(self.create(item.create))
            if events:
                yield pb.ServerFrame(items=[pb.ServerItem(event=e) for e in events]).SerializeToString()


class SyncSession:
    """One caller's Session stream on the sync server (see module docstring)."""

    def __init__(self, host: SyncHost, requests: Iterator[pb.ClientFrame]) -> None:
        self.host = host
        self._requests = requests
        self._read_lock = threading.Lock()  # leadership: its holder reads the next frame
        self._state = threading.Condition()
        self._out: list = []
        self._reading = True
        self._open = 0  # calls not answered yet
        self._ended = False  # the RPC is over (either side)
        self._followers = 0
        self._readers = 0
        self._reassembler = _frames.Reassembler(pb.ClientItem, MAX_MESSAGE_BYTES)

    def closed(self) -> None:
        """grpc: the RPC has ended."""
        with self._state:
            self._ended = True
            self._state.notify_all()

    def responses(self) -> Iterator[pb.ServerFrame]:
        """The handler's generator: the writer (runs on the gRPC handler thread)."""
        yield pb.ServerFrame(items=[pb.ServerItem(hello=pb.Hello(
            instance_id=self.host.instance_id, max_request_bytes=MAX_MESSAGE_BYTES, version="sync-prototype"))]).SerializeToString()
        self._add_reader()
        while True:
            with self._state:
                while not self._out and not self._ended and (self._reading or self._open):
                    self._state.wait()
                if not self._out:
                    return
                items, self._out = self._out, []
            for frame in _frames.pack(items, pb.ServerFrame):
                yield frame

    def _emit(self, event: pb.Event, answers_call: bool) -> None:
        with self._state:
            self._out.append(pb.ServerItem(event=event))
            if answers_call:
                self._open -= 1
            self._state.notify_all()

    def _deliver(self, event: pb.Event) -> None:
        self._emit(event, True)

    def _add_reader(self) -> None:
        with self._state:
            self._readers += 1
        threading.Thread(target=self._reader, name="sync-session-reader", daemon=True).start()

    def _reader(self) -> None:
        while True:
            with self._state:
                self._followers += 1
            with self._read_lock:
                with self._state:
                    self._followers -= 1
                    reading = self._reading and not self._ended
                if not reading:
                    break
                frame = self._next_frame()
                if frame is None:
                    with self._state:
                        self._reading = False
                        self._state.notify_all()
                    break
                mine = self._handle(frame)
                if mine is not None:  # someone must read while this thread runs the step
                    with self._state:
                        spawn = self._followers == 0 and self._readers < MAX_READERS
                        inline = spawn or self._followers > 0
                    if spawn:
                        self._add_reader()
                    if not inline:
                        self.host.pool.submit(lambda m=mine: m[0].run_here(m[1]))
                        mine = None
                    elif MODE == "no-hand-off":  # diagnostic only: the session reads nothing while the step runs
                        mine[0].run_here(mine[1])
                        mine = None
            if mine is not None:  # the read lock is released: a follower reads meanwhile
                mine[0].run_here(mine[1])
                with self._state:
                    if self._followers >= SPARE_READERS:
                        break
        with self._state:
            self._readers -= 1

    def _next_frame(self) -> Optional[pb.ClientFrame]:
        try:
            return next(self._requests)
        except StopIteration:
            return None
        except grpc.RpcError:
            return None

    def _handle(self, frame: pb.ClientFrame) -> Optional[tuple]:
        """Start the frame's requests; returns the (actor, job) this thread should run itself."""
        mine = None
        for item in frame.items:
            kind = item.WhichOneof("item")
            if kind == "part":
                try:
                    item = self._reassembler.feed(item.part)
                except _frames.PartTooLarge as err:
                    self._emit(refusal_event(err.request_id, err), False)
                    continue
                if item is None:
                    continue
                kind = item.WhichOneof("item")
            if kind == "call":
                request = item.call
                try:
                    actor = self.host.actor(request.agent_id)
                except AgentNotFoundError as err:
                    self._emit(refusal_event(request.task_id, err), False)
                    continue
                with self._state:
                    self._open += 1
                job = Job(request, self._deliver)
                if actor.submit(job):
                    if mine is None:
                        mine = (actor, job)
                    else:
                        self.host.pool.submit(lambda a=actor, j=job: a.run_here(j))
            elif kind == "create":
                self._emit(self.host.create(item.create), False)
            elif kind == "fetch":
                self._emit(refusal_event(item.fetch.request_id, NotImplementedError("no fetches here")), False)
            # release, credit, define, cancel: nothing kept, no speech, nothing to stop
        return mine


def build(host: SyncHost, port: int, threads: int) -> tuple[grpc.Server, int]:
    """A started sync gRPC server for `host` on 127.0.0.1:`port` (0: a free one); (server, bound port)."""
    handlers = {
        "Session": grpc.stream_stream_rpc_method_handler(
            host.session, request_deserializer=pb.ClientFrame.FromString,
            response_serializer=None),  # the writer yields serialized frames
        "CallUnary": grpc.unary_unary_rpc_method_handler(
            host.call_unary, request_deserializer=pb.CallRequest.FromString,
            response_serializer=pb.Event.SerializeToString),
        "CreateUnary": grpc.unary_unary_rpc_method_handler(
            host.create_unary, request_deserializer=pb.CreateRequest.FromString,
            response_serializer=pb.Event.SerializeToString),
    }
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sync-handler"),
        handlers=[grpc.method_handlers_generic_handler(SERVICE, handlers)],
        options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.so_reuseport", 0),
                 # calls waiting for a handler thread: above 1,000 (the default) gRPC cancels new ones
                 ("grpc.server.max_pending_requests", 10_000),
                 ("grpc.server.max_pending_requests_hard_limit", 20_000),
                 # the real server's liveness settings (clients ping every 2 s)
                 ("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 3_000),
                 ("grpc.http2.ping_timeout_ms", 3_000), ("grpc.keepalive_permit_without_calls", 1),
                 ("grpc.http2.min_ping_interval_without_data_ms", 1_000), ("grpc.http2.max_ping_strikes", 0)],
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


def main(argv: Optional[list] = None) -> None:
    """Serve until stdin closes (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=512, help="gRPC handler threads (one per waiting unary call)")
    parser.add_argument("--pool", type=int, default=256, help="worker threads for queued runs")
    args = parser.parse_args(argv)
    host = SyncHost(os.environ.get(codec.TOKEN_ENV, ""), args.pool)
    server, port = build(host, args.port, args.threads)
    try:
        _procs.serve_until_stdin_closes(port)
    finally:
        host.pool.close()
        server.stop(grace=1.0).wait(5.0)


if __name__ == "__main__":
    main()
