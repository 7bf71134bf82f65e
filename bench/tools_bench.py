"""What a tool round costs a FunctionCallAgent (issue 16), measured in one run.

    PYTHONPATH=. python bench/tools_bench.py [--replies N] [--deltas N]

Prints one JSON line per figure:

- `tag_filter`: `--deltas` one-character deltas of text with a tool call
  every 2,000 characters through `tools.protocol.TagFilter`: deltas per
  second (the cost streaming pays to hide tool calls).
- `reply_latency`: median and p90 wall time of one reply on an agent server
  (loopback), scripted model, for three agents in the same run: a plain
  `DialogAgent` (one model call), a `FunctionCallAgent` that answers
  without a tool (one model call), and one that calls one instant tool and
  answers (two model calls, a tool thread on the server, two tool events,
  timed inside an `@pipeline` app); `--replies` replies each, alternated.  The ratios are the figures: what the tool
  machinery adds to a reply, and what a tool round adds.
- `resume_gap`: on the orchestrator, inside an `@pipeline` app, the time
  from the `ToolResultEvent` to the first text chunk of the next round
  (median over the replies): how soon speech resumes after a tool.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT, TESTS = os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), "tests")
sys.path[:0] = [p for p in (ROOT, TESTS) if p not in sys.path]

import agentscope_rpc  # noqa: E402
from agentscope_rpc.agents import DialogAgent, FunctionCallAgent  # noqa: E402
from agentscope_rpc.message import Msg  # noqa: E402
from agentscope_rpc.server import RpcAgentServerLauncher  # noqa: E402
from agentscope_rpc.streaming import SpeakChunk, pipeline  # noqa: E402
from agentscope_rpc.tools import ToolResultEvent  # noqa: E402
from agentscope_rpc.tools.protocol import TagFilter  # noqa: E402

ANSWER = "It will be cloudy in Oslo for the next two days, with highs of eighteen and nineteen degrees."
CALL = '<tool_call>{"name": "get_forecast", "arguments": {"city": "Oslo", "days": 2}}</tool_call>'


def get_forecast(city: str, days: int = 3) -> list:
    """Get the weather forecast for the next days (canned, instant: the figures are the machinery's).

    Args:
        city: Name of the city.
        days: How many days.
    """
    return [{"day": d + 1, "city": city, "sky": "cloudy", "high_c": 18 + d} for d in range(days)]


def emit(figure: str, **values: Any) -> None:
    sys.stdout.write(json.dumps({"figure": figure, **values}) + "\n")
    sys.stdout.flush()


def tag_filter(deltas: int) -> None:
    text = ("x" * 1900 + " " + CALL + " ") * (deltas // 1900 + 1)
    text = text[:deltas]
    tags = TagFilter()
    started = time.perf_counter()
    shown = 0
    for ch in text:
        shown += len(tags.feed(ch))
    shown += len(tags.finish())
    took = time.perf_counter() - started
    emit("tag_filter", deltas=len(text), seconds=round(took, 3), deltas_per_s=round(len(text) / took),
         calls_found=len(tags.blocks), shown_chars=shown)


def _configs() -> None:
    agentscope_rpc.init(console=False, model_configs=[
        {"config_name": "answer", "model_type": "scripted", "stream": True, "responses": [ANSWER]},
        {"config_name": "tool", "model_type": "scripted", "stream": True, "cycle": True,
         "responses": [f"Let me look. {CALL}", ANSWER]},
    ])


def reply_latency(replies: int) -> None:
    _configs()
    token = secrets.token_urlsafe(16)
    launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0, token=token)
    launcher.launch(in_subprocess=True)
    where = {"host": "127.0.0.1", "port": launcher.port, "token": token}
    try:
        agents = {
            "dialog": DialogAgent("A", model_config_name="answer", use_memory=False, to_dist=dict(where)),
            "fc_no_tool": FunctionCallAgent("B", model_config_name="answer", tools=[get_forecast],
                                            use_memory=False, to_dist=dict(where)),
            "fc_one_tool": FunctionCallAgent("C", model_config_name="tool", tools=[get_forecast],
                                             use_memory=False, to_dist=dict(where)),
        }
        question = Msg("user", "Forecast for Oslo?", "user")
        for agent in agents.values():  # warm: creation, model load, first session
            agent(question).result(timeout=60)
        times: dict = {name: [] for name in agents}
        gaps: list = []
        for _ in range(replies):
            for name, agent in agents.items():
                started = time.perf_counter()
                if name == "fc_one_tool":
                    gaps.append(_one_reply_in_app(agent, question))
                else:
                    agent(question).result(timeout=60)
                times[name].append(time.perf_counter() - started)
        summary = {name: {"p50_ms": round(1000 * statistics.median(t), 2),
                          "p90_ms": round(1000 * sorted(t)[int(0.9 * len(t))], 2)} for name, t in times.items()}
        base = summary["dialog"]["p50_ms"]
        emit("reply_latency", replies=replies, **summary,
             fc_no_tool_over_dialog=round(summary["fc_no_tool"]["p50_ms"] / base, 2),
             fc_one_tool_over_dialog=round(summary["fc_one_tool"]["p50_ms"] / base, 2),
             note="the tool itself returns at once; fc_one_tool is timed inside an @pipeline app")
        emit("resume_gap", replies=replies, p50_ms=round(1000 * statistics.median(gaps), 2),
             max_ms=round(1000 * max(gaps), 2))
    finally:
        launcher.shutdown()


def _one_reply_in_app(agent: Any, question: Msg) -> float:
    """Runs one reply inside an app; the seconds from the tool's result to the next text chunk."""
    @pipeline(chunks=True)
    def app() -> None:
        agent(question).result(timeout=60)

    result_at = None
    gap = None
    for item in app():
        if isinstance(item, ToolResultEvent):
            result_at = time.perf_counter()
        elif isinstance(item, SpeakChunk) and result_at is not None and gap is None:
            gap = time.perf_counter() - result_at
    return gap if gap is not None else float("nan")


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=30, help="replies per agent (default: %(default)s)")
    parser.add_argument("--deltas", type=int, default=1_000_000, help="deltas through the tag filter")
    args = parser.parse_args(argv)
    tag_filter(args.deltas)
    reply_latency(args.replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
