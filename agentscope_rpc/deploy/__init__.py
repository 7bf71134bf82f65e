"""Deploying agent servers: fleets that `to_dist` places agents on.

`ServerFleet` (a list of running servers), `launch_local_fleet` (servers
started here), and, with the `ray` extra, `start_ray_fleet` / `RayFleet`
(servers placed and restarted by a Ray cluster; imported on first use).
"""
from __future__ import annotations

from typing import Any

from .address import ServerAddress
from .fleet import ServerFleet, launch_local_fleet
from .placement import LeastLoaded, PlacementPolicy, RoundRobin
from .server_info import server_info

_RAY_NAMES = ("start_ray_fleet", "RayFleet")


def __getattr__(name: str) -> Any:
    if name in _RAY_NAMES:  # only now: importing ray is slow and it is an optional extra
        from . import ray as ray_fleet

        return getattr(ray_fleet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ServerAddress",
    "ServerFleet",
    "launch_local_fleet",
    "PlacementPolicy",
    "RoundRobin",
    "LeastLoaded",
    "server_info",
    "start_ray_fleet",
    "RayFleet",
]
