"""Regression found by the werewolf example: a placeholder fetched before its
call reached the producing server failed after `unknown_task_grace` even
though the call had arrived in the meantime and was still running (a player
reply that loads a model takes longer than the grace)."""
from __future__ import annotations

import asyncio

from agentscope_rpc.rpc._proto import agent_server_pb2 as pb
from agentscope_rpc.server.results import ResultStore


def test_fetch_waits_for_a_call_that_arrived_during_the_grace() -> None:
    async def scenario() -> pb.FetchReply:
        store = ResultStore(ttl=60, max_items=10, unknown_grace=0.1)
        fetch = asyncio.ensure_future(store.fetch("t1"))  # the fetch comes first
        await asyncio.sleep(0.02)
        store.expect("t1")  # then the call arrives ...
        await asyncio.sleep(0.3)  # ... and runs longer than the grace
        assert not fetch.done()
        store.finish("t1", pb.FetchReply(result=pb.Payload(data=b"done")))
        return await asyncio.wait_for(fetch, 5)

    assert asyncio.run(scenario()).result.data == b"done"
