"""A weather assistant that calls tools: a distributed FunctionCallAgent, streamed here or to a web page.

    python examples/distributed/tool_agent.py [--ask "What is the weather in Tokyo?"] [--ask ...]
    python examples/distributed/tool_agent.py --model-config models.json [--model-config-name NAME]
    python examples/distributed/tool_agent.py --sse [--host 127.0.0.1] [--port 8000]
        then open http://127.0.0.1:8000/?question=Weather+in+Oslo

The assistant is a `FunctionCallAgent` in a child agent server
(`to_dist=True`); its two tools, `get_current_weather` and `get_forecast`,
answer from canned data and run on that server.  What it says streams here
token by token; its tool calls never appear in the text: the terminal shows
one line per call and per result, the page shows a chip in the message
(`tool_call` / `tool_result` events on the SSE stream).

On the embedded model (SmolLM2-135M, the default) the assistant must call a
tool in its first round (`--tool-choice required`): the call is generated
under a grammar built from the tools' schemas, then the model answers with
the result (`--follow-up none`).  With `--model-config` (an
OpenAI-compatible endpoint, see server/models.example.json) the model
decides (`auto`); for llama-cpp-python's server, which streams only a named
tool choice, use `--tool-choice get_current_weather --follow-up none`.
Errors are one line (exit 2 for a bad flag or file, 3 when a server is
lost); `--debug` shows tracebacks; Ctrl-C stops the server and exits 130.
"""
from __future__ import annotations

import argparse
import sys
import zlib
from typing import Any, Literal

from agentscope_rpc.agents import FunctionCallAgent
from agentscope_rpc.message import Msg
from agentscope_rpc.models import read_model_configs
from agentscope_rpc.models.registry import pick_config
from agentscope_rpc.server.cli import run_command
from agentscope_rpc.streaming import pipeline
from agentscope_rpc.tools import tool

CONFIG = "smollm2-tools"
QUESTIONS = ["What is the weather in Tokyo right now?", "Will it rain in Oslo in the next 3 days?"]
SYS_PROMPT = "You are a friendly weather assistant. Answer in one or two short sentences."
_settings = {"config": CONFIG, "tool_choice": "required", "follow_up": "none"}

_NOW = {"tokyo": (21, "sunny"), "oslo": (4, "light rain"), "paris": (15, "cloudy"), "lima": (19, "overcast")}
_SKIES = ["sunny", "cloudy", "light rain", "showers", "clear", "windy"]


@tool
def get_current_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the current weather in a city.

    Args:
        city: Name of the city, e.g. Tokyo.
        unit: Temperature unit.
    """
    temp, sky = _NOW.get(city.strip().lower(), (10 + zlib.crc32(city.lower().encode()) % 15, "clear"))
    if unit == "fahrenheit":
        temp = round(temp * 9 / 5 + 32)
    return {"city": city, "temperature": temp, "unit": unit, "sky": sky}


@tool
def get_forecast(city: str, days: int = 3) -> list:
    """Get the weather forecast for the next days.

    Args:
        city: Name of the city.
        days: How many days, 1 to 7.
    """
    if not 1 <= days <= 7:
        raise ValueError("days must be between 1 and 7")
    seed = zlib.crc32(city.lower().encode())
    return [{"day": d + 1, "sky": _SKIES[(seed + d) % len(_SKIES)], "high_c": 8 + (seed + 3 * d) % 18}
            for d in range(days)]


def use_model(max_tokens: int = 60, seed: int = 7) -> None:
    """The embedded model's config; it travels to the agent's server."""
    read_model_configs([{
        "config_name": CONFIG,
        "model_type": "llama_cpp",
        "stream": True,
        "generate_args": {"max_tokens": max_tokens, "temperature": 0.2, "seed": seed, "stop": ["\n\n"]},
    }], clear_existing=True)
    _settings.update(config=CONFIG, tool_choice="required", follow_up="none")


def use_model_file(path: str, name: str | None = None) -> str:
    """Use the configs of a JSON file instead; the agent takes `name` (default: the first)."""
    configs, name = pick_config(path, name, "--model-config-name")
    read_model_configs(configs, clear_existing=True)
    _settings.update(config=name, tool_choice="auto", follow_up="auto")
    return name


def make_agent(to_dist: Any = True) -> FunctionCallAgent:
    """The assistant, in a child agent server by default."""
    return FunctionCallAgent(
        "Assistant", sys_prompt=SYS_PROMPT, model_config_name=_settings["config"],
        tools=[get_current_weather, get_forecast], tool_choice=_settings["tool_choice"],
        follow_up_tool_choice=_settings["follow_up"], max_iters=4, to_dist=to_dist,
    )


@pipeline(chunks=True)
def ask(question: str = QUESTIONS[0]) -> None:
    """The app for the page: one question, answered with tools."""
    agent = make_agent()
    try:
        agent(Msg("user", question, "user")).result()
    finally:
        agent.stop_server()


def run(args: argparse.Namespace) -> None:
    """Serve or answer on the terminal as the flags say."""
    if args.model_config:
        use_model_file(args.model_config, args.model_config_name)
    else:
        use_model(args.max_tokens, args.seed)
    if args.tool_choice:
        _settings["tool_choice"] = args.tool_choice
    if args.follow_up:
        _settings["follow_up"] = args.follow_up
    if args.sse:
        from agentscope_rpc.sse import serve  # needs the `web` extra

        serve(ask, args.host, args.port)
        return
    agent = make_agent()
    try:
        for question in args.ask or QUESTIONS:
            print(f"User: {question}")
            agent(Msg("user", question, "user")).result()  # text and tool lines are printed as they come
    finally:
        agent.stop_server()


def main(argv: list | None = None) -> int:
    """Parse the flags and run; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ask", action="append", metavar="QUESTION",
                        help="a question for the assistant (repeatable; default: two weather questions)")
    parser.add_argument("--model-config", metavar="PATH",
                        help="JSON file of model configs to use instead of the embedded model")
    parser.add_argument("--model-config-name", metavar="NAME",
                        help="which config of --model-config the agent uses (default: the first)")
    parser.add_argument("--tool-choice", metavar="CHOICE",
                        help="first round: auto, required, none or a tool's name "
                             "(default: required on the embedded model, else auto)")
    parser.add_argument("--follow-up", metavar="CHOICE",
                        help="later rounds, as --tool-choice (default: none on the embedded model, else auto)")
    parser.add_argument("--max-tokens", type=int, default=60, metavar="N",
                        help="embedded model: tokens per answer at most (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, metavar="N", help="embedded model: sampling seed")
    parser.add_argument("--sse", action="store_true", help="serve the assistant as a web page (Server-Sent Events)")
    parser.add_argument("--host", default="127.0.0.1", help="--sse: address to serve on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, metavar="N",
                        help="--sse: port to serve on (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    return run_command(lambda: run(args), "tool_agent", args.debug)


use_model()  # also when served with `python -m agentscope_rpc.sse ...:ask`

if __name__ == "__main__":
    sys.exit(main())
