"""`--no-code-shipping` means no pickle and no code execution (issue 11 item 4, DESIGN §8).

Raw requests (tests/raw_wire.py) carry a pickle whose loading creates a
marker directory.  On a server with code shipping off, a pickled
constructor argument, call argument or shipped class is refused with
PERMISSION_DENIED and the marker never appears; JSON arguments keep
working.  On a default server the same pickle does create the marker, which
shows the probe is live.  `CreateAgent` naming a `__main__` module, or a
module that raises `SystemExit` on import, does not stop the server; a
slow import does not stall other calls (imports run off the event loop).
"""
from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

import grpc
import pytest

import raw_wire as raw
from agentscope_rpc.exception import AgentServerError
from agentscope_rpc.message import Msg
from dist_agents import Appender

pytestmark = pytest.mark.timeout(120)

AGENT_DIR = str(Path(__file__).resolve().parent / "dist_agents" / "agent_dir")
GREETER = "DirGreeter"  # defined in AGENT_DIR: on the allow-list of a --no-code-shipping server


@pytest.fixture(scope="module")
def locked(module_server_factory):
    """A server with code shipping off that knows the classes of AGENT_DIR."""
    return module_server_factory(code_shipping=False, agent_dir=[AGENT_DIR])


@pytest.fixture
def target(locked):
    target = raw.Target.of(locked)
    yield target
    target.close()


def _greeter(target) -> str:
    outcome = raw.create(target, raw.create_request(GREETER, init_args=raw.json_args("greeter")))
    assert outcome.ok, f"a JSON creation of an allowed class must work: {outcome}"
    return outcome.created.agent_id


def _assert_alive(target) -> None:
    agent_id = _greeter(target)
    done = raw.call(target, raw.call_request(agent_id, args=raw.json_args(Msg("user", "you", "user"))))
    assert done.ok and done.value().content == "hello you, from the agent dir", done


@pytest.mark.parametrize("via", raw.CREATE_TRANSPORTS)
def test_pickled_init_args_are_never_unpickled(target, tmp_path, via):
    marker = str(tmp_path / "unpickled")
    request = raw.create_request(GREETER, init_args=raw.pickle_payload(raw.marker_pickle(marker)))
    outcome = raw.create(target, request, via=via)
    assert not os.path.exists(marker), "the server unpickled a constructor argument"
    assert outcome.status == grpc.StatusCode.PERMISSION_DENIED, outcome
    _assert_alive(target)


@pytest.mark.parametrize("via", raw.CALL_TRANSPORTS)
def test_pickled_call_args_are_never_unpickled(target, tmp_path, via):
    agent_id = _greeter(target)
    marker = str(tmp_path / "unpickled")
    request = raw.call_request(agent_id, args=raw.pickle_payload(raw.marker_pickle(marker)))
    outcome = raw.call(target, request, via=via)
    assert not os.path.exists(marker), "the server unpickled a call argument"
    assert outcome.status == grpc.StatusCode.PERMISSION_DENIED, outcome
    _assert_alive(target)


def test_a_shipped_class_is_never_unpickled(target, tmp_path):
    marker = str(tmp_path / "unpickled")
    request = raw.create_request("NotKnownHere", module="nowhere_to_be_found",
                                 class_blob=raw.marker_pickle(marker))
    outcome = raw.create(target, request)
    assert not os.path.exists(marker), "the server unpickled a shipped class"
    assert outcome.refused, outcome
    assert outcome.status in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION), outcome


def test_the_probe_is_live_on_a_default_server(server, tmp_path):
    """The same pickle does run where code shipping is on (so the tests above can fail)."""
    target = raw.Target.of(server)
    try:
        agent = Appender("plain", to_dist=server.options)
        assert agent(None).result(timeout=30).content == "plain"  # it exists before the raw call
        marker = str(tmp_path / "unpickled")
        raw.call(target, raw.call_request(agent.agent_id, args=raw.pickle_payload(raw.marker_pickle(marker))))
        assert os.path.exists(marker)
    finally:
        target.close()


def _load_greeter_class() -> type:
    """DirGreeter as the orchestrator sees it (loaded from its file, not importable by the server)."""
    spec = importlib.util.spec_from_file_location("greeter_seen_by_the_orchestrator", Path(AGENT_DIR) / "greeter.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DirGreeter


def test_a_value_json_cannot_carry_fails_the_call_clearly(locked):
    """Through the public client: a non-JSON argument is refused, not unpickled."""
    greeter = _load_greeter_class()("greeter", to_dist=locked.options)  # known by name: nothing shipped runs
    with pytest.raises(AgentServerError):
        greeter(Msg("user", {1, 2, 3}, "user")).result(timeout=20)
    assert greeter(Msg("user", "json", "user")).result(timeout=20).content == "hello json, from the agent dir"


@pytest.mark.parametrize("module", ["venv.__main__", "unittest.__main__", "fault_exit_on_import"])
@pytest.mark.parametrize("via", raw.CREATE_TRANSPORTS)
def test_imports_cannot_stop_the_server(target, locked, module, via):
    outcome = raw.create(target, raw.create_request("Anything", module=module), via=via)
    assert outcome.refused, outcome
    assert outcome.status not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                                  grpc.StatusCode.UNAVAILABLE), outcome
    assert locked.process.poll() is None, "the server exited"
    _assert_alive(target)


def test_a_slow_import_does_not_stall_other_calls(target):
    agent_id = _greeter(target)
    importing = threading.Thread(
        target=raw.create, args=(target, raw.create_request("Anything", module="fault_slow_import")), daemon=True)
    importing.start()
    time.sleep(0.5)  # let the import begin (it sleeps 3 s at import time)
    started = time.monotonic()
    done = raw.call(target, raw.call_request(agent_id, args=raw.json_args(Msg("user", "meanwhile", "user"))))
    took = time.monotonic() - started
    importing.join(30)
    assert done.ok, done
    assert took < 1.5, f"a call waited {took:.1f}s for another creation's import (imports run on the loop)"
