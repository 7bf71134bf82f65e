"""Relayed speech: chunks/s on one stream and first-chunk latency (DESIGN §9).

One agent server (a child process) hosts a `ChunkSpeaker`.  The orchestrator
binds a counting sink (the way `@pipeline` binds its stream) and calls it:

* throughput: the agent speaks messages of `n_chunks` one-character deltas
  as fast as it can; the clock runs from the moment the agent spoke its
  first chunk (a `time.time()` it puts in the message's first delta) to the
  arrival of the last chunk in the orchestrator's sink.  Every message must
  arrive whole (final content checked), with one `last` per message;
  `delivered` counts the events the sink saw (fewer than spoken only when
  the relay coalesced deltas under backpressure).
* first-chunk latency: `repeats` calls, each speaking a message whose first
  delta is the `time.time()` at which it was yielded; latency is the arrival
  time of that chunk in the sink minus that stamp.  The second delta follows
  at once; `first_chunk_ms_paced_tokens` repeats this with a 20 ms pause
  before the second delta, as when a model streams tokens, which shows what
  holding a chunk back until the next one arrives costs.

    python -m bench.bench_streaming [--chunks N] [--repeats R]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Optional

from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg

TARGET_CHUNKS_PER_S = 20_000
TARGET_FIRST_CHUNK_MS = 2.0
PACED_GAP_S = 0.02


class ChunkSpeaker(AgentBase):
    """Speaks what `x.content` asks for: {"n": deltas, "messages": count}."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        spec = x.content if x is not None else {}
        n, messages = int(spec.get("n", 1)), int(spec.get("messages", 1))
        gap = float(spec.get("gap", 0.0))

        def deltas():
            yield f"{time.time():.6f}|"  # when the first chunk was spoken
            if gap:
                time.sleep(gap)  # a model's pause before its next token
            for _ in range(n - 1):
                yield "x"

        spoken = None
        for _ in range(messages):
            spoken = self.speak(deltas())
        return spoken


class CountingSink:
    """Records arrivals of speak events, per message."""

    def __init__(self) -> None:
        self.events = 0
        self.first_arrival: dict[str, float] = {}
        self.last_arrival = 0.0
        self.final: dict[str, str] = {}
        self.lasts = 0
        self.length: dict[str, int] = {}
        self.shrank = 0  # snapshots shorter than the one before (must stay 0)

    def __call__(self, event: speech.SpeakEvent) -> bool:
        now = time.time()
        self.events += 1
        msg_id = event.msg.id
        if msg_id not in self.first_arrival:
            self.first_arrival[msg_id] = now
        size = len(event.msg.content)
        if size < self.length.get(msg_id, 0):
            self.shrank += 1
        self.length[msg_id] = size
        if event.last:
            self.lasts += 1
            self.final[msg_id] = event.msg.content
            self.last_arrival = now
        return True


def _stamp(content: str) -> float:
    return float(content.split("|", 1)[0])


def _throughput(agent: Any, n_chunks: int, messages: int) -> dict:
    sink = CountingSink()
    with speech.bind_sinks(sink):
        start = time.perf_counter()
        result = agent(Msg("bench", {"n": n_chunks, "messages": messages}))
        result.result(timeout=600)
        wall = time.perf_counter() - start
    finals = list(sink.final.values())
    whole = all(text.endswith("|" + "x" * (n_chunks - 1)) for text in finals)
    first_spoken = min(_stamp(text) for text in finals)
    relay_s = sink.last_arrival - first_spoken
    spoken = n_chunks * messages
    return {
        "spoken": spoken,
        "delivered": sink.events,
        "messages_whole": whole and len(finals) == messages and sink.lasts == messages and not sink.shrank,
        "chunks_per_s": spoken / relay_s,
        "seconds": relay_s,
        "call_wall_s": wall,
    }


def _first_chunk_ms(agent: Any, repeats: int, gap: float = 0.0) -> list:
    latencies = []
    for _ in range(repeats):
        sink = CountingSink()
        with speech.bind_sinks(sink):
            agent(Msg("bench", {"n": 2, "gap": gap})).result(timeout=60)
        (msg_id, arrival), = sink.first_arrival.items()
        latencies.append((arrival - _stamp(sink.final[msg_id])) * 1000.0)
    return latencies


def _pct(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_streaming_bench(n_chunks: int = 20_000, repeats: int = 200) -> dict:
    """Measure relayed speech; returns a dict of results (see module docstring)."""
    previous = runtime.default().set_printer(None)
    agent = ChunkSpeaker("speaker", to_dist=True)
    try:
        _throughput(agent, 1000, 1)  # warm up the channel and the code paths
        runs = [_throughput(agent, n_chunks, 1) for _ in range(3)]
        best = max(runs, key=lambda r: r["chunks_per_s"])
        short = [_throughput(agent, 1000, 20) for _ in range(3)]
        short_best = max(short, key=lambda r: r["chunks_per_s"])
        latencies = _first_chunk_ms(agent, repeats)
        paced = _first_chunk_ms(agent, max(5, repeats // 10), gap=PACED_GAP_S)
    finally:
        agent.stop_server()
        runtime.default().set_printer(previous)
    return {
        "one_message": {
            "chunks": n_chunks,
            "chunks_per_s": round(best["chunks_per_s"]),
            "all_runs_chunks_per_s": [round(r["chunks_per_s"]) for r in runs],
            "delivered_events": best["delivered"],
            "delivered_events_per_s": round(best["delivered"] / best["seconds"]),
            "none_lost": all(r["messages_whole"] for r in runs),
        },
        "20_messages_of_1000": {
            "chunks_per_s": round(short_best["chunks_per_s"]),
            "delivered_events": short_best["delivered"],
            "none_lost": all(r["messages_whole"] for r in short),
        },
        "first_chunk_ms": {
            "p50": round(statistics.median(latencies), 3),
            "p99": round(_pct(latencies, 0.99), 3),
            "max": round(max(latencies), 3),
            "repeats": repeats,
        },
        # the next token comes PACED_GAP_S later (a model streaming ~50 tokens/s)
        "first_chunk_ms_paced_tokens": {
            "gap_ms": PACED_GAP_S * 1000,
            "p50": round(statistics.median(paced), 3),
            "max": round(max(paced), 3),
        },
        "targets": {"chunks_per_s": TARGET_CHUNKS_PER_S, "first_chunk_ms": TARGET_FIRST_CHUNK_MS},
    }


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(run_streaming_bench(args.chunks, args.repeats), indent=2))


if __name__ == "__main__":
    main()
