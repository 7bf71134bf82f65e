"""Ray fleet benchmark: 4 agent servers on a 3-node Ray cluster, 1,000 agents over them.

    python bench/ray_fleet.py [--servers 4] [--nodes 3] [--agents 1000] [--repeats 1]

A `LocalRayCluster` (head + workers on 127.0.0.2-4, 1 CPU each) is started
once; each repeat then times `start_ray_fleet` (servers spread over the
nodes, at most 2 per node), creating the agents with `to_dist=fleet`
until every one is built (round-robin, then as many again least-loaded), a killed
server coming back (Ray restarts it; the fleet learns its new port) and
`fleet.stop()`.  Prints one line `BENCH_JSON {"runs": [...], "notes": ...}`
(bench/_common.py's format); progress goes to stderr.  Needs the `ray`
extra.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time

if __package__ == "bench":
    from bench import _common
else:  # run as a script: bench/ is on sys.path
    import _common  # type: ignore[no-redef]

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv: list | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cpus-per-server", type=float, default=0.25)
    return parser.parse_args(argv)


def one_run(args: argparse.Namespace) -> dict:
    from agentscope_rpc.agents import AgentBase
    from agentscope_rpc.deploy import LeastLoaded
    from agentscope_rpc.deploy.ray import start_ray_fleet

    per_node = math.ceil(args.servers / args.nodes)
    started = _common.now()
    fleet = start_ray_fleet(servers=args.servers, servers_per_node=per_node,
                            cpus_per_server=args.cpus_per_server, ready_timeout=300)
    fleet_start = _common.now() - started
    try:
        nodes = len({s["node_id"] for s in fleet.status()})
        _common.note(f"{args.servers} servers up on {nodes} nodes in {fleet_start:.2f} s")

        started = _common.now()
        agents = [AgentBase(f"a{i}", to_dist=fleet) for i in range(args.agents)]
        for agent in agents:  # creation is pipelined: done when every server has built its agents
            agent.wait_ready(timeout=120)
        create_rr = _common.now() - started
        _common.note(f"{args.agents} agents (round-robin) in {create_rr:.2f} s")

        fleet.policy = LeastLoaded()
        started = _common.now()
        more = [AgentBase(f"b{i}", to_dist=fleet) for i in range(args.agents)]
        for agent in more:
            agent.wait_ready(timeout=120)
        create_ll = _common.now() - started
        _common.note(f"{args.agents} more (least-loaded) in {create_ll:.2f} s")
        counts = sorted(c or 0 for c in fleet.agent_counts().values())

        victim = fleet.status()[0]
        started = _common.now()
        os.kill(victim["pid"], signal.SIGKILL)
        fleet.wait_for(lambda s: s[0]["state"] == "up" and s[0]["restarts"] == victim["restarts"] + 1, 120)
        restart = _common.now() - started
        _common.note(f"killed server back (new port) in {restart:.2f} s")
    finally:
        started = _common.now()
        fleet.stop()
        stop = _common.now() - started
    return {
        "servers": args.servers, "nodes_used": nodes, "agents": args.agents,
        "fleet_start_s": round(fleet_start, 3),
        "create_round_robin_s": round(create_rr, 3),
        "create_round_robin_per_s": round(args.agents / create_rr, 1),
        "create_least_loaded_s": round(create_ll, 3),
        "create_least_loaded_per_s": round(args.agents / create_ll, 1),
        "agents_per_server": counts,
        "restart_s": round(restart, 3),
        "stop_s": round(stop, 3),
    }


def main() -> None:
    args = parse()
    from agentscope_rpc.deploy.ray_local import LocalRayCluster

    import ray

    cluster = LocalRayCluster(nodes=args.nodes)
    started = _common.now()
    code = 0
    try:
        cluster.start()
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False, **cluster.init_options)
        cluster_start = _common.now() - started
        _common.note(f"{args.nodes}-node Ray cluster up in {cluster_start:.2f} s")
        runs = []
        for _ in range(max(1, args.repeats)):
            run = one_run(args)
            run["cluster_start_s"] = round(cluster_start, 3)
            runs.append(run)
        _common.emit({"runs": runs, "notes": (
            f"LocalRayCluster: {args.nodes} raylets on 127.0.0.2-{args.nodes + 1}, 1 CPU each, one machine; "
            f"{args.cpus_per_server} CPU reserved per server; agents are AgentBase, created with to_dist=fleet (pipelined), "
            "timed until every server has built them (wait_ready); least-loaded refreshes the servers' counts every second")})
    except Exception as err:  # pylint: disable=broad-except
        _common.emit({"error": f"{type(err).__name__}: {err}"})
        code = 1
    finally:
        cluster.shutdown()
    sys.exit(code)


if __name__ == "__main__":
    main()
