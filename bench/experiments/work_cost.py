"""What a tiny call costs apart from the transport: the codec and the agent step, in one thread.

    PYTHONPATH=. python bench/experiments/work_cost.py [--n 20000] [--repeats 5]

Times, per call, each piece of work a call does on either side, with no
network and no thread: the client encodes the request into a frame, the
server parses it and decodes the arguments, runs `Echo.reply` through the
agent's hooks (`getattr(agent, "reply")`, as every server does), encodes the
value into an event frame, the client parses it and decodes the `Msg`.  The
same `Msg` is sent every time, as in the `call_latency` workload (so the
codec's one-message caches apply as they do there).  Prints one JSON line:
CPU microseconds per call of this thread for each piece (median of the
repeats) and the sum.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(os.path.dirname(HERE)),) if p not in sys.path]

from agentscope_rpc.rpc import codec  # noqa: E402
from agentscope_rpc.rpc._proto import agent_server_pb2 as pb  # noqa: E402

from bench.experiments.sync_actor import step  # noqa: E402
from bench.workloads_ours import TINY, Echo  # noqa: E402


def _per_call_us(func: Callable[[], object], n: int) -> float:
    # CPU time of this thread: time the thread spent descheduled (the machine is shared) does not count
    start = time.thread_time()
    for _ in range(n):
        func()
    return (time.thread_time() - start) / n * 1e6


def measure(n: int, repeats: int) -> dict:
    """Microseconds per call of each piece (median over `repeats` runs of `n`)."""
    agent = Echo("echo")
    request = pb.CallRequest(task_id="t" * 32, agent_id="echo", method="reply",
                             args=codec.encode_args((TINY,), {}), window=16)
    request_frame = pb.ClientFrame(items=[pb.ClientItem(call=request)]).SerializeToString()
    event = step(agent, request)
    event_frame = pb.ServerFrame(items=[pb.ServerItem(event=event)]).SerializeToString()

    def client_encode() -> object:
        call = pb.CallRequest(task_id="t" * 32, agent_id="echo", method="reply",
                              args=codec.encode_args((TINY,), {}), window=16)
        return pb.ClientFrame(items=[pb.ClientItem(call=call)]).SerializeToString()

    def server_decode() -> object:
        return codec.decode_args(pb.ClientFrame.FromString(request_frame).items[0].call.args)

    def agent_step() -> object:
        return getattr(agent, "reply")(TINY)

    def server_encode() -> object:
        value = agent.reply(TINY)
        return pb.ServerFrame(items=[pb.ServerItem(event=pb.Event(
            request_id="t" * 32, result=codec.encode(value)))]).SerializeToString()

    def client_decode() -> object:
        return codec.decode(pb.ServerFrame.FromString(event_frame).items[0].event.result)

    pieces = {"client_encode": client_encode, "server_decode": server_decode, "agent_step": agent_step,
              "server_encode_incl_reply": server_encode, "client_decode": client_decode}
    runs: dict = {name: [] for name in pieces}
    for _ in range(repeats):
        for name, func in pieces.items():
            runs[name].append(_per_call_us(func, n))
    out = {name: statistics.median(values) for name, values in runs.items()}
    # the reply runs inside server_encode_incl_reply: agent_step is shown, not added
    out["total_us"] = (out["client_encode"] + out["server_decode"] + out["server_encode_incl_reply"]
                       + out["client_decode"])
    out["load_1min"] = os.getloadavg()[0]
    return out


def main() -> None:
    """Print the JSON line (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps({k: round(v, 2) for k, v in measure(args.n, args.repeats).items()}))


if __name__ == "__main__":
    main()
