"""Creating distributed agents from many threads at once (issue 9, A7).

The classes live where no server can import them, so each creation ships
its class by value: classes built with `type(...)` in a module that exists
only in this process, and classes of a file loaded from tmp_path.  16+
threads start together (a barrier); every creation succeeds and its calls
work.  Real servers on loopback.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg

pytestmark = pytest.mark.timeout(180)
THREADS = 24

SCRIPT = '''
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


class ScriptAgent(AgentBase):
    """Lives in a file outside every import path."""

    def __init__(self, name, tag):
        super().__init__(name)
        self.tag = tag

    def reply(self, x=None):
        return Msg(self.name, f"script {self.name} {self.tag} {x.content}", "assistant")

    def tag_of(self):
        return self.tag
'''


@pytest.fixture
def fake_module() -> Iterator[types.ModuleType]:
    """A module in sys.modules with no file: no server can import it."""
    module = types.ModuleType("v0_concurrency_nowhere")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]


def _classes(module: types.ModuleType, count: int) -> list:
    """`count` agent classes of `module`; their methods are local functions, so they travel by value too."""

    def _reply(self: Any, x: Any = None) -> Msg:
        return Msg(self.name, f"{type(self).__name__} {self.name} {self.tag} {x.content}", "assistant")

    def _init(self: Any, name: str, tag: int) -> None:
        AgentBase.__init__(self, name)
        self.tag = tag

    classes = []
    for i in range(count):
        klass = type(f"Built{i}", (AgentBase,), {"__init__": _init, "reply": _reply, "__module__": module.__name__})
        setattr(module, klass.__name__, klass)
        classes.append(klass)
    return classes


@pytest.fixture
def script_module(tmp_path: Path) -> Iterator[types.ModuleType]:
    """A module loaded from a file in tmp_path (not on any server's import path), registered in sys.modules."""
    path = tmp_path / "v0_concurrency_script.py"
    path.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("v0_concurrency_script", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        del sys.modules[spec.name]


def _at_once(count: int, work: Callable[[int], Any]) -> tuple[dict, list]:
    """Run `work(i)` on `count` threads released together; (results by i, errors)."""
    barrier = threading.Barrier(count)
    results: dict = {}
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait(30)
            results[i] = work(i)
        except BaseException as err:  # pylint: disable=broad-except
            errors.append((i, repr(err)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a creating thread hung"
    return results, errors


def test_classes_of_one_unimportable_module_created_from_many_threads(
    module_server_factory: Any, fake_module: types.ModuleType,
) -> None:
    servers = [module_server_factory(), module_server_factory()]
    classes = _classes(fake_module, THREADS)

    def create_and_call(i: int) -> str:
        agent = classes[i](f"a{i}", tag=i, to_dist=servers[i % 2].options)
        return agent(Msg("user", "hi", "user")).result(timeout=60).content

    results, errors = _at_once(THREADS, create_and_call)
    assert errors == []
    assert results == {i: f"Built{i} a{i} {i} hi" for i in range(THREADS)}


def test_one_script_class_created_from_many_threads(module_server_factory: Any,
                                                     script_module: types.ModuleType) -> None:
    server = module_server_factory()

    def create(i: int) -> Any:
        return script_module.ScriptAgent(f"s{i}", tag=i, to_dist=server.options)

    agents, errors = _at_once(THREADS, create)
    assert errors == []
    replies = {i: agent(Msg("user", "go", "user")) for i, agent in agents.items()}  # calls, all in flight
    assert {i: r.result(timeout=60).content for i, r in replies.items()} == {
        i: f"script s{i} {i} go" for i in range(THREADS)
    }
    assert sorted(agent.tag_of() for agent in agents.values()) == list(range(THREADS))


def test_concurrent_child_mode_creations(fake_module: types.ModuleType) -> None:
    count = 8  # a child server each
    classes = _classes(fake_module, count)
    agents: dict = {}

    def create_and_call(i: int) -> str:
        agents[i] = agent = classes[i](f"c{i}", tag=i, to_dist=True)
        return agent(Msg("user", "kid", "user")).result(timeout=60).content

    try:
        results, errors = _at_once(count, create_and_call)
        assert errors == []
        assert results == {i: f"Built{i} c{i} {i} kid" for i in range(count)}
        assert len({agent.endpoint.port for agent in agents.values()}) == count
    finally:
        for agent in agents.values():
            agent.stop_server()
