"""`ServerFleet` and `launch_local_fleet`: placing agents over real loopback servers.

Every fleet here starts real agent server subprocesses (`launch_local_fleet`)
or wraps ones from the `server_factory` fixture; agents are created through
`to_dist=fleet` and `agent.to_dist(fleet)` and then called for real.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterator

import pytest

from agentscope_rpc.deploy import (
    LeastLoaded, RoundRobin, ServerAddress, ServerFleet, launch_local_fleet, server_info,
)
from agentscope_rpc.exception import AgentServerError, AgentServerNotAliveError
from agentscope_rpc.message import Msg
from agentscope_rpc.rpc import RemoteAgent
from dist_agents import Appender, Calculator

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def local_fleet() -> Iterator[ServerFleet]:
    fleet = launch_local_fleet(3)
    try:
        yield fleet
    finally:
        fleet.stop()


def server_of(agent: RemoteAgent) -> str:
    return agent.endpoint.address


def settle(agents: list) -> None:
    """Wait until each agent is built: creation is pipelined, and servers count
    only the agents they have built."""
    for agent in agents:
        agent.wait_ready(timeout=30)


def test_the_public_names_of_the_deploy_package_are_pinned() -> None:
    import agentscope_rpc.deploy as deploy

    assert set(deploy.__all__) == {
        "ServerAddress", "ServerFleet", "launch_local_fleet", "PlacementPolicy", "RoundRobin", "LeastLoaded",
        "server_info", "start_ray_fleet", "RayFleet",
    }


# -- addresses -----------------------------------------------------------------------
@pytest.mark.parametrize("spec, expected", [
    ("10.0.0.2:7100", ("10.0.0.2", 7100, "tok")),
    ("[::1]:7100", ("::1", 7100, "tok")),
    (("h", "7100"), ("h", 7100, "tok")),
    ({"host": "h", "port": 7100, "token": "own"}, ("h", 7100, "own")),
    (ServerAddress("h", 1, "kept"), ("h", 1, "kept")),
])
def test_addresses_are_read_from_every_usual_form(spec: object, expected: tuple) -> None:
    address = ServerAddress.parse(spec, token="tok")
    assert (address.host, address.port, address.token) == expected


@pytest.mark.parametrize("spec", ["no-port", "h:", ":7100", "h:port", ("h", "x"), {"host": "h"},
                                  {"host": "h", "port": 1, "pot": 2}, ("h", 70000), 42])
def test_bad_addresses_are_refused_clearly(spec: object) -> None:
    with pytest.raises(ValueError):
        ServerAddress.parse(spec)


def test_an_address_keeps_its_token_out_of_repr_and_gives_to_dist_options() -> None:
    address = ServerAddress("h", 7100, "s3cret", tls=(("tls_server_name", "srv"),))
    assert "s3cret" not in repr(address)
    assert address.options() == {"host": "h", "port": 7100, "token": "s3cret", "tls_server_name": "srv"}
    assert ServerAddress("::1", 7100).address == "[::1]:7100"


# -- round robin ---------------------------------------------------------------------
def test_round_robin_places_agents_on_each_server_in_turn(local_fleet: ServerFleet) -> None:
    order = [s.address for s in local_fleet.endpoints()]
    agents = [Appender(f"rr{i}", to_dist=local_fleet) for i in range(6)]
    placed = [server_of(a) for a in agents]
    start = order.index(placed[0])
    assert placed == [order[(start + i) % 3] for i in range(6)]
    replies = [a(Msg("user", "hi ", role="user")) for a in agents]
    assert [r.result(timeout=30).content for r in replies] == [f"hi rr{i}" for i in range(6)]
    assert len({server_info(s)["pid"] for s in local_fleet.endpoints()}) == 3  # three server processes
    for agent in agents:
        agent.delete()


def test_an_existing_agent_moves_to_the_fleet_with_its_memory(local_fleet: ServerFleet) -> None:
    local = Calculator("mover")
    local.memory.add(Msg("user", "remember me", role="user"))
    remote = local.to_dist(local_fleet)
    assert isinstance(remote, RemoteAgent)
    assert server_of(remote) in {s.address for s in local_fleet.endpoints()}
    assert [m.content for m in remote.get_memory()] == ["remember me"]
    assert remote.add(2, 3) == 5  # a plain method returns its value (AgentScope 0.1.6)
    remote.delete()


def test_a_custom_policy_object_decides(local_fleet: ServerFleet) -> None:
    class Last:
        def choose(self, servers: list) -> ServerAddress:
            return servers[-1]

    fleet = ServerFleet(local_fleet.endpoints(), policy=Last())
    agents = [Appender(f"last{i}", to_dist=fleet) for i in range(3)]
    assert {server_of(a) for a in agents} == {local_fleet.endpoints()[-1].address}
    for agent in agents:
        agent.delete()


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="round_robin, least_loaded"):
        ServerFleet(["h:1"], policy="busiest")
    with pytest.raises(TypeError, match="choose"):
        ServerFleet(["h:1"], policy=object())


# -- least loaded ----------------------------------------------------------------------
def test_least_loaded_fills_the_emptiest_servers_first(server_factory: object) -> None:
    busy, idle = server_factory(), server_factory()
    early = [Appender(f"early{i}", to_dist=busy.options) for i in range(3)]
    settle(early)
    fleet = ServerFleet([busy.options, idle.options], policy="least_loaded")
    assert fleet.agent_counts() == {f"127.0.0.1:{busy.port}": 3, f"127.0.0.1:{idle.port}": 0}
    later = [Appender(f"ll{i}", to_dist=fleet) for i in range(5)]
    placed = [server_of(a) for a in later]
    idle_address = f"127.0.0.1:{idle.port}"
    assert placed[:3] == [idle_address] * 3  # the idle server catches up first
    assert Counter(placed) == {idle_address: 4, f"127.0.0.1:{busy.port}": 1}  # then they alternate
    settle(later)
    assert set(fleet.agent_counts().values()) == {4}
    assert len(early) == 3


def test_least_loaded_counts_what_the_servers_report_after_deletions(server_factory: object) -> None:
    a, b = server_factory(), server_factory()
    fleet = ServerFleet([a.options, b.options], policy=LeastLoaded(refresh_s=0.0))
    first = [Appender(f"d{i}", to_dist=fleet) for i in range(4)]
    settle(first)
    assert Counter(server_of(x) for x in first) == {f"127.0.0.1:{a.port}": 2, f"127.0.0.1:{b.port}": 2}
    for agent in first:
        if agent.endpoint.port == a.port:
            agent.delete()  # a is empty now; with refresh_s=0 the next placements see it
    assert [server_of(Appender(f"e{i}", to_dist=fleet)) for i in range(2)] == [f"127.0.0.1:{a.port}"] * 2


def test_least_loaded_skips_a_dead_server_and_says_when_none_answers(server_factory: object) -> None:
    alive, doomed = server_factory(), server_factory()
    fleet = ServerFleet([doomed.options, alive.options], policy=LeastLoaded(refresh_s=0.0))
    doomed.stop()
    placed = {server_of(Appender(f"s{i}", to_dist=fleet)) for i in range(3)}
    assert placed == {f"127.0.0.1:{alive.port}"}
    assert fleet.agent_counts()[f"127.0.0.1:{doomed.port}"] is None
    alive.stop()
    with pytest.raises(AgentServerNotAliveError, match="none of the fleet's 2 agent server"):
        Appender("nowhere", to_dist=fleet)


def test_least_loaded_with_a_wrong_token_fails_loudly(server: object) -> None:
    fleet = ServerFleet([{"host": "127.0.0.1", "port": server.port, "token": "wrong"}], policy="least_loaded")
    with pytest.raises(AgentServerError, match="token"):
        fleet.place()


# -- lifetime ----------------------------------------------------------------------------
def test_a_fleet_of_given_servers_leaves_them_running(server: object) -> None:
    with ServerFleet([server.options]) as fleet:
        agent = Appender("stays", to_dist=fleet)
    assert fleet.stopped
    assert agent(Msg("user", "still ", role="user")).result(timeout=30).content == "still stays"
    assert server_info(ServerAddress.parse(server.options))["agent_count"] == 1
    with pytest.raises(RuntimeError, match="stopped"):
        Appender("late", to_dist=fleet)


def test_a_launched_fleet_stops_its_servers() -> None:
    with launch_local_fleet(2, policy=RoundRobin()) as fleet:
        addresses = fleet.endpoints()
        assert len({a.port for a in addresses}) == 2 and len({a.token for a in addresses}) == 1
        assert all(server_info(a)["agent_count"] == 0 for a in addresses)
    for address in addresses:
        with pytest.raises(AgentServerNotAliveError):
            server_info(address)


def test_an_empty_fleet_places_nothing_and_never_builds_the_agent_here() -> None:
    with pytest.raises(AgentServerNotAliveError, match="no agent server up"):
        Appender("homeless", to_dist=ServerFleet())
    with pytest.raises(ValueError, match="at least one server"):
        launch_local_fleet(0)
