"""AgentScope 0.1.6's call semantics on distributed objects (issue 9, A2).

`__call__` / `reply` and `@async_func` methods return an `AsyncResult` at
once; every other public method is synchronous and returns the plain value;
both kinds go through the agent's FIFO mailbox in the order one caller made
them.  `observe` returns nothing at once, keeps its order, and a failure
surfaces on the caller's next call to that agent.  Real servers on loopback.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.exception import AgentCallError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import AsyncResult, DistConf, RpcClient, async_func, sync_func
from v0_dist_helpers import Gate, wait_gate

pytestmark = pytest.mark.timeout(120)


class Judge(AgentBase):
    """0.1.6's custom-function agent: a reply, sync helpers, `@async_func` work, a log of what ran."""

    def __init__(self, name: str, gate: str = "") -> None:
        super().__init__(name)
        self.gate = gate
        self.cnt = 0
        self.log: list = []

    def reply(self, x: Any = None) -> Msg:
        if self.gate:
            wait_gate(self.gate)
        self.log.append(f"reply {getattr(x, 'content', None)}")
        return Msg(self.name, "Hello", "assistant")

    def observe(self, x: Any) -> None:
        if getattr(x, "content", None) == "indigestible":
            raise ValueError("cannot observe that")
        self.log.append(f"observe {x.content}")
        super().observe(x)

    def judge(self, text: str) -> bool:
        self.log.append(f"judge {text}")
        return "$PASS$" in text

    def echo_msg(self, x: Msg) -> Msg:
        return x

    def echo_basic(self, value: Any) -> Any:
        return value

    def nothing(self) -> None:
        self.log.append("nothing")

    @async_func
    def work(self, amount: int) -> int:
        if self.gate:
            wait_gate(self.gate)
        self.cnt += amount
        self.log.append(f"work {amount}")
        return self.cnt

    @sync_func
    def count(self) -> int:
        return self.cnt

    def history(self) -> list:
        return list(self.log)

    def fail(self) -> None:
        raise RuntimeError("Demo Error")

    @async_func
    def fail_later(self) -> None:
        raise RuntimeError("Demo Error, later")

    @sync_func
    def __getitem__(self, key: str) -> str:
        return f"item {key}"


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    return Gate(tmp_path)


def test_v0_names_import_and_decorators_leave_local_objects_alone() -> None:
    import agentscope_rpc.rpc as rpc

    for name in ("async_func", "sync_func", "RpcClient", "DistConf", "AsyncResult"):
        assert name in rpc.__all__
    assert callable(RpcClient) and issubclass(DistConf, dict) and isinstance(AsyncResult, type)
    local = Judge("local")
    assert local.work(2) == 2 and local.count() == 2  # the decorators change nothing locally
    assert local["k"] == "item k"


def test_reply_and_call_return_placeholders_at_once(module_server: Any, gate: Gate) -> None:
    agent = Judge("gated", gate=gate.path, to_dist=module_server.options)
    called = agent(Msg("user", "one", "user"))
    replied = agent.reply(Msg("user", "two", "user"))
    assert isinstance(called, AsyncResult) and isinstance(replied, AsyncResult)
    assert not called.done() and not replied.done()  # the reply is blocked on the gate: not waited for
    gate.open()
    assert called.content == "Hello" and replied.result(timeout=30).content == "Hello"
    assert agent.history() == ["reply one", "reply two"]


def test_async_func_methods_return_placeholders_others_return_values(module_server: Any, gate: Gate) -> None:
    agent = Judge("custom", gate=gate.path, to_dist=module_server.options)
    pending = agent.work(1)
    assert isinstance(pending, AsyncResult) and not pending.done()
    gate.open()
    assert pending.result(timeout=30) == 1

    verdict = agent.judge("72354rfv$PASS$")
    assert verdict is True
    assert agent.judge("diuafhsua$FAIL$") is False
    if agent.judge("no pass here"):  # 0.1.6 programs branch on it: a placeholder would always be truthy
        pytest.fail("a synchronous method returned something truthy for False")
    msg = Msg("user", {"k": [1, 2]}, "user")
    echoed = agent.echo_msg(msg)
    assert type(echoed) is Msg and echoed.content == {"k": [1, 2]} and echoed.id == msg.id
    assert agent.echo_basic(7) == 7 and agent.echo_basic(None) is None
    assert agent.nothing() is None
    assert agent.count() == 1  # @sync_func: a value as well
    assert agent["x"] == "item x"  # @sync_func on a dunder: forwarded, synchronous


