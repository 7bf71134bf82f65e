"""No request body is buffered for an unauthenticated caller (issue 11 item 2, DESIGN §8).

`PARALLEL` tokenless requests, each with a body just under the server's
32 MiB cap, go to one RPC of each kind at once (unary, server-streaming,
bidi).  Every one is refused UNAUTHENTICATED, and the server's RSS (sampled
by this test with psutil) may grow by at most `GROWTH_MB` while they arrive
and stay there afterwards.  Before the core rebuild the unary and
server-streaming refusals ran only after the whole body arrived: about
31 MiB per request was held.  The new wire has no server-streaming agent
RPC; the health service's `Watch`, behind the same token gate, stands in.
"""
from __future__ import annotations

import concurrent.futures
import os

import grpc
import pytest

import raw_wire as raw
from fault_tools import RssWatch, rss_mb

pytestmark = pytest.mark.timeout(180)

PARALLEL = 16
BODY_BYTES = 31 * 1024 * 1024  # under the default 32 MiB cap: a size the server must accept from its clients
GROWTH_MB = 100.0  # 16 bodies held would be ~500 MiB
GUARD_MB = 3000.0
PROBES = {"unary": "GetServerInfo", "server_stream": "Call", "bidi": "Session"}
HEALTH_WATCH = ("grpc.health.v1.Health", "Watch")  # server-streaming, behind the same token gate


def probe(kind: str) -> tuple:
    """(service, method) to send to: the usual one, else any of that kind the proto still has."""
    methods = raw.rpc_methods()
    if PROBES[kind] in methods:
        return raw.SERVICE, PROBES[kind]
    for name, (method_kind, _) in methods.items():
        if method_kind == kind:
            return raw.SERVICE, name
    if kind == "server_stream":
        return HEALTH_WATCH
    pytest.skip(f"the service has no {kind} RPC any more")
    return "", ""


@pytest.mark.parametrize("kind", ["unary", "server_stream", "bidi"])
def test_tokenless_oversized_requests_are_not_buffered(server, kind):
    service, method = probe(kind)
    body = os.urandom(1024) * (BODY_BYTES // 1024)
    intruder = raw.Target.of(server, token=None)
    try:
        assert raw.manage(intruder, "GetServerInfo").status == grpc.StatusCode.UNAUTHENTICATED
        before = rss_mb(server.pid)
        with RssWatch(server.pid, GUARD_MB) as watch, concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            outcomes = list(pool.map(lambda _: raw.raw_rpc(intruder, method, [body], timeout=60, service=service,
                                                           kind=kind), range(PARALLEL)))
        after = rss_mb(server.pid)
    finally:
        intruder.close()
    codes = sorted({o.status.name if o.status else "OK" for o in outcomes})
    assert codes == ["UNAUTHENTICATED"], codes
    assert watch.growth_mb <= GROWTH_MB, f"{method}: server RSS while refusing {watch.describe()}"
    assert after - before <= GROWTH_MB, f"{method}: server RSS {before:.0f} -> {after:.0f} MiB after the refusals"
    client = raw.Target.of(server)
    try:
        assert raw.server_info(client).pid == server.pid  # and it still serves its clients
    finally:
        client.close()
