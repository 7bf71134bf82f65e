"""AgentScope 0.1.6's environments: `agentscope_rpc.environment` (issue 9, item 3).

Local behaviour (names, children, listeners, event functions) and, once the
core hosts non-agent objects, distributed envs on real servers: sync and
async methods on the proxy, an env moved with `to_dist()`, and a group env
that creates its participants on another server and fans a round out.
"""
from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import threading
from typing import Any, List, Optional

import pytest

import agentscope_rpc.rpc as rpc_api
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.environment import (
    BasicEnv,
    Env,
    EnvAlreadyExistError,
    EnvError,
    EnvNotFoundError,
    Event,
    EventListener,
    event_func,
)
from agentscope_rpc.environment.event import Getable, Setable
from agentscope_rpc.exception import AgentCallError
from agentscope_rpc.message import Msg


class Recorder(EventListener):
    """Keeps every (env name, event) it is called with."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list = []

    def __call__(self, env: Env, event: Event) -> None:
        self.seen.append((env.name, event.name, event.args, event.returns))


class Counter(BasicEnv, Getable, Setable):
    """An env with a value, as 0.1.6's chatroom example builds them."""

    def __init__(self, name: str, value: int = 0, listeners: Optional[dict] = None,
                 children: Optional[List[Env]] = None) -> None:
        super().__init__(name=name, listeners=listeners, children=children)
        self.value = value

    @event_func
    def get(self) -> int:
        return self.value

    @event_func
    def set(self, value: int) -> bool:
        self.value = value
        return True

    @event_func
    def add(self, amount: int, times: int = 1) -> int:
        self.value += amount * times
        return self.value

    def describe(self, **kwargs: Any) -> str:
        return f"{self.name} = {self.value}"


# -- the API surface ------------------------------------------------------------------------
def test_v0_names_are_exported():
    import agentscope_rpc.environment as environment

    for name in ("Event", "event_func", "Env", "BasicEnv", "EventListener"):
        assert name in environment.__all__ and hasattr(environment, name)
    assert issubclass(EnvNotFoundError, EnvError) and issubclass(EnvNotFoundError, KeyError)


def test_importing_environments_does_not_load_the_transport():
    code = "import sys, agentscope_rpc.environment; print('grpc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_env_is_abstract_and_distributable():
    with pytest.raises(TypeError):
        Env()  # pylint: disable=abstract-class-instantiated

    class Half(Env):  # implements nothing
        pass

    with pytest.raises(TypeError):
        Half()  # pylint: disable=abstract-class-instantiated
    assert Env.__agentscope_distributable__ is True and Counter.__agentscope_distributable__ is True


# -- names and children -----------------------------------------------------------------------
def test_children_form_a_named_tree():
    leaf = BasicEnv("leaf")
    mid = BasicEnv("mid", children=[leaf])
    root = BasicEnv("root", children=[mid])
    assert root.name == "root"
    assert root["mid"]["leaf"] is leaf
    assert root.get_children() == {"mid": mid}
    assert root.add_child(BasicEnv("other")) is True
    assert root.add_child(BasicEnv("other")) is False  # the name is taken; the first stays
    assert sorted(root.get_children()) == ["mid", "other"]
    assert root.remove_child("other") is True
    assert root.remove_child("other") is False
    assert "leaf" in repr(mid)


def test_missing_child_and_taken_name_raise_v0_errors():
    root = BasicEnv("root")
    with pytest.raises(EnvNotFoundError, match="Env nowhere not found"):
        root["nowhere"]  # pylint: disable=pointless-statement
    child = BasicEnv("child")
    root["c"] = child
    assert root["c"] is child
    with pytest.raises(EnvAlreadyExistError):
        root["c"] = BasicEnv("again")
    assert root["c"] is child
    with pytest.raises(TypeError, match="only an Env"):
        root["d"] = "not an env"
    assert "d" not in root.get_children()


def test_env_errors_pickle_with_their_message():
    for err in (EnvNotFoundError("x"), EnvAlreadyExistError("y")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)


def test_basic_env_has_no_description_and_needs_a_name():
    with pytest.raises(NotImplementedError):
        BasicEnv("plain").describe()
    with pytest.raises(TypeError):
        BasicEnv("")
    assert Counter("c", 3).describe() == "c = 3"


