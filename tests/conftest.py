"""Shared fixtures: a quiet console, real agent servers, the `slow` marker.

Server fixtures start a real agent server subprocess on a free loopback port
(`RpcAgentServerLauncher(...).launch(in_subprocess=True)`), each with its own
random token, and always stop it.  `server_factory(**settings)` takes any
`ServerConfig` field (`code_shipping=False`, `max_message_mb=1`, ...).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from agentscope_rpc import runtime
from agentscope_rpc.server import RpcAgentServerLauncher


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "slow: long-running test; runs only when RUN_SLOW=1")


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    if os.environ.get("RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: set RUN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _quiet_console() -> Iterator[None]:
    """Nothing is printed to the terminal; the previous printer comes back after."""
    previous = runtime.default().set_printer(None)
    try:
        yield
    finally:
        runtime.default().set_printer(previous)


@dataclass
class ServerHandle:
    """A running agent server subprocess."""

    launcher: RpcAgentServerLauncher
    host: str
    port: int
    token: str

    @property
    def options(self) -> dict:
        """A fresh `to_dist` dict for this server."""
        return {"host": self.host, "port": self.port, "token": self.token}

    @property
    def process(self) -> Any:
        return self.launcher._child.process  # pylint: disable=protected-access

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.launcher.shutdown()


def start_server(**settings: Any) -> ServerHandle:
    """Launch a server subprocess (default: a free port of 127.0.0.1) with a fresh token."""
    settings.setdefault("token", secrets.token_urlsafe(16))
    settings.setdefault("host", "127.0.0.1")
    launcher = RpcAgentServerLauncher(**settings)
    port = launcher.launch(in_subprocess=True)
    return ServerHandle(launcher, settings["host"], port, settings["token"])


def _factory() -> Iterator[Any]:
    started: list[ServerHandle] = []

    def make(**settings: Any) -> ServerHandle:
        handle = start_server(**settings)
        started.append(handle)
        return handle

    try:
        yield make
    finally:
        for handle in started:
            handle.stop()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    """`server_factory(**ServerConfig fields)` -> ServerHandle; all stopped after the test."""
    yield from _factory()


@pytest.fixture(scope="module")
def module_server_factory() -> Iterator[Any]:
    """Like `server_factory`, but the servers live for the whole test module."""
    yield from _factory()


@pytest.fixture
def server(server_factory: Any) -> ServerHandle:
    """A fresh default agent server for one test."""
    return server_factory()


@pytest.fixture(scope="module")
def module_server(module_server_factory: Any) -> ServerHandle:
    """A default agent server shared by the tests of one module."""
    return module_server_factory()


@pytest.fixture
def token_file(tmp_path: Any) -> str:
    """A file holding a fresh 256-bit token, readable by its owner only (as servers require)."""
    path = tmp_path / "token"
    path.write_text(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o600)
    return str(path)
