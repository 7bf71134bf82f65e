"""AgentScope 0.1.6's retry strategies and `DistConf` (issue 9, A5).

`RetryFixedTimes(max_retries, delay)` and `RetryExponential(max_retries,
base_delay, max_delay)` are accepted by `to_dist(retry_strategy=...)` and
used for idempotent operations: connecting to a server that starts late
succeeds once it is up within the strategy's budget and fails with
`AgentServerNotAliveError` after it.  An agent call is never run again (at
most once), even when the connection is cut while it runs and the client
reconnects.  `DistConf` is a dict; the caller's dict is never mutated.
Real servers on loopback.
"""
from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import AgentServerNotAliveError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import DistConf
from agentscope_rpc.rpc.retry_strategy import RetryBase, RetryExponential, RetryFixedTimes
from agentscope_rpc.server import RpcAgentServerLauncher
from v0_dist_helpers import Gate, TcpForwarder, free_port, mark, marks, wait_for_marks, wait_gate

pytestmark = pytest.mark.timeout(120)


class Counted(AgentBase):
    """Marks every reply it starts; the reply may wait for a gate."""

    def __init__(self, name: str, path: str, gate: str = "") -> None:
        super().__init__(name)
        self.path = path
        self.gate = gate
        self.replies = 0

    def reply(self, x: Any = None) -> Msg:
        self.replies += 1
        mark(self.path, f"reply {getattr(x, 'content', None)}")
        if self.gate:
            wait_gate(self.gate)
        return Msg(self.name, f"reply {self.replies}", "assistant")

    def count(self) -> int:
        return self.replies


# -- the strategies ----------------------------------------------------------------------------
def test_v0_names_parameters_and_delays() -> None:
    fixed = RetryFixedTimes(max_retries=3, delay=1)
    exponential = RetryExponential(max_retries=6, base_delay=1, max_delay=2)
    assert isinstance(fixed, RetryBase) and isinstance(exponential, RetryBase)
    assert (fixed.max_retries, fixed.delay) == (3, 1)
    assert (exponential.max_retries, exponential.base_delay, exponential.max_delay) == (6, 1, 2)
    assert RetryFixedTimes().max_retries == 10 and RetryExponential().max_delay == 300  # 0.1.6's defaults
    fixed_delays = list(fixed.delays())
    assert len(fixed_delays) == 3 and all(0.5 <= d <= 1.5 for d in fixed_delays)  # delay with ±50% jitter
    delays = list(exponential.delays())
    assert len(delays) == 6 and 0.5 <= delays[0] <= 1.5 and 1.0 <= delays[1]  # base_delay, doubling
    for bad in (dict(max_retries=-1), dict(delay=-1)):
        with pytest.raises(ValueError):
            RetryFixedTimes(**bad)


def test_max_delay_caps_every_wait() -> None:
    exponential = RetryExponential(max_retries=8, base_delay=1, max_delay=2)
    for _ in range(20):  # the jitter is random: look at many draws
        delays = list(exponential.delays())
        assert all(d <= 2 for d in delays), delays  # 0.1.6: min(jittered delay, max_delay)


def test_to_dist_refuses_a_retry_strategy_that_is_not_one(module_server: Any, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="retry_strategy"):
        Counted("bad", str(tmp_path / "m"), to_dist=dict(module_server.options, retry_strategy=3))


# -- idempotent operations retry -------------------------------------------------------------
@pytest.fixture
def late_port() -> Iterator[dict]:
    """A port where a server starts `state["delay"]` seconds after `state["start"]()` is called."""
    port = free_port()
    token = secrets.token_urlsafe(16)
    state: dict = {"port": port, "token": token, "launcher": None, "error": None}

    def start_later(delay: float) -> threading.Thread:
        def run() -> None:
            time.sleep(delay)  # the point of the test: the server appears later than the creation
            try:
                launcher = RpcAgentServerLauncher(host="127.0.0.1", port=port, token=token)
                launcher.launch(in_subprocess=True)
                state["launcher"] = launcher
            except Exception as err:  # pylint: disable=broad-except
                state["error"] = err

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    state["start"] = start_later
    try:
        yield state
    finally:
        if state["launcher"] is not None:
            state["launcher"].shutdown()