# -- listeners and event functions ------------------------------------------------------------
def test_event_function_calls_listeners_with_arguments_and_returns():
    rec = Recorder("rec")
    env = Counter("counter", 1, listeners={"add": rec})
    assert env.add(2) == 3  # the event function's own value is passed on
    assert env.add(amount=1, times=4) == 7
    assert rec.seen == [
        ("counter", "add", {"amount": 2, "times": 1}, 3),  # defaults applied, no self
        ("counter", "add", {"amount": 1, "times": 4}, 7),
    ]
    env.get()
    assert len(rec.seen) == 2  # a listener hears only the event it is bound to


def test_listeners_from_the_constructor_single_or_list():
    a, b, c = Recorder("a"), Recorder("b"), Recorder("c")
    env = Counter("counter", listeners={"set": [a, b], "get": c})
    assert [ls.name for ls in env.get_listeners("set")] == ["a", "b"]
    assert env.get_listeners("get") == [c]
    assert env.get_listeners("add") == []
    env.set(5)
    assert a.seen == b.seen == [("counter", "set", {"value": 5}, True)]
    assert c.seen == []


def test_add_and_remove_listener_rules(caplog):
    env = Counter("counter")
    caplog.set_level(logging.WARNING)
    assert env.add_listener("set", Recorder("r")) is True
    assert env.add_listener("set", Recorder("r")) is False  # that name is bound already
    assert env.add_listener("no_such_event", Recorder("x")) is False
    assert "no_such_event" in caplog.text
    assert env.remove_listener("set", "missing") is False
    assert env.remove_listener("nothing_bound", "r") is False
    assert env.remove_listener("set", "r") is True
    assert env.get_listeners("set") == []
    with pytest.raises(TypeError, match="listener"):
        env.add_listener("set", object())  # not callable, no name


def test_several_listeners_of_one_event_run_in_parallel():
    barrier = threading.Barrier(2, timeout=10)

    class Meets(EventListener):
        def __call__(self, env: Env, event: Event) -> None:
            barrier.wait()  # passes only if the other listener runs at the same time

    env = Counter("counter", listeners={"set": [Meets("one"), Meets("two")]})
    assert env.set(1) is True


def test_a_failing_listener_raises_after_all_listeners_ran():
    rec = Recorder("after")

    class Boom(EventListener):
        def __call__(self, env: Env, event: Event) -> None:
            raise ValueError("listener broke")

    env = Counter("counter", listeners={"set": [Boom("boom"), rec]})
    with pytest.raises(ValueError, match="listener broke"):
        env.set(9)
    assert env.value == 9  # the event itself happened
    assert rec.seen == [("counter", "set", {"value": 9}, True)]


def test_a_listener_may_trigger_another_event():
    class Echoes(EventListener):
        def __call__(self, env: Env, event: Event) -> None:
            env.add(event.args["value"])

    rec = Recorder("rec")
    env = Counter("counter", listeners={"set": Echoes("echo"), "add": rec})
    env.set(10)
    assert env.value == 20
    assert rec.seen == [("counter", "add", {"amount": 10, "times": 1}, 20)]


def test_event_func_keeps_the_method_name():
    assert Counter.add.__name__ == "add"
    assert Counter.__dict__["add"].__wrapped__.__qualname__ == "Counter.add"


def test_event_func_refuses_async_functions():
    with pytest.raises(TypeError, match="async"):
        @event_func
        async def later(self):  # pragma: no cover - never runs
            return None


def test_event_roundtrips_through_pickle():
    event = Event("set", {"value": 1}, True)
    back = pickle.loads(pickle.dumps(event))
    assert (back.name, back.args, back.returns) == ("set", {"value": 1}, True)
    assert "set" in repr(back)


# -- construction, as for agents --------------------------------------------------------------
def test_constructor_arguments_are_recorded_once_and_to_dist_false_is_local():
    env = Counter("c", value=4, to_dist=False)
    assert isinstance(env, Counter) and env.value == 4
    assert env.__dict__["_init_settings"] == (("c",), {"value": 4})  # the outermost call
    assert Counter("d", to_dist=None).value == 0


def test_unknown_to_dist_option_is_a_clear_error():
    with pytest.raises(TypeError, match="bogus"):
        Counter("c", to_dist={"host": "127.0.0.1", "port": 1, "bogus": True})


# -- distributed (real servers; needs the core's hosting of any distributable object) ---------
async_func = getattr(rpc_api, "async_func", None)
needs_core = pytest.mark.skipif(
    async_func is None,
    reason="the core does not host non-agent objects yet (agentscope_rpc.rpc.async_func missing)",
)

