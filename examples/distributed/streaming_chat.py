"""Streaming chat: two agents, each in its own agent server, talk on the
embedded model while every token they speak streams here -- or to a web page.

    python examples/distributed/streaming_chat.py [--turns 4] [--max-tokens 40] [--seed 7]
    python examples/distributed/streaming_chat.py --model-config models.json [--model-config-name NAME]
    python examples/distributed/streaming_chat.py --sse [--host 127.0.0.1] [--port 8000]
        then open http://127.0.0.1:8000/?turns=4

Alice and Bob are `DialogAgent`s started in child agent servers
(`to_dist=True`); by default each server runs SmolLM2-135M (llama.cpp,
offline) and streams the reply token by token over gRPC.  `--model-config`
takes a JSON file of model configs instead (e.g. an OpenAI-compatible
endpoint; see server/models.example.json); the configs travel to the
servers with the agents.  The conversation is an `@pipeline(chunks=True)`
app: iterating it yields a `SpeakChunk` each time a message grows, which
this script prints as it comes.  With `--sse` the same app is served as
Server-Sent Events (`agentscope_rpc.sse`, the `web` extra); closing the page
cancels the agents' work.  The same app can be served with
`python -m agentscope_rpc.sse examples/distributed/streaming_chat.py:chat`.
Errors are one line (exit 2 for a bad flag or file, 3 when a server is
lost); `--debug` shows tracebacks; Ctrl-C stops the servers and exits 130.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from agentscope_rpc.agents import DialogAgent
from agentscope_rpc.message import Msg, content_text
from agentscope_rpc.models import read_model_configs
from agentscope_rpc.models.registry import pick_config
from agentscope_rpc.server.cli import run_command
from agentscope_rpc.streaming import SpeakChunk, pipeline, put_into_stream

CONFIG = "smollm2-chat"
_config_name = [CONFIG]  # the config the agents use (--model-config may change it)
TOPIC = "Hello Alice and Bob, please tell each other about your week."
ALICE = (
    "You are Alice, a curious traveller who has just come back from the mountains. "
    "You are chatting with Bob. Answer in one or two short sentences and ask him something back."
)
BOB = (
    "You are Bob, a cheerful baker who loves his small town. "
    "You are chatting with Alice. Answer in one or two short sentences."
)


def use_model(max_tokens: int = 40, seed: int = 7) -> None:
    """The embedded model's config both agents use; it travels to their servers."""
    read_model_configs([{
        "config_name": CONFIG,
        "model_type": "llama_cpp",
        "stream": True,
        "generate_args": {
            "max_tokens": max_tokens,
            "temperature": 0.7,
            "seed": seed,
            "stop": ["\n\n"],  # one paragraph: the small model tends to script both sides
        },
    }], clear_existing=True)
    _config_name[0] = CONFIG


def use_model_file(path: str, name: str | None = None) -> str:
    """Use the configs of a JSON file instead; the agents take `name` (default: the first)."""
    configs, name = pick_config(path, name, "--model-config-name")
    read_model_configs(configs, clear_existing=True)
    _config_name[0] = name
    return name


@pipeline(chunks=True)
def chat(turns: Any = 4, topic: str = TOPIC) -> None:
    """The app: Alice and Bob take `turns` replies in all, starting from `topic`."""
    alice = DialogAgent("Alice", sys_prompt=ALICE, model_config_name=_config_name[0], to_dist=True)
    try:
        bob = DialogAgent("Bob", sys_prompt=BOB, model_config_name=_config_name[0], to_dist=True)
    except BaseException:
        alice.stop_server()
        raise
    try:
        msg = Msg("Host", topic, role="user")
        put_into_stream(msg)  # the host's line goes into the stream too
        bob.observe(msg)
        for turn in range(int(turns)):  # query parameters arrive as strings
            msg = (alice if turn % 2 == 0 else bob)(msg)  # placeholders, chained
        msg.result()  # every reply is spoken (and streamed) by now
    finally:
        alice.stop_server()
        bob.stop_server()


def print_stream(items: Any, out: Any = sys.stdout) -> None:
    """Print an app stream token by token, one line per message."""
    open_id, printed = None, ""
    for item in items:
        if not isinstance(item, SpeakChunk):  # a put: the host's message
            text = item.formatted_str() if isinstance(item, Msg) else str(item)
            out.write(("\n" if open_id else "") + text + "\n")
            open_id, printed = None, ""
            continue
        msg, text = item.msg, content_text(item.msg.content)
        if msg.id != open_id:
            out.write(("\n" if open_id else "") + f"{msg.name}: ")
            open_id, printed = msg.id, ""
        out.write(text[len(printed):] if text.startswith(printed) else "\n" + text)
        printed = text
        if item.last:
            out.write("\n")
            open_id, printed = None, ""
        out.flush()


def run(args: argparse.Namespace) -> None:
    """Serve or print the chat as the flags say."""
    if args.model_config:
        use_model_file(args.model_config, args.model_config_name)
    else:
        use_model(args.max_tokens, args.seed)
    if args.sse:
        from agentscope_rpc.sse import serve  # needs the `web` extra

        serve(chat, args.host, args.port)
        return
    started = time.monotonic()
    print_stream(chat(turns=args.turns))
    print(f"[{args.turns} replies in {time.monotonic() - started:.1f}s, agents in 2 agent servers]")


def main(argv: list | None = None) -> int:
    """Parse the flags and run; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=4, metavar="N", help="replies in all (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=40, metavar="N",
                        help="embedded model: tokens per reply at most (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, metavar="N",
                        help="embedded model: sampling seed, for a repeatable chat (default: %(default)s)")
    parser.add_argument("--model-config", metavar="PATH",
                        help="JSON file of model configs to use instead of the embedded model")
    parser.add_argument("--model-config-name", metavar="NAME",
                        help="which config of --model-config the agents use (default: the first)")
    parser.add_argument("--sse", action="store_true", help="serve the chat as a web page (Server-Sent Events)")
    parser.add_argument("--host", default="127.0.0.1", help="--sse: address to serve on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, metavar="N",
                        help="--sse: port to serve on (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    return run_command(lambda: run(args), "streaming_chat", args.debug)


use_model()  # also when served with `python -m agentscope_rpc.sse ...:chat`

if __name__ == "__main__":
    sys.exit(main())
