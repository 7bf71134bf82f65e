"""`AgentHost`: the agents of one server and how their calls run.

Transport-free apart from the protobuf value types: the servicer decodes a
request, hands it here, and encodes what comes back.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import time
import weakref
from typing import Any, Optional

from .. import __version__
from ..exception import AgentCreationError, AgentNotFoundError, AgentServerError, StreamCancelledError
from ..rpc import codec
from ..rpc._proto import agent_server_pb2 as pb
from ..rpc.placeholder import AsyncResult, resolve_placeholders
from .actor import Actor, CallTask, run_agent_method
from .batch import SyncBatch
from .config import ServerConfig
from .registry import AgentClassRegistry
from .results import ResultStore

log = logging.getLogger(__name__)


def public_methods(klass: type) -> list[str]:
    return sorted(
        name
        for name in dir(klass)
        if not name.startswith("_") and callable(getattr(klass, name, None))
    )


class AgentHost:
    """Actors, result store and thread pool of one agent server."""

    def __init__(self, config: ServerConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.actors: dict[str, Actor] = {}
        self.registry = AgentClassRegistry(config.agent_dir, config.code_shipping)
        self.results = ResultStore(config.result_ttl, config.max_results, config.unknown_task_grace)
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.capacity,
            thread_name_prefix="agent",
        )
        self._running = 0
        self.idle = asyncio.Event()  # set while no call is running
        self.idle.set()
        self.batch = SyncBatch(self)
        self.sessions: "weakref.WeakSet" = weakref.WeakSet()  # open Session streams
        self._model_configs_seen = ""  # the last shipped model configs read (a creation's JSON)
        self._methods: "weakref.WeakKeyDictionary[type, list]" = weakref.WeakKeyDictionary()
        self.started = time.time()
        self.address: tuple[str, int] = (config.advertise_host or config.host, config.port)

    @property
    def running_calls(self) -> int:
        return self._running

    @running_calls.setter
    def running_calls(self, value: int) -> None:
        self._running = value
        if value == 0:
            self.idle.set()
        else:
            self.idle.clear()

    # -- lifecycle of agents ------------------------------------------------------
    async def create_agent(self, request: pb.CreateAgentRequest) -> pb.CreateAgentReply:
        existing = self.actors.get(request.agent_id)
        if existing is not None:
            if type(existing.agent).__name__ != request.class_name.split(".")[-1]:
                raise AgentCreationError(f"agent id {request.agent_id} is taken")
            return self._describe(existing.agent)
        try:
            if request.model_configs and request.model_configs != self._model_configs_seen:
                from ..models import read_model_configs

                read_model_configs(json.loads(request.model_configs), override=True)
                self._model_configs_seen = request.model_configs
            klass = self.registry.resolve(request.class_name, request.module, request.class_blob)
            args, kwargs = codec.decode_args(request.init_args)
        except AgentCreationError:
            raise
        except Exception as err:
            raise AgentCreationError(f"cannot create {request.class_name}: {type(err).__name__}: {err}") from err

        def build() -> Any:
            agent = klass(*args, **kwargs)
            agent.agent_id = request.agent_id or agent.agent_id
            if request.memory and getattr(agent, "memory", None) is not None:
                agent.memory.load(json.loads(request.memory))
            return agent

        try:
            agent = await self.loop.run_in_executor(self.pool, build)
        except Exception as err:
            raise AgentCreationError(
                f"{request.class_name}(...) raised {type(err).__name__}: {err}",
            ) from err
        self.actors[agent.agent_id] = Actor(agent, self._execute, self.batch)
        return self._describe(agent)

    def _describe(self, agent: Any) -> pb.CreateAgentReply:
        klass = type(agent)
        methods = self._methods.get(klass)
        if methods is None:
            methods = self._methods[klass] = public_methods(klass)
        return pb.CreateAgentReply(
            agent_id=agent.agent_id,
            name=str(getattr(agent, "name", "")),
            class_name=klass.__name__,
            methods=methods,
        )

    def actor(self, agent_id: str) -> Actor:
        actor = self.actors.get(agent_id)
        if actor is None:
            raise AgentNotFoundError(f"no agent {agent_id!r} on this server")
        return actor

    def delete_agent(self, agent_id: str) -> None:
        actor = self.actors.pop(agent_id, None)
        if actor is None:
            raise AgentNotFoundError(f"no agent {agent_id!r} on this server")
        error = AgentNotFoundError(f"agent {agent_id!r} was deleted")
        reply = pb.FetchReply(error=codec.error_to_pb(error))
        for task in actor.fail_all(error):  # their fetchers fail too
            self.results.finish(task.task_id, reply)

    def delete_all(self) -> int:
        count = len(self.actors)
        for agent_id in list(self.actors):
            self.delete_agent(agent_id)
        return count

    # -- calls -------------------------------------------------------------------------
    def submit(self, task: CallTask, agent_id: str) -> None:
        actor = self.actor(agent_id)
        if task.method.startswith("_"):
            raise AgentServerError(f"method {task.method!r} is private")
        if not callable(getattr(actor.agent, task.method, None)):
            raise AgentServerError(f"{type(actor.agent).__name__} has no method {task.method!r}")
        task.done = self.loop.create_future()
        self.results.expect(task.task_id)
        for placeholder in task.refs:  # prefetch placeholders while queued
            placeholder._start_fetch()
        actor.submit(task)

    async def _execute(self, actor: Actor, task: CallTask) -> None:
        self.running_calls += 1
        try:
            if task.cancelled:  # the caller left while it was queued: never run it
                raise StreamCancelledError(f"task {task.task_id} was cancelled before it ran")
            if task.refs:
                await asyncio.gather(*(asyncio.wrap_future(p._future) for p in task.refs))
                task.args = resolve_placeholders(task.args)
                task.kwargs = resolve_placeholders(task.kwargs)
            func = getattr(actor.agent, task.method)
            value = await run_agent_method(self.loop, self.pool, func, task)
            if isinstance(value, AsyncResult):  # a reply that returned a placeholder
                value = await value
            payload = codec.encode(value)
            self.results.finish(task.task_id, pb.FetchReply(result=payload))
            outcome: tuple = ("result", payload)
        except BaseException as err:  # pylint: disable=broad-except
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(err, asyncio.CancelledError):
                err = StreamCancelledError(f"task {task.task_id} cancelled")
            error = codec.error_to_pb(err)
            self.results.finish(task.task_id, pb.FetchReply(error=error))
            outcome = ("error", error)
        finally:
            self.running_calls -= 1
            task.relay.close()
        if task.done is not None and not task.done.done():
            task.done.set_result(outcome)

    # -- reads --------------------------------------------------------------------------
    def attribute(self, agent_id: str, name: str) -> Any:
        agent = self.actor(agent_id).agent
        if not name or name.startswith("_"):
            raise PermissionError(f"attribute {name!r} is private")
        if not hasattr(agent, name):
            raise AttributeError(f"{type(agent).__name__} has no attribute {name!r}")
        value = getattr(agent, name)
        if callable(value):
            raise AttributeError(f"{name!r} is a method; call it instead")
        return value

    def memory(self, agent_id: str) -> list:
        agent = self.actor(agent_id).agent
        memory = getattr(agent, "memory", None)
        return memory.get_memory() if memory is not None else []

    def list_agents(self) -> pb.AgentList:
        agents = []
        for agent_id, actor in self.actors.items():
            memory = getattr(actor.agent, "memory", None)
            agents.append(
                pb.AgentInfo(
                    agent_id=agent_id,
                    name=str(getattr(actor.agent, "name", "")),
                    class_name=type(actor.agent).__name__,
                    memory_size=memory.size() if memory is not None else 0,
                    busy=actor.busy,
                    queued=actor.queued,
                ),
            )
        return pb.AgentList(agents=agents)

    def server_info(self) -> pb.ServerInfo:
        import psutil

        proc = psutil.Process(os.getpid())
        return pb.ServerInfo(
            pid=os.getpid(),
            host=self.address[0],
            port=self.address[1],
            cpu_percent=proc.cpu_percent(interval=None),
            memory_mb=proc.memory_info().rss / (1024 * 1024),
            agent_count=len(self.actors),
            running_calls=self.running_calls,
            stored_results=len(self.results),
            version=__version__,
            code_shipping=self.config.code_shipping,
            uptime_s=time.time() - self.started,
        )

    def shutdown(self, reason: Optional[str] = None) -> None:
        error = AgentServerError(reason or "the agent server is shutting down")
        for actor in self.actors.values():
            actor.fail_all(error)
        self.results.fail_all_pending(pb.FetchReply(error=codec.error_to_pb(error)))
        self.pool.shutdown(wait=False, cancel_futures=True)
        for session in list(self.sessions):  # they end once their running calls are answered
            session.close()
