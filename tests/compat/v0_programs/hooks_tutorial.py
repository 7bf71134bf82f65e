# -*- coding: utf-8 -*-
"""Hooks as AgentScope 0.1.6's tutorial writes them, next to the seed tutorial's."""
from typing import Any, Optional, Union

from agentscope.agents import AgentBase
from agentscope.message import Msg


class TestAgent(AgentBase):
    def __init__(self, name: str) -> None:
        super().__init__(name=name)

    def reply(self, x: Optional[Union[Msg, list]] = None) -> Msg:
        self.speak(x.content)
        return Msg(self.name, "reply to " + x.content, "assistant")


def pre_reply_hook(self: AgentBase, args: tuple, kwargs: dict) -> Union[tuple, None]:
    args[0].content = "[pre] " + args[0].content
    return args, kwargs


def post_reply_hook(self: AgentBase, args: tuple, kwargs: dict, output: Any) -> Any:
    return Msg(output.name, output.content + " [post]", "assistant")


def pre_speak_hook(self: AgentBase, msg: Msg, stream: bool, last: bool) -> Union[Msg, None]:
    msg.content = msg.content.upper()
    return msg


spoken = []


def post_speak_hook(self: AgentBase) -> None:
    spoken.append(self.name)


def seed_style_pre_reply(self: AgentBase, x: Msg) -> Msg:
    return Msg(x.name, "[seed] " + x.content, x.role)


agent = TestAgent("Friday")
agent.register_hook("pre_reply", "v0_pre", pre_reply_hook)
agent.register_hook("post_reply", "v0_post", post_reply_hook)
agent.register_hook("pre_speak", "shout", pre_speak_hook)
agent.register_hook("post_speak", "count", post_speak_hook)
AgentBase.register_class_hook("pre_reply", "seed_pre", seed_style_pre_reply)

msg = Msg("user", "hello", "user")
res = agent(msg)
print("REPLY=" + res.content)
print("ORIGINAL=" + msg.content)
print("SPOKEN=" + ",".join(spoken))
AgentBase.clear_all_class_hooks()
agent.clear_all_obj_hooks()
print("PLAIN=" + agent(Msg("user", "hello", "user")).content)
