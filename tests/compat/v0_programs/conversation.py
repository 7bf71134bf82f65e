# -*- coding: utf-8 -*-
"""A v0 tutorial-style conversation: a DialogAgent and a UserAgent until "exit"."""
import agentscope
from agentscope.agents import DialogAgent, UserAgent
from agentscope.message import Msg
from agentscope.pipelines import sequential_pipeline


def main() -> None:
    agentscope.init(model_configs="./model_configs.json", project="Conversation")
    assistant = DialogAgent(
        name="Assistant",
        sys_prompt="You're a helpful assistant.",
        model_config_name="my_model",
    )
    user = UserAgent()
    x = Msg("Host", "Welcome!", role="assistant")
    rounds = 0
    while True:
        x = sequential_pipeline([assistant, user], x)
        rounds += 1
        if x.content == "exit":
            break
    print(f"ROUNDS={rounds} MEMORY={assistant.memory.size()}")


if __name__ == "__main__":
    main()
