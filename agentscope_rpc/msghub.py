"""`msghub`: a group whose members hear each other (AgentScope v0 semantics).

    with msghub(participants=[a, b, c], announcement=hint) as hub:
        a()            # b and c observe a's reply
        hub.broadcast(Msg("host", "vote now"))   # a, b and c observe it
        hub.add(d)
        hub.delete(a)

On enter every participant observes the announcement (a Msg or a list of
them).  While the hub is open, every participant's reply is observed by all
the *other* current participants.  On exit the forwarding stops.

How: each open hub registers a reply listener, named uniquely for the hub,
on each participant; the listener forwards the reply to the other
participants with `observe`.  A local agent's listeners hear the final reply
(after every post_reply hook).  A distributed agent's proxy hears the
placeholder as soon as the call is made, so what the others observe queues
in call order, and remote listeners fetch the value server-to-server.

Nested hubs: an agent in several open hubs forwards through each of them, but
a listener that shares more than one open hub with the speaker observes the
reply once -- the hub opened first among those they share delivers it.  The
open hubs are kept by the current runtime (`OpenHubs`), so an in-process
agent server's hubs and the orchestrator's never mix.

A reply that is not a message (a dict, a number...) cannot be observed: the
speaker's call raises a TypeError naming the agent and what it returned.
Replies of None are not forwarded.
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Any, Iterable, Optional

from . import runtime
from .message import check_msg

log = logging.getLogger(__name__)


class OpenHubs:
    """The open hubs of one runtime, in the order they opened."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.hubs: list = []


def _open_hubs() -> OpenHubs:
    return runtime.current().service("msghub.open", OpenHubs)


def _as_list(agents: Any) -> list:
    """One agent or a list/tuple/set of them -> list (no duplicates)."""
    items = list(agents) if isinstance(agents, (list, tuple, set)) else [agents]
    unique: list = []
    for agent in items:
        if not any(agent is seen for seen in unique):
            unique.append(agent)
    return unique


def _contains(agents: Iterable, agent: Any) -> bool:
    return any(agent is member for member in agents)


class MsgHubManager:
    """An open (or reusable) group of agents; see the module docstring."""

    def __init__(self, participants: Iterable, announcement: Any = None) -> None:
        self.participants: list = _as_list(list(participants))
        self.announcement = announcement
        self.hook_name = f"msghub_{uuid.uuid4().hex}"
        self._open = False
        self._registry = _open_hubs()

    # -- context manager --------------------------------------------------
    def __enter__(self) -> "MsgHubManager":
        with self._registry.lock:
            if self._open:
                raise RuntimeError("this msghub is already open")
            members = list(self.participants)
        if self.announcement is not None:
            for agent in members:
                agent.observe(self.announcement)
        with self._registry.lock:
            self._open = True
            self._registry.hubs.append(self)
            members = list(self.participants)
        for agent in members:
            self._attach(agent)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        with self._registry.lock:
            if not self._open:
                return
            self._open = False
            self._registry.hubs.remove(self)
            members = list(self.participants)
        for agent in members:
            agent.remove_reply_listener(self.hook_name)

    # -- membership -----------------------------------------------------------
    def add(self, new_participant: Any) -> None:
        """Add one agent or a list of agents (a member already in is skipped with a warning)."""
        added = []
        with self._registry.lock:
            for agent in _as_list(new_participant):
                if not _contains(self.participants, agent):
                    self.participants.append(agent)
                    added.append(agent)
                else:
                    log.warning("msghub: %s is already a participant; not added again", _name(agent))
            is_open = self._open
        if is_open:
            for agent in added:
                self._attach(agent)

    def delete(self, participant: Any) -> None:
        """Remove one agent or a list of agents (a non-member is skipped with a warning)."""
        removed = []
        with self._registry.lock:
            for agent in _as_list(participant):
                if _contains(self.participants, agent):
                    self.participants = [p for p in self.participants if p is not agent]
                    removed.append(agent)
                else:
                    log.warning("msghub: %s is not a participant; nothing to delete", _name(agent))
            is_open = self._open
        if is_open:
            for agent in removed:
                agent.remove_reply_listener(self.hook_name)

    def broadcast(self, msg: Any) -> None:
        """Every participant observes `msg` (a Msg or a list of them)."""
        with self._registry.lock:
            members = list(self.participants)
        for agent in members:
            agent.observe(msg)

    # -- forwarding -----------------------------------------------------------
    def _attach(self, speaker: Any) -> None:
        def forward(reply: Any) -> None:
            self._forward(speaker, reply)

        speaker.register_reply_listener(self.hook_name, forward)

    def _listeners(self, speaker: Any) -> list:
        """The participants this hub delivers `speaker`'s replies to."""
        with self._registry.lock:
            if not self._open or not _contains(self.participants, speaker):
                return []
            earlier = [
                hub.participants
                for hub in self._registry.hubs[: self._registry.hubs.index(self)]
                if _contains(hub.participants, speaker)
            ]
            return [
                agent
                for agent in self.participants
                if agent is not speaker
                and not any(_contains(members, agent) for members in earlier)
            ]

    def _forward(self, speaker: Any, reply: Any) -> None:
        if reply is None:
            return
        listeners = self._listeners(speaker)
        if listeners:
            check_msg(reply, f"msghub: {_name(speaker)}'s reply", "so the other participants cannot observe it")
        for agent in listeners:
            agent.observe(reply)


def _name(agent: Any) -> str:
    return repr(getattr(agent, "name", None) or agent)


def msghub(participants: Iterable, announcement: Optional[Any] = None) -> MsgHubManager:
    """Open a hub over `participants`: use it as `with msghub(...) as hub:`."""
    return MsgHubManager(participants, announcement)


__all__ = ["msghub", "MsgHubManager"]
