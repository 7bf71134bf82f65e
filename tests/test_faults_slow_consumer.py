"""A slow consumer of a fast stream: bounded memory on both sides, nothing lost (issue 11 item 1).

A remote `Flood` agent speaks `N` one-character deltas as fast as it can;
the orchestrator's pre_speak hook sleeps 2 ms per chunk.  Under that
backpressure DESIGN §5 lets the runtime slow the producer or coalesce
deltas; either way the server's and this process's RSS may grow by at most
`GROWTH_MB`, and the message arrives exact: the hook's last chunk and the
reply carry all `N` characters, `last=True` once.  An `RssWatch` guard
SIGKILLs the server if either side passes `GUARD_MB`, so a quadratic
growth (GBs within seconds, seen before the core rebuild) fails this test
instead of the machine.

The figure for 1,000,000 deltas lives in bench/hardening.py.  This test
assumes coalescing: a design that only slows the producer needs N x 2 ms
(200 s here) and fails on time.
"""
from __future__ import annotations

import gc
import os
import threading
import time

import pytest

from fault_agents import Flood, letters
from fault_tools import RssWatch

pytestmark = pytest.mark.timeout(150)

N = 100_000
HOOK_SLEEP_S = 0.002
GROWTH_MB = 64.0
GUARD_MB = 1024.0
WAIT_S = 60.0  # a coalescing runtime needs seconds; before the rebuild 100k deltas took minutes


class SlowHook:
    """A pre_speak hook that takes 2 ms per chunk and checks the stream as it goes (O(1) per chunk)."""

    def __init__(self) -> None:
        self.calls = 0
        self.lasts = 0
        self.length = 0
        self.shrank = 0
        self.final = None
        self.lock = threading.Lock()

    def __call__(self, agent, msg, stream, last) -> None:
        time.sleep(HOOK_SLEEP_S)  # the slow consumer under test
        with self.lock:
            self.calls += 1
            size = len(msg.content)
            self.shrank += size < self.length
            self.length = size
            if last:
                self.lasts += 1
                self.final = msg.content


def test_slow_consumer_of_a_fast_stream(server):
    hook = SlowHook()
    flood = Flood("flood", N, to_dist=server.options)
    flood.register_hook("pre_speak", "slow", hook)
    gc.collect()

    def stop_everything() -> None:  # one side blew its memory: end the stream
        os.kill(server.pid, 9)

    with RssWatch(server.pid, GUARD_MB) as server_rss, \
            RssWatch(os.getpid(), GUARD_MB, on_exceed=stop_everything) as client_rss:
        started = time.monotonic()
        error = None
        try:
            reply = flood(None).result(timeout=WAIT_S)
        except Exception as err:  # pylint: disable=broad-except
            error, reply = err, None
        took = time.monotonic() - started
    report = f"{server_rss.describe()}; client {client_rss.describe()}; {hook.calls} hook calls in {took:.1f}s"
    assert error is None, f"{error!r}; {report}"
    assert server_rss.growth_mb <= GROWTH_MB, f"server memory: {report}"
    assert client_rss.growth_mb <= GROWTH_MB, f"client memory: {report}"
    expected = letters(N)
    assert reply.content == expected, report
    assert hook.lasts == 1 and hook.final == expected, report
    assert hook.shrank == 0, report
