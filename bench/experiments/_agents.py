"""Agents the prototype tests build on servers (by import path)."""
from __future__ import annotations

import itertools
from typing import Optional

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


class Counter(AgentBase):
    """Replies with how many calls it has answered so far (1, 2, ...): shows the order calls ran in."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._count = itertools.count(1)

    def reply(self, x: Optional[Msg] = None) -> Msg:
        return Msg(self.name, {"n": next(self._count), "sent": x.content if x is not None else None})


class Failing(AgentBase):
    """Every reply raises ValueError."""

    def reply(self, x: Optional[Msg] = None) -> Msg:
        raise ValueError(f"{self.name} refuses {x.content if x is not None else None!r}")
