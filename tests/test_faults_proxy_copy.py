"""A second proxy object for the same agent keeps the first one's speech hooks working
(issue 11 item 8).

A `Streamer` proxy with a pre_speak hook is copied (`copy`, `deepcopy`, a
pickle round trip); the first proxy's hook must still see the agent's
speech while the copy lives and after it was garbage-collected.  Before the
core rebuild the copy took over the agent's speech for good (51 -> 0).
"""
from __future__ import annotations

import copy
import gc
import pickle

import pytest

from stream_agents import Streamer, numbered

pytestmark = pytest.mark.timeout(60)

TWINS = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    "pickle": lambda proxy: pickle.loads(pickle.dumps(proxy)),
}


@pytest.mark.parametrize("how", list(TWINS))
def test_a_copy_does_not_take_the_first_proxys_speech(module_server, how):
    agent = Streamer(f"streamer-{how}", n=50, to_dist=module_server.options)
    seen: list = []
    agent.register_hook("pre_speak", "record", lambda _agent, msg, _stream, last: seen.append((last, msg.content)))

    def speech_seen() -> list:
        seen.clear()
        assert agent(None).result(timeout=30).content == numbered(50)
        return list(seen)

    assert speech_seen()[-1] == (True, numbered(50))  # the hook works before any copy
    twin = TWINS[how](agent)
    assert twin.agent_id == agent.agent_id
    heard = speech_seen()
    assert heard and heard[-1] == (True, numbered(50)), f"with a {how} alive the hook heard {len(heard)} chunks"
    del twin
    gc.collect()
    heard = speech_seen()
    assert heard and heard[-1] == (True, numbered(50)), f"after the {how} is gone the hook heard {len(heard)} chunks"