def test_creation_reaches_a_server_that_starts_within_the_budget(late_port: dict, tmp_path: Path) -> None:
    options = {"host": "127.0.0.1", "port": late_port["port"], "token": late_port["token"],
               "retry_strategy": RetryFixedTimes(max_retries=120, delay=0.25)}  # 15 s at least
    starter = late_port["start"](1.0)
    agent = Counted("late", str(tmp_path / "marks"), to_dist=options)  # nothing listens yet
    # queued behind the creation, in this order, and sent (again) once the server is up
    calls = [agent(Msg("user", f"call {i}", "user")) for i in range(8)]
    starter.join(60)
    assert late_port["error"] is None, late_port["error"]
    assert [c.result(timeout=60).content for c in calls] == [f"reply {i + 1}" for i in range(8)]
    assert agent.count() == 8
    assert marks(tmp_path / "marks") == [f"reply call {i}" for i in range(8)]  # each ran once, in order


def test_creation_fails_once_the_budget_is_spent(late_port: dict, tmp_path: Path) -> None:
    options = {"host": "127.0.0.1", "port": late_port["port"], "token": late_port["token"],
               "retry_strategy": RetryFixedTimes(max_retries=3, delay=0.5)}  # 0.75 s to 2.25 s
    start = time.monotonic()
    agent = Counted("too-late", str(tmp_path / "marks"), to_dist=options)
    with pytest.raises(AgentServerNotAliveError):
        agent.wait_ready(timeout=60)
    spent = time.monotonic() - start
    assert spent >= 0.75  # three retries, each at least half the delay: the strategy drove the waiting
    late_port["start"](0.0).join(60)  # now the server comes, after the budget
    with pytest.raises(AgentServerNotAliveError):
        agent(Msg("user", "hello", "user")).result(timeout=30)
    assert marks(tmp_path / "marks") == []  # nothing ran there


def test_a_call_is_never_run_again_after_the_link_is_cut(module_server: Any, tmp_path: Path) -> None:
    forwarder = TcpForwarder(module_server.port)
    try:
        gate = Gate(tmp_path)
        path = str(tmp_path / "marks")
        options = {"host": "127.0.0.1", "port": forwarder.port, "token": module_server.token,
                   "retry_strategy": RetryFixedTimes(max_retries=50, delay=0.1)}
        agent = Counted("once", path, gate=gate.path, to_dist=options)
        running = agent(Msg("user", "only once", "user"))
        assert wait_for_marks(path, 1) == ["reply only once"]  # it runs on the server, blocked on the gate
        assert forwarder.cut() >= 1
        gate.open()
        with pytest.raises(AgentServerNotAliveError):
            running.result(timeout=60)
        # the client reconnects (idempotent): the agent is still there, and ran the call once
        assert agent.count() == 1
        assert agent(Msg("user", "next", "user")).result(timeout=30).content == "reply 2"
        assert marks(path) == ["reply only once", "reply next"]
        assert forwarder.accepted >= 2
    finally:
        forwarder.close()


# -- DistConf ------------------------------------------------------------------------------------
def test_dist_conf_is_a_dict_with_v0_keywords(module_server: Any, tmp_path: Path) -> None:
    conf = DistConf(host=module_server.host, port=module_server.port, max_pool_size=8192, max_expire_time=7200,
                    max_timeout_seconds=5, local_mode=True, lazy_launch=False, token=module_server.token)
    assert isinstance(conf, dict) and conf["host"] == module_server.host and conf["port"] == module_server.port
    assert DistConf()["host"] == "localhost" and DistConf()["port"] is None
    snapshot = dict(conf)
    agent = Counted("conf", str(tmp_path / "marks"), to_dist=conf)
    assert agent(Msg("user", "x", "user")).content == "reply 1"
    assert dict(conf) == snapshot and type(conf) is DistConf


def test_the_callers_options_are_never_mutated(module_server: Any, tmp_path: Path) -> None:
    strategy = RetryExponential(max_retries=3, base_delay=0.1, max_delay=0.5)
    options = dict(module_server.options, retry_strategy=strategy, max_pool_size=10)
    snapshot = dict(options)
    first = Counted("one", str(tmp_path / "a"), to_dist=options)
    second = Counted("two", str(tmp_path / "b")).to_dist(**options)
    assert first(None).content == "reply 1" and second(None).content == "reply 1"
    assert options == snapshot and options["retry_strategy"] is strategy
    assert vars(strategy) == {"max_retries": 3, "base_delay": 0.1, "max_delay": 0.5}
