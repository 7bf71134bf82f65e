"""The result store alone (server/results.py): what it keeps, for how long, and who may wait."""
from __future__ import annotations

import asyncio

import pytest

from agentscope_rpc.exception import AgentNotFoundError, ResultExpiredError
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.server.results import ResultStore


def _result(data: bytes) -> tuple:
    return ("result", pb.Payload(kind=pb.Payload.JSON, data=data))


def run(coro):
    return asyncio.run(coro)


def test_a_fetch_waits_for_a_call_that_arrived_during_the_grace() -> None:
    # found by the werewolf example: a placeholder fetched before its call reached
    # the producing server must keep waiting once the call arrived, however long it runs
    async def scenario() -> tuple:
        store = ResultStore(ttl=60, max_bytes=1 << 20, unknown_grace=0.1)
        fetch = asyncio.ensure_future(store.fetch("t1"))  # the fetch comes first
        await asyncio.sleep(0.02)
        store.begin("t1")  # then the call arrives ...
        await asyncio.sleep(0.3)  # ... and runs longer than the grace
        assert not fetch.done()
        store.finish("t1", _result(b'"done"'))
        return await asyncio.wait_for(fetch, 5)

    assert run(scenario())[1].data == b'"done"'


def test_a_fetch_for_a_task_that_never_comes_fails_and_leaves_nothing_behind() -> None:
    async def scenario() -> ResultStore:
        store = ResultStore(ttl=60, max_bytes=1 << 20, unknown_grace=0.05)
        with pytest.raises(AgentNotFoundError):
            await store.fetch("ghost")
        cancelled = asyncio.ensure_future(store.fetch("ghost2"))
        await asyncio.sleep(0.01)
        cancelled.cancel()  # the fetcher went away before the grace ended
        await asyncio.sleep(0.01)
        return store

    store = run(scenario())
    assert not store._unknown and store._waiting_unknown == 0  # pylint: disable=protected-access


def test_released_results_are_forgotten_and_their_ids_refused() -> None:
    async def scenario() -> ResultStore:
        store = ResultStore(ttl=60, max_bytes=1 << 20, unknown_grace=0.05)
        store.begin("t1")
        store.finish("t1", _result(b"1"))
        assert len(store) == 1 and store.bytes > 0
        assert (await store.fetch("t1"))[1].data == b"1"  # kept until released: many readers
        store.release(["t1"])
        assert len(store) == 0 and store.bytes == 0
        with pytest.raises(ResultExpiredError):
            await store.fetch("t1")
        return store

    store = run(scenario())
    with pytest.raises(FileExistsError):
        store.begin("t1")  # a duplicated request never runs twice


def test_running_and_kept_ids_are_refused() -> None:
    async def scenario() -> None:
        store = ResultStore(ttl=60, max_bytes=1 << 20, unknown_grace=0.05)
        store.begin("t1")
        with pytest.raises(FileExistsError):
            store.begin("t1")
        store.finish("t1", _result(b"1"))
        with pytest.raises(FileExistsError):
            store.begin("t1")

    run(scenario())


def test_kept_results_are_bounded_in_bytes_oldest_first() -> None:
    async def scenario() -> ResultStore:
        store = ResultStore(ttl=60, max_bytes=10_000, unknown_grace=0.05)
        for i in range(10):
            store.begin(f"t{i}")
            store.finish(f"t{i}", _result(b"x" * 3000))
        return store

    store = run(scenario())
    assert store.bytes <= 10_000
    assert "t9" in store._kept and "t0" not in store._kept  # pylint: disable=protected-access
    assert store.evicted >= 7


def test_kept_results_expire_after_the_ttl() -> None:
    async def scenario() -> ResultStore:
        store = ResultStore(ttl=0.05, max_bytes=1 << 20, unknown_grace=0.05)
        store.begin("t1")
        store.finish("t1", _result(b"1"))
        await asyncio.sleep(0.1)
        with pytest.raises(ResultExpiredError):
            await store.fetch("t1")
        return store

    assert len(run(scenario())) == 0