if async_func is not None:
    class Player(AgentBase):
        """Replies with a fixed number."""

        def __init__(self, name: str, number: int) -> None:
            super().__init__(name, use_memory=False)
            self.number = number

        def reply(self, x: Optional[Msg] = None) -> Msg:
            return Msg(self.name, self.number, role="assistant")

    class Table(BasicEnv):
        """A group env: builds its players on another server, fans a round out."""

        def __init__(self, name: str, numbers: list, where: Optional[dict] = None) -> None:
            super().__init__(name)
            self.players = [Player(f"p{i}", n, to_dist=where) for i, n in enumerate(numbers)]
            self.rounds = 0

        @async_func
        def play(self, round_no: int) -> dict:
            self.rounds += 1
            pending = [p(Msg("table", f"round {round_no}", role="user")) for p in self.players]
            values = [r.content for r in pending]
            return {"sum": sum(values), "cnt": len(values)}

        def played(self) -> int:
            return self.rounds

        def describe(self, **kwargs: Any) -> str:
            return f"{self.name}: {len(self.players)} players"

    class Tally(EventListener):
        """Counts the events on the env it listens to, into the env itself."""

        def __call__(self, env: Env, event: Event) -> None:
            env.value += 100

    class Bell(Counter):
        """An event function that is also an async method."""

        @async_func
        @event_func
        def ring(self, times: int = 1) -> int:
            self.value += times
            return self.value


@needs_core
def test_sync_methods_return_values_and_async_ones_placeholders(server):
    env = Counter("remote", 5, to_dist=server.options)
    assert env.get() == 5  # a plain value, not a placeholder
    assert env.set(7) is True
    assert env.add(1, times=3) == 10
    assert env.describe() == "remote = 10"
    assert env.name == "remote"
    table = Table("t", [1, 2, 3], to_dist=server.options)
    pending = table.play(0)
    assert isinstance(pending, rpc_api.AsyncResult)
    assert pending.result(timeout=30) == {"sum": 6, "cnt": 3}
    assert table.played() == 1


@needs_core
def test_remote_env_errors_reach_the_caller(server):
    env = Counter("remote", to_dist=server.options)
    with pytest.raises(AgentCallError) as info:
        env.add_listener("set", object())  # refused on the server: not a listener
    assert info.value.remote_type == "TypeError" and "listener" in str(info.value)
    assert env.get_listeners("set") == [] and env.get() == 0  # the env is still there and answers


@needs_core
def test_remote_children_by_name(server):
    env = Counter("remote", children=[BasicEnv("kid")], to_dist=server.options)
    assert env["kid"].name == "kid"  # v0: __getitem__ on a proxy is synchronous
    with pytest.raises(AgentCallError) as info:
        env["missing"]  # pylint: disable=pointless-statement
    assert info.value.remote_type == "EnvNotFoundError"
    assert sorted(env.get_children()) == ["kid"]


@needs_core
def test_listeners_travel_with_the_env(server):
    env = Counter("remote", 1, listeners={"set": Tally("tally")}, to_dist=server.options)
    env.set(2)
    assert env.get() == 102  # the listener ran on the server, on the env itself


@needs_core
def test_an_async_event_function_returns_a_placeholder_and_fires_listeners(server):
    env = Bell("bell", listeners={"ring": Tally("tally")}, to_dist=server.options)
    pending = env.ring(2)
    assert isinstance(pending, rpc_api.AsyncResult)
    assert pending.result(timeout=30) == 2  # the method's value; the listener ran after it
    assert env.get() == 102


@needs_core
def test_to_dist_moves_an_existing_env(server):
    local = Counter("moved", 3)
    remote = local.to_dist(**server.options)
    assert remote.get() == 3
    remote.set(8)
    assert remote.get() == 8 and local.value == 3  # the server's copy, not ours


@needs_core
def test_a_group_env_creates_participants_on_another_server(server_factory):
    env_server, agent_server = server_factory(), server_factory()
    table = Table("group", [10, 20, 30, 40], where=agent_server.options, to_dist=env_server.options)
    assert table.play(0).result(timeout=60) == {"sum": 100, "cnt": 4}
    assert table.play(1).result(timeout=60) == {"sum": 100, "cnt": 4}
    assert table.played() == 2
    assert table.describe() == "group: 4 players"