def test_sync_methods_run_after_earlier_calls_of_the_same_caller(module_server: Any) -> None:
    agent = Judge("fifo", to_dist=module_server.options)
    first = agent.work(1)
    second = agent.work(2)
    reply = agent(Msg("user", "r", "user"))
    assert agent.count() == 3  # 0.1.6 ran it beside the async calls (0); here it waits its turn
    assert agent.judge("$PASS$") is True
    third = agent.work(4)
    assert agent.count() == 7
    assert (first.result(timeout=30), second.result(timeout=30), third.result(timeout=30)) == (1, 3, 7)
    assert reply.content == "Hello"
    assert agent.history() == ["work 1", "work 2", "reply r", "judge $PASS$", "work 4"]


def test_errors_of_async_and_sync_methods(module_server: Any) -> None:
    agent = Judge("errors", to_dist=module_server.options)
    later = agent.fail_later()
    assert isinstance(later, AsyncResult)
    with pytest.raises(AgentCallError, match="Demo Error, later"):
        later.result(timeout=30)
    with pytest.raises(AgentCallError, match="Demo Error") as info:
        agent.fail()  # raised by the call itself: synchronous
    assert info.value.remote_type == "RuntimeError"
    assert agent.judge("$PASS$") is True  # the agent is fine afterwards


def test_observe_returns_at_once_and_keeps_its_order(module_server: Any, gate: Gate) -> None:
    agent = Judge("listener", gate=gate.path, to_dist=module_server.options)
    replied = agent(Msg("user", "first", "user"))  # blocks the mailbox until the gate opens
    start = time.monotonic()
    results = [agent.observe(Msg("user", f"heard {i}", "user")) for i in range(20)]
    issued_in = time.monotonic() - start
    assert results == [None] * 20
    assert not replied.done()  # nothing above waited for the blocked reply
    later = agent(Msg("user", "second", "user"))
    gate.open()
    assert later.content == "Hello" and replied.content == "Hello"
    expected = ["reply first"] + [f"observe heard {i}" for i in range(20)] + ["reply second"]
    assert agent.history() == expected
    memory = [m.content for m in agent.get_memory()]
    assert memory == [f"heard {i}" for i in range(20)]
    assert issued_in < 20  # generous: 20 fire-and-forget sends, not 20 waits for a 60 s gate


@pytest.mark.parametrize("next_call", ["reply", "sync method", "async method"])
def test_failed_observe_surfaces_on_the_next_call(module_server: Any, next_call: str) -> None:
    agent = Judge("picky", to_dist=module_server.options)
    assert agent.judge("$PASS$") is True  # created and answering
    assert agent.observe(Msg("user", "indigestible", "user")) is None  # returns at once
    with pytest.raises(AgentCallError, match="cannot observe that"):
        # the very next call to that agent, issued at once: raised by the call or by its placeholder
        if next_call == "reply":
            agent(Msg("user", "after", "user")).result(timeout=30)
        elif next_call == "sync method":
            agent.judge("after")
        else:
            agent.work(1).result(timeout=30)
    assert agent.judge("$PASS$") is True  # raised once; the agent goes on
    assert "observe indigestible" not in agent.history()


def test_failed_observe_surfaces_on_a_later_call(module_server: Any) -> None:
    agent = Judge("picky-later", to_dist=module_server.options)
    agent.observe(Msg("user", "indigestible", "user"))
    agent.observe(Msg("user", "fine", "user"))
    deadline = time.monotonic() + 30
    error = None
    while error is None and time.monotonic() < deadline:
        try:
            agent.count()
        except AgentCallError as err:
            error = err
    assert error is not None and "cannot observe that" in str(error)
    assert agent.history()[-1] == "observe fine"  # order kept: the next observe still ran
