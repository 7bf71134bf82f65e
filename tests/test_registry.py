"""The server's class registry: an allow-list that no import can break (issue 11 item 4)."""
from __future__ import annotations

import concurrent.futures
import os
import sys
from pathlib import Path

import cloudpickle
import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import AgentCreationError
from agentscope_rpc.message import Msg
from agentscope_rpc.server.registry import (
    AgentClassRegistry,
    dumps_classes,
    is_distributable,
    load_class_file,
    write_class_file,
)
from dist_agents import Appender

pytestmark = pytest.mark.timeout(120)


class Local(AgentBase):
    """An agent class of this module."""

    def reply(self, x=None):
        return Msg(self.name, "local", "assistant")


class Marked:
    """Not an agent, but marked distributable (as environments are)."""

    __agentscope_distributable__ = True


class Plain:
    """Neither an agent nor marked."""


@pytest.fixture
def exiting_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module on the import path whose import raises SystemExit."""
    (tmp_path / "exits_on_import.py").write_text("raise SystemExit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "exits_on_import"
    sys.modules.pop("exits_on_import", None)


def test_distributable_classes() -> None:
    assert is_distributable(Local) and is_distributable(Marked)
    assert not is_distributable(Plain) and not is_distributable(Local("x"))


def test_register_makes_a_class_known_without_code_shipping() -> None:
    registry = AgentClassRegistry([], code_shipping=False)
    with pytest.raises(AgentCreationError, match="code shipping is off"):
        registry.resolve("Local", "__main__", cloudpickle.dumps(Local))
    registry.register(Local)
    registry.register(Marked)
    assert registry.resolve("Local", "__main__", b"") is Local
    assert registry.resolve("Marked", "somewhere", b"") is Marked
    with pytest.raises(TypeError, match="not an agent class"):
        registry.register(Plain)


@pytest.mark.parametrize("module", ["venv.__main__", "unittest.__main__", "__main__"])
def test_a_main_module_is_never_imported(module: str) -> None:
    sys.modules.pop(module, None) if module != "__main__" else None
    registry = AgentClassRegistry([], code_shipping=False)
    with pytest.raises(AgentCreationError, match="unknown agent class"):
        registry.resolve("Anything", module, b"")
    if module != "__main__":
        assert module not in sys.modules


def test_an_import_raising_system_exit_is_a_creation_error(exiting_module: str) -> None:
    registry = AgentClassRegistry([], code_shipping=False)
    with pytest.raises(AgentCreationError, match="SystemExit"):
        registry.resolve("Thing", exiting_module, b"")
    shipping = AgentClassRegistry([], code_shipping=True)  # the shipped class still serves
    assert shipping.resolve("Local", exiting_module, cloudpickle.dumps(Local)).__name__ == "Local"


def test_installed_classes_and_non_agents() -> None:
    registry = AgentClassRegistry([], code_shipping=False)
    assert registry.resolve("DialogAgent", "agentscope_rpc.agents", b"").__name__ == "DialogAgent"
    with pytest.raises(AgentCreationError, match="not an agent class"):
        registry.resolve("OrderedDict", "collections", b"")
    with pytest.raises(AgentCreationError, match="unknown agent class 'Nope'"):
        registry.resolve("Nope", "no_such_module_anywhere", b"")
    with pytest.raises(AgentCreationError, match="bad class name"):
        registry.resolve("__class__.__base__", "agentscope_rpc", b"")


def test_agent_dir_files_load_and_broken_ones_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(
        "from agentscope_rpc.agents import AgentBase\nclass DirAgent(AgentBase):\n    pass\n"
        "class DirEnv:\n    __agentscope_distributable__ = True\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(1)\n")
    (tmp_path / "broken.py").write_text("this is not python\n")
    registry = AgentClassRegistry([str(tmp_path)], code_shipping=False)
    assert {"DirAgent", "DirEnv"} <= set(registry.names())


def test_resolve_from_many_threads_unpickles_once() -> None:
    registry = AgentClassRegistry([], code_shipping=True)
    namespace: dict = {}
    exec("from agentscope_rpc.agents import AgentBase\nclass Shipped(AgentBase):\n    pass\n", namespace)
    blob = cloudpickle.dumps(namespace["Shipped"])
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        found = list(pool.map(lambda _: registry.resolve("Shipped", "gone_module", blob), range(64)))
    assert len({id(k) for k in found}) == 1


def test_class_file_is_private_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "classes.pkl"
    write_class_file(str(path), [Local, Marked])
    assert path.stat().st_mode & 0o777 == 0o600
    assert [k.__name__ for k in load_class_file(str(path))] == ["Local", "Marked"]
    with pytest.raises(FileExistsError):
        write_class_file(str(path), [Local])  # never overwrites (or follows) an existing file
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="mode 0600"):
        load_class_file(str(path))
    with pytest.raises(TypeError, match="not an agent class"):
        dumps_classes([Plain])


# -- on a real server ----------------------------------------------------------------------------
def test_server_survives_main_and_exiting_modules(server_factory, exiting_module: str) -> None:
    server = server_factory(code_shipping=False)
    for module in ("venv.__main__", "unittest.__main__", exiting_module):
        klass = type("Sneaky", (AgentBase,), {"reply": lambda self, x=None: Msg(self.name, "ran", "assistant")})
        klass.__module__ = module
        with pytest.raises(AgentCreationError):
            klass("sneaky", to_dist=server.options).wait_ready(timeout=30)  # creation is pipelined
    agent = Appender("after", to_dist=server.options)  # the server still serves
    assert agent(Msg("user", "still ", "user")).content == "still after"
    assert server.process.poll() is None
