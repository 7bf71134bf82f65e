"""Server state stays bounded (issue 11 item 7).

Each test repeats one workload in rounds and compares the server's RSS
after the first round (warm: allocator pools, caches) with its RSS after
the last: state that is dropped when it should be is reused round after
round, a leak grows with every round.  Bounds are generous; the leaks before
the core rebuild were several times larger.

- fetches for unknown task ids, abandoned before the server's grace ends
  (before the rebuild each stayed in the result store for good);
- results delivered to their only caller and never handed to anyone else
  (before: kept 600 s, capped by count, not bytes: 1 MiB each here);
- per-caller ordering state of many callers (before: never dropped).
"""
from __future__ import annotations

import gc

import pytest

import raw_wire as raw
from fault_agents import Payload
from fault_tools import ready, rss_mb

pytestmark = pytest.mark.timeout(240)


def rounds_growth(server, rounds: int, work) -> tuple:
    """Run `work(i)` `rounds` times; (RSS growth from after round 0 to the end in MiB, RSS per round)."""
    seen = []
    for i in range(rounds):
        work(i)
        gc.collect()
        seen.append(round(rss_mb(server.pid), 1))
    return seen[-1] - seen[0], seen


def test_abandoned_fetches_for_unknown_tasks_are_forgotten(server):
    per_round, frame = 20_000, 2_000
    agent = ready(Payload("anchor", 10, to_dist=server.options))
    target = raw.Target.of(server)

    def work(i: int) -> None:
        session = raw.RawSession(target, timeout=120)
        for start in range(0, per_round, frame):
            session.send(fetches=[raw.fetch_message(f"unknown-{i}-{n}") for n in range(start, start + frame)])
        marker = raw.call_request(agent.agent_id, "tiny")
        session.send(calls=[marker])  # answered after the fetches before it were taken in
        assert session.wait(marker.task_id, 60).ok
        session.cancel()  # the client goes away: its fetches are abandoned

    try:
        growth, seen = rounds_growth(server, 6, work)
    finally:
        target.close()
    assert growth <= 10, f"server RSS per round of {per_round} abandoned fetches: {seen} MiB"


def test_delivered_results_are_freed(server):
    size, per_round = 1024 * 1024, 50
    agent = Payload("big", size, to_dist=server.options)

    def work(_i: int) -> None:
        for _ in range(per_round):
            assert len(agent(None).result(timeout=30).content) == size

    growth, seen = rounds_growth(server, 6, work)
    target = raw.Target.of(server)
    try:
        stored = raw.server_info(target).stored_results
    finally:
        target.close()
    assert growth <= 64, f"server RSS per round of {per_round} delivered 1 MiB results: {seen} MiB"
    assert stored <= 10, f"{stored} results still stored, none of them handed to anyone"


def test_per_caller_state_is_dropped_with_the_caller(server):
    """Many callers: distinct caller ids on one session, or (new wire) one session each."""
    per_round, frame = (15_000, 1_500) if raw.HAS_CALLER_ID else (600, 10)
    agent = ready(Payload("tiny", 10, to_dist=server.options))
    target = raw.Target.of(server)

    def one_session(requests: list) -> None:
        session = raw.RawSession(target, timeout=120)
        for start in range(0, len(requests), frame):
            session.send(calls=requests[start:start + frame])
        for request in requests:
            assert session.wait(request.task_id, 60).ok
        session.send(release=[r.task_id for r in requests])  # as a real client does (new wire)
        session.close()

    def work(i: int) -> None:
        if raw.HAS_CALLER_ID:
            one_session([raw.call_request(agent.agent_id, "tiny", caller_id=f"caller-{i}-{n}")
                         for n in range(per_round)])
            return
        for _ in range(per_round):  # a caller is a session
            one_session([raw.call_request(agent.agent_id, "tiny") for _ in range(frame)])

    try:
        growth, seen = rounds_growth(server, 5, work)
    finally:
        target.close()
    assert growth <= 8, f"server RSS per round of {per_round} callers: {seen} MiB"
