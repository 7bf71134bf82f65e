"""Agent servers placed by a real multi-node Ray cluster (`agentscope_rpc.deploy.ray`).

One `LocalRayCluster` per module: a head and two worker raylets on this
machine, each its own loopback address (127.0.0.2-4).  The module's fleet
puts one server on each node; tests play werewolf across it (the example's
own game code, the policy model streaming its talk), kill a server process
and watch Ray restart it, and take a whole node away mid-game.  Skipped,
with the reason, only where Ray is missing or cannot start.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'agentscope-rpc[ray]')")

from agentscope_rpc.agents import DialogAgent  # noqa: E402
from agentscope_rpc.deploy import LeastLoaded, server_info  # noqa: E402
from agentscope_rpc.deploy.ray import RayFleet, plan_bundles, start_ray_fleet  # noqa: E402
from agentscope_rpc.deploy.ray_local import LocalRayCluster  # noqa: E402
from agentscope_rpc.exception import AgentServerNotAliveError  # noqa: E402
from agentscope_rpc.message import Msg  # noqa: E402
from dist_agents import Appender  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "distributed"
sys.path.insert(0, str(EXAMPLES))
from werewolf.game import Moderator, PlayersLostError, assign_roles  # noqa: E402
from werewolf.players import WerewolfPlayer  # noqa: E402

pytestmark = pytest.mark.timeout(240)
NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
CPUS = 0.25  # per server: several fleets fit on the 1-CPU nodes at once


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    local = LocalRayCluster(nodes=3)
    attempts = 3  # Ray gives a node a fixed 30 s to register; a loaded machine can miss that (seen once in 3 suites)
    for attempt in range(1, attempts + 1):
        try:
            local.start()
            break
        except Exception as err:  # pylint: disable=broad-except
            local.shutdown()
            if attempt == attempts:
                pytest.skip(f"a local Ray cluster cannot start here ({attempts} tries): {type(err).__name__}: {err}")
            time.sleep(5)  # let the last try's processes go before the next
    try:
        yield local
    finally:
        local.shutdown()


@pytest.fixture(scope="module")
def fleet(cluster: LocalRayCluster) -> Iterator[RayFleet]:
    # connects this process to the cluster (the fleet owns that connection)
    started = start_ray_fleet(cluster.address, servers=3, cpus_per_server=CPUS,
                              ray_init_options=cluster.init_options, ready_timeout=180)
    try:
        yield started
    finally:
        started.stop()


def seat_players(fleet: RayFleet, seed: int = 1) -> tuple:
    roles = assign_roles(NAMES, __import__("random").Random(seed))
    spoken: list = []
    players = []
    for i, name in enumerate(NAMES):
        config = {"config_name": f"policy-{i}", "model_type": "werewolf_policy", "seed": i, "stream": True}
        player = WerewolfPlayer(name, roles[name], NAMES, model_config=config, to_dist=fleet)
        player.register_hook("pre_speak", "heard", lambda agent, msg, stream, last: spoken.append(
            (agent.name, msg.id, stream, last, str(msg.content))))
        players.append(player)
    return players, roles, spoken


# -- placement -------------------------------------------------------------------------
def test_the_ray_names_come_from_the_deploy_package_on_first_use() -> None:
    import agentscope_rpc.deploy as deploy

    assert deploy.start_ray_fleet is start_ray_fleet and deploy.RayFleet is RayFleet
    assert all(hasattr(deploy, name) for name in deploy.__all__)
    with pytest.raises(AttributeError):
        deploy.no_such_name  # noqa: B018


@pytest.mark.parametrize("servers, nodes, per_node, plan", [
    (3, 3, 1, [1, 1, 1]), (4, 3, 2, [2, 1, 1]), (2, 5, 1, [1, 1]), (6, 3, 2, [2, 2, 2]), (1, 1, 4, [1]),
])
def test_servers_are_dealt_over_as_many_nodes_as_possible(servers: int, nodes: int, per_node: int,
                                                          plan: list) -> None:
    assert plan_bundles(servers, nodes, per_node) == plan


def test_a_plan_that_needs_more_nodes_than_there_are_is_refused() -> None:
    with pytest.raises(ValueError, match="need 4 Ray node"):
        plan_bundles(4, 3, 1)
    with pytest.raises(ValueError, match="servers >= 1"):
        plan_bundles(0, 3, 1)


def test_servers_land_on_distinct_nodes_binding_their_own_address(fleet: RayFleet) -> None:
    status = fleet.status()
    node_ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
    assert [s["state"] for s in status] == ["up"] * 3
    assert len({s["node_id"] for s in status}) == 3 and {s["node_id"] for s in status} <= set(node_ips)
    for entry in status:
        address = entry["address"]
        assert address.host == node_ips[entry["node_id"]]  # the node's own IP, 127.0.0.2-4
        assert int(server_info(address)["pid"]) == entry["pid"] != os.getpid()
    assert len({s["address"].host for s in status}) == 3
    assert len(fleet.token) >= 32  # 256 bits, urlsafe
    for entry in status:  # the token reached the server neither by argv nor by environment
        for leak in ("cmdline", "environ"):
            assert fleet.token.encode() not in Path(f"/proc/{entry['pid']}/{leak}").read_bytes()


def test_to_dist_places_round_robin_or_least_loaded_across_the_nodes(fleet: RayFleet) -> None:
    order = [s.address for s in fleet.endpoints()]
    agents = [Appender(f"rr{i}", to_dist=fleet) for i in range(6)]
    placed = [a.endpoint.address for a in agents]
    assert Counter(placed) == {address: 2 for address in order}
    assert [a(Msg("user", "to ", role="user")).result(timeout=30).content for a in agents] == \
        [f"to rr{i}" for i in range(6)]
    busiest = next(s for s in fleet.endpoints() if s.address == placed[0])
    extra = Appender("extra", to_dist=busiest.options()).wait_ready(timeout=30)  # counted by its server
    policy, fleet.policy = fleet.policy, LeastLoaded(refresh_s=0.0)
    try:  # the server with the extra agent is skipped until the others catch up
        later = [Appender(f"ll{i}", to_dist=fleet).endpoint.address for i in range(2)]
    finally:
        fleet.policy = policy
    assert sorted(later) == sorted(a for a in order if a != placed[0])
    for agent in agents + [extra]:
        agent.delete()


# -- werewolf across the fleet -------------------------------------------------------------
def test_a_werewolf_game_completes_across_the_ray_fleet_with_live_speech(fleet: RayFleet) -> None:
    players, roles, spoken = seat_players(fleet)
    try:
        assert len({p.endpoint.address for p in players}) == 3  # two players per node
        result = Moderator(players, roles, max_rounds=3, seed=1, call_timeout=60).run()
        assert result.winner in ("werewolves", "villagers", "draw") and result.rounds >= 1
        talk = [s for s in spoken if s[2]]  # chunks streamed from the servers
        assert {s[0] for s in talk} == set(NAMES)
        finished = Counter(s[0] for s in talk if s[3])
        by_message = Counter(s[1] for s in talk)
        assert all(count >= 2 for count in by_message.values())  # token by token, not one piece
        assert sum(finished.values()) == len(by_message)  # each message ended exactly once
    finally:
        for player in players:
            player.delete()


# -- failures --------------------------------------------------------------------------------
def test_a_killed_server_is_restarted_by_ray_and_takes_new_agents(fleet: RayFleet) -> None:
    before = fleet.status()[0]
    doomed = Appender("doomed", to_dist=before["address"].options())
    assert doomed(Msg("user", "hi ", role="user")).result(timeout=30).content == "hi doomed"
    os.kill(before["pid"], signal.SIGKILL)
    with pytest.raises(AgentServerNotAliveError):
        doomed(Msg("user", "again ", role="user")).result(timeout=30)
    status = fleet.wait_for(lambda s: s[0]["state"] == "up" and s[0]["restarts"] == before["restarts"] + 1,
                            timeout=120)
    after = status[0]
    assert after["pid"] != before["pid"] and after["node_id"] == before["node_id"]  # same node, new process
    assert int(server_info(after["address"])["agent_count"]) == 0  # state is not restored
    with pytest.raises(AgentServerNotAliveError):  # the old proxy, after the restart too
        doomed(Msg("user", "after ", role="user")).result(timeout=30)
    fresh = [Appender(f"fresh{i}", to_dist=fleet) for i in range(3)]
    on_restarted = [a for a in fresh if a.endpoint.address == after["address"].address]
    assert len(on_restarted) == 1
    assert on_restarted[0](Msg("user", "back ", role="user")).result(timeout=30).content.startswith("back fresh")
    assert int(server_info(after["address"])["agent_count"]) == 1
    for agent in fresh:
        agent.delete()


def test_a_server_stopped_from_outside_is_restarted_too(fleet: RayFleet) -> None:
    before = fleet.status()[1]
    address = before["address"]
    env = dict(os.environ, AGENTSCOPE_RPC_TOKEN=fleet.token)  # never on the command line
    done = subprocess.run([sys.executable, "-m", "agentscope_rpc.server", "stop", "--host", address.host,
                           "--port", str(address.port)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    after = fleet.wait_for(lambda s: s[1]["state"] == "up" and s[1]["restarts"] == before["restarts"] + 1,
                           timeout=120)[1]
    assert after["pid"] != before["pid"]
    again = Appender("again", to_dist=after["address"].options())
    assert again(Msg("user", "", role="user")).content == "again"
    again.delete()


def test_removing_a_node_mid_game_ends_it_naming_the_lost_players(cluster: LocalRayCluster,
                                                                  fleet: RayFleet) -> None:
    victim = cluster.add_node()
    wide = start_ray_fleet(servers=4, cpus_per_server=CPUS, ready_timeout=180)  # 4 servers, 4 nodes
    removed_at: list = []
    try:
        on_victim = [s for s in wide.status() if s["node_id"] == victim.node_id]
        assert len(on_victim) == 1
        lost_address = on_victim[0]["address"].address
        players, roles, _ = seat_players(wide, seed=2)
        expected = [p.name for p in players if p.endpoint.address == lost_address]
        assert expected  # round-robin over 4 servers: one or two players live there

        def narrate(line: object) -> None:
            if line.text.startswith("Day 1") and not removed_at:
                cluster.remove_node(victim)  # abruptly: raylet and workers are killed
                removed_at.append(time.monotonic())

        moderator = Moderator(players, roles, max_rounds=3, seed=2, narrate=narrate, probe_timeout=10)
        with pytest.raises(PlayersLostError) as caught:
            moderator.run()
        elapsed = time.monotonic() - removed_at[0]
        assert caught.value.players == expected
        assert elapsed < 30, f"the loss took {elapsed:.1f}s to surface"
        print(f"node loss surfaced as PlayersLostError {elapsed:.2f}s after the node was removed")
        assert wide.wait_for(lambda s: s[on_victim[0]["index"]]["state"] != "up", timeout=60)
    finally:
        started = time.monotonic()
        wide.stop()  # also the server Ray cannot place again (its node is gone)
        assert time.monotonic() - started < 60
        cluster.wait_for_nodes()  # Ray's own view: the node is gone (later tests count nodes)
    assert fleet.status()[0]["state"] == "up"  # the module's fleet did not notice


def test_servers_can_share_nodes_and_load_model_configs_they_were_given(fleet: RayFleet) -> None:
    configs = [{"config_name": "fleet-scripted", "model_type": "scripted", "responses": ["from the fleet"]}]
    shared = start_ray_fleet(servers=4, servers_per_node=2, cpus_per_server=CPUS, model_configs=configs,
                             ready_timeout=180)
    try:
        nodes = Counter(s["node_id"] for s in shared.status())
        assert sorted(nodes.values()) == [1, 1, 2]
        agent = DialogAgent("talker", sys_prompt="", model_config_name="fleet-scripted", to_dist=shared)
        assert agent(Msg("user", "hello", role="user")).result(timeout=60).content == "from the fleet"
    finally:
        shared.stop()
    assert all(s["state"] == "stopped" for s in shared.status())


def test_a_server_that_cannot_start_fails_the_fleet_clearly(fleet: RayFleet) -> None:
    with pytest.raises(RuntimeError, match="(?s)could not start.*not a directory"):
        start_ray_fleet(servers=1, cpus_per_server=CPUS, agent_dirs=["/nonexistent/agents"], ready_timeout=120)
    with pytest.raises(ValueError, match="need 4 Ray node"):
        start_ray_fleet(servers=4, cpus_per_server=CPUS)
    with pytest.raises(ValueError, match="server_options cannot set token"):
        start_ray_fleet(servers=1, server_options={"token": "x"})
    with pytest.raises(ValueError, match="port=0"):
        start_ray_fleet(servers=2, servers_per_node=2, port=7100)


def test_the_werewolf_example_plays_on_the_ray_cluster(cluster: LocalRayCluster) -> None:
    """`main.py --ray ADDRESS`: the example starts its servers on the cluster and stops them after."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "werewolf" / "main.py"), "--ray", cluster.address,
         "--ray-node-ip", cluster.head_ip, "--ray-servers", "2", "--ray-cpus", str(CPUS), "--policy", "--rounds", "2", "--seed", "4",
         "--color", "never"],
        capture_output=True, text=True, timeout=200, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Game over after" in done.stdout
    where = {line.split(" on ")[-1] for line in done.stdout.splitlines() if line.startswith("  ") and " on " in line}
    assert len(where) == 2, done.stdout[:2000]  # six players over the fleet's two servers
