"""`AgentHost`: the objects one server hosts, and the outcomes of their calls.

Transport-free apart from the protobuf value types: a session hands it
creations and calls, and gets their outcomes back through callbacks.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import uuid
from typing import Any, Callable, Optional

from .._version import __version__
from ..exception import AgentCreationError, AgentNotFoundError, AgentServerError
from ..rpc import codec
from ..rpc._proto import agent_server_pb2 as pb
from .actor import Actor, Construction
from .call_runner import ActorRunner, Call, Executor
from .config import ServerConfig
from .registry import AgentClassRegistry
from .relay import CallRelay
from .results import ResultStore

log = logging.getLogger(__name__)


class AgentHost:
    """Actors, result store and executor of one agent server."""

    def __init__(self, config: ServerConfig, loop: asyncio.AbstractEventLoop, rt: Any,
                 classes: Optional[list] = None) -> None:
        self.config = config
        self.loop = loop
        self.runtime = rt
        self.instance_id = uuid.uuid4().hex
        self.allow_pickle = config.code_shipping
        self.actors: dict[str, Actor] = {}
        self.registry = AgentClassRegistry.from_config(config, classes or ())
        self.results = ResultStore(config.result_ttl, int(config.max_result_mb * 1024 * 1024),
                                   config.unknown_task_grace, config.max_results)
        self.executor = Executor(loop, config.capacity)
        self.runner = ActorRunner(self.executor, rt, self.allow_pickle)
        self.runner.idle = asyncio.Event()
        self.runner.idle.set()
        self.sessions: set = set()
        self.no_sessions = asyncio.Event()  # set while no Session stream is open
        self.no_sessions.set()
        self._configs_applied: set = set()  # digests of model configs read
        self._configs_lock = threading.Lock()
        self.started = time.time()
        self.address: tuple[str, int] = (config.advertise_host or config.host, config.port)
        self.stopping = False
        self.capability_key: Optional[bytes] = None  # set by the server from its token

    @property
    def idle(self) -> asyncio.Event:
        return self.runner.idle  # type: ignore[return-value]

    # -- creation ----------------------------------------------------------------------
    def create(self, request: pb.CreateRequest, blobs: dict,
               on_done: Callable[[Optional[pb.Created], Optional[BaseException]], None]) -> None:
        """Queue the construction of `request.agent_id`; `on_done(created, error)` runs on the loop."""
        agent_id = request.agent_id
        if self.stopping:
            raise AgentServerError("the agent server is shutting down")
        if not agent_id or len(agent_id) > 256:
            raise ValueError("an agent id of 1 to 256 characters is required")
        existing = self.actors.get(agent_id)
        if existing is not None:
            # creation is idempotent for the same class (a retried or repeated to_dist)
            if existing.error is None and request.class_name.split(".")[-1] == type(existing.obj).__name__:
                on_done(pb.Created(agent_id=agent_id, name=str(getattr(existing.obj, "name", "")),
                                   class_name=type(existing.obj).__name__), None)
                return
            raise AgentCreationError(f"agent id {agent_id} is taken")
        if not self.allow_pickle and request.init_args.kind == pb.Payload.PICKLE:
            raise PermissionError("pickled constructor arguments are not accepted here (code shipping is off)")
        blob = blobs.get(request.class_digest, b"") if request.class_digest else b""
        if request.class_digest and not blob:
            raise AgentCreationError(f"class blob {request.class_digest[:12]} was never sent on this session")
        configs = blobs.get(request.model_configs_digest, b"") if request.model_configs_digest else b""

        def build() -> Any:  # on a worker thread
            try:
                if configs:
                    self._apply_model_configs(request.model_configs_digest, configs)
                klass = self.registry.resolve(request.class_name, request.module, blob)
                args, kwargs = codec.decode_args(request.init_args, allow_pickle=self.allow_pickle)
            except AgentCreationError:
                raise
            except BaseException as err:  # pylint: disable=broad-except
                raise AgentCreationError(f"cannot create {request.class_name}: {type(err).__name__}: {err}") from err
            try:
                obj = klass(*args, **kwargs)
                obj.agent_id = agent_id
                if request.memory_json and getattr(obj, "memory", None) is not None:
                    obj.memory.load(json.loads(request.memory_json), overwrite=True)
            except BaseException as err:  # pylint: disable=broad-except
                raise AgentCreationError(f"{request.class_name}(...) raised {type(err).__name__}: {err}") from err
            return obj

        def built(actor: Actor, obj: Any, error: Optional[BaseException]) -> None:
            if error is not None:
                if self.actors.get(agent_id) is actor:
                    del self.actors[agent_id]
                on_done(None, error)
            else:
                on_done(pb.Created(agent_id=agent_id, name=str(getattr(obj, "name", "")),
                                   class_name=type(obj).__name__), None)

        actor = self.actors[agent_id] = Actor(agent_id, self.runner)
        actor.submit(Construction(build, built))

    def _apply_model_configs(self, digest: str, data: bytes) -> None:
        from ..models import read_model_configs

        with self._configs_lock:
            if digest in self._configs_applied:
                return
            read_model_configs(json.loads(data), override=True)
            self._configs_applied.add(digest)

    def set_model_configs(self, configs_json: str) -> int:
        from ..models import read_model_configs

        configs = json.loads(configs_json)
        read_model_configs(configs, override=True)
        return len(configs)

    # -- calls -------------------------------------------------------------------------
    def submit(self, request: pb.CallRequest, relay: CallRelay,
               on_outcome: Callable[[Call, tuple], None]) -> Call:
        """Queue a call on its actor; raises for a request refused before it could run."""
        task_id = request.task_id
        if not task_id or len(task_id) > codec.MAX_TASK_ID:
            raise ValueError(f"a call needs a request id of 1 to {codec.MAX_TASK_ID} characters")
        if self.stopping:
            raise AgentServerError("the agent server is shutting down")
        actor = self.actor(request.agent_id)
        method = request.method
        if not method or (method.startswith("_") and method not in codec.FORWARDED_DUNDERS):
            raise PermissionError(f"method {method!r} is private")
        if actor.obj is not None and not callable(getattr(actor.obj, method, None)):
            raise AttributeError(f"{type(actor.obj).__name__} has no method {method!r}")
        refs: list = []
        if codec.may_hold_refs(request.args):
            def ref(value: codec.ResultRef) -> Any:
                placeholder = self.runtime.placeholder_from_ref(value)
                refs.append(placeholder)
                return placeholder

            args, kwargs = codec.decode_args(request.args, ref, self.allow_pickle)
        else:
            args, kwargs = codec.decode_args(request.args, None, self.allow_pickle)
        self.results.begin(task_id)
        call = Call(task_id, method, args, kwargs, relay, refs, on_outcome)
        for placeholder in refs:  # fetched while the call waits its turn
            placeholder._start_fetch()  # pylint: disable=protected-access
        actor.submit(call)
        return call

    def actor(self, agent_id: str) -> Actor:
        actor = self.actors.get(agent_id)
        if actor is None:
            raise AgentNotFoundError(f"no agent {agent_id!r} on this server")
        return actor

    def delete_agent(self, agent_id: str) -> None:
        actor = self.actors.pop(agent_id, None)
        if actor is None:
            raise AgentNotFoundError(f"no agent {agent_id!r} on this server")
        actor.fail_all(AgentNotFoundError(f"agent {agent_id!r} was deleted"))

    def delete_all(self) -> int:
        count = len(self.actors)
        for agent_id in list(self.actors):
            self.delete_agent(agent_id)
        return count

    # -- reads -------------------------------------------------------------------------
    def attribute(self, agent_id: str, name: str) -> Any:
        obj = self._built(agent_id)
        if not name or name.startswith("_"):
            raise PermissionError(f"attribute {name!r} is private")
        if not hasattr(obj, name):
            raise AttributeError(f"{type(obj).__name__} has no attribute {name!r}")
        value = getattr(obj, name)
        if callable(value):
            raise AttributeError(f"{name!r} is a method; call it instead")
        return value

    def _built(self, agent_id: str) -> Any:
        actor = self.actor(agent_id)
        if actor.obj is None:
            raise AgentNotFoundError(f"agent {agent_id!r} is still being created")
        return actor.obj

    def memory(self, agent_id: str) -> list:
        memory = getattr(self._built(agent_id), "memory", None)
        return list(memory.get_memory()) if memory is not None else []

    def list_agents(self) -> pb.AgentList:
        agents = []
        for agent_id, actor in self.actors.items():
            memory = getattr(actor.obj, "memory", None)
            agents.append(pb.AgentInfo(
                agent_id=agent_id, name=str(getattr(actor.obj, "name", "")), class_name=type(actor.obj).__name__,
                memory_size=memory.size() if memory is not None else 0, busy=actor.busy, queued=actor.queued,
            ))
        return pb.AgentList(agents=agents)

    def server_info(self) -> pb.ServerInfo:
        import psutil

        proc = psutil.Process(os.getpid())
        return pb.ServerInfo(
            pid=os.getpid(), host=self.address[0], port=self.address[1], cpu_percent=proc.cpu_percent(interval=None),
            memory_mb=proc.memory_info().rss / (1024 * 1024), agent_count=len(self.actors),
            running_calls=self.runner.running, stored_results=len(self.results),
            stored_result_bytes=self.results.bytes, version=__version__, code_shipping=self.config.code_shipping,
            uptime_s=time.time() - self.started, instance_id=self.instance_id,
            server_id=str(getattr(self.config, "server_id", "") or ""),
        )

    def session_opened(self, session: Any) -> None:
        self.sessions.add(session)
        self.no_sessions.clear()

    def session_closed(self, session: Any) -> None:
        self.sessions.discard(session)
        if not self.sessions:
            self.no_sessions.set()

    def shutdown(self, reason: Optional[str] = None) -> None:
        """Queued calls fail now; running ones finish; sessions end once answered."""
        self.stopping = True
        error = AgentServerError(reason or "the agent server is shutting down")
        for actor in self.actors.values():
            actor.fail_all(error)
        self.results.fail_pending(("error", codec.error_to_pb(error)))
        self.executor.close()
        for session in list(self.sessions):
            session.close()
