# -*- coding: utf-8 -*-
"""A two-wolf night in the style of AgentScope 0.1.6's werewolf example."""
from functools import partial

from loguru import logger

import agentscope
from agentscope.message import Msg
from agentscope.msghub import msghub
from agentscope.parsers.json_object_parser import MarkdownJsonDictParser
from agentscope.pipelines import sequential_pipeline

discuss_parser = MarkdownJsonDictParser(
    content_hint={"thought": "what you thought", "speak": "what you speak",
                  "finish_discussion": "whether the discussion reached an agreement (true/false)"},
    required_keys=["thought", "speak", "finish_discussion"],
    keys_to_memory="speak",
    keys_to_content="speak",
    keys_to_metadata=["finish_discussion"],
)
vote_parser = MarkdownJsonDictParser(
    content_hint={"thought": "what you thought", "vote": "player_name"},
    required_keys=["thought", "vote"],
    keys_to_memory="vote",
    keys_to_content="vote",
)


def set_parsers(agents, parser) -> None:
    for agent in agents:
        agent.set_parser(parser)


def main() -> None:
    HostMsg = partial(Msg, name="Moderator", role="assistant", echo=True)
    survivors = agentscope.init(
        model_configs="./model_configs.json",
        agent_configs="./agent_configs.json",
        project="Werewolf",
    )
    wolves = survivors[:2]
    hint = HostMsg(content="Player1 and Player2, discuss who to eliminate.")
    with msghub(wolves, announcement=hint) as hub:
        set_parsers(wolves, discuss_parser)
        rounds = 0
        for _ in range(3):
            x = sequential_pipeline(wolves)
            rounds += 1
            if x.metadata.get("finish_discussion", False):
                break
        set_parsers(wolves, vote_parser)
        hint = HostMsg(content="Which player do you vote to kill?")
        votes = [wolf(hint).content for wolf in wolves]
        hub.broadcast(HostMsg(content=f"The player with the most votes is {votes[0]}."))
    logger.chat(Msg("Moderator", "The night ends.", role="assistant"))
    heard = [m.content for m in wolves[1].memory.get_memory()]
    print(f"ROUNDS={rounds} VOTES={votes}")
    print(f"HEARD={heard}")


if __name__ == "__main__":
    main()
