"""AgentBase.speak: whole messages, streamed generators, hooks and listeners."""
import pytest

from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg


class Speaker(AgentBase):
    def reply(self, x=None):
        return self.speak(x)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(runtime.default(), "_printer", None)


@pytest.fixture
def agent():
    return Speaker("bot")


@pytest.fixture
def chunks(agent):
    """Every chunk the pre_speak hooks see: (msg, stream, last)."""
    seen = []

    def hook(self, msg, stream, last):
        seen.append((msg.copy(), stream, last))

    agent.register_hook("pre_speak", "record", hook)
    return seen


@pytest.fixture
def heard():
    """Every event the bound listeners receive."""
    events = []
    with speech.bind_sinks(lambda event: events.append(event) or True):
        yield events


def _tuples(*texts):
    """An AgentScope v0 style generator: (last, text_so_far)."""
    for i, text in enumerate(texts):
        yield i == len(texts) - 1, text


def _deltas(*parts):
    yield from parts


def test_speak_str(agent, chunks, heard):
    msg = agent.speak("hello")
    assert isinstance(msg, Msg)
    assert (msg.name, msg.content, msg.role) == ("bot", "hello", "assistant")
    assert [(m.content, s, l) for m, s, l in chunks] == [("hello", False, True)]
    assert chunks[0][0].id == msg.id
    assert len(heard) == 1
    assert heard[0].msg.id == msg.id and heard[0].last and not heard[0].stream
    assert heard[0].agent_id == agent.agent_id


def test_speak_msg_returns_it(agent, chunks, heard):
    original = Msg("narrator", "once upon a time", role="system")
    msg = agent.speak(original)
    assert msg is original
    assert chunks[0][0].id == original.id
    assert heard[0].msg.id == original.id
    assert heard[0].msg.name == "narrator"


@pytest.mark.parametrize(
    "make, closing",
    [
        (lambda: _tuples("He", "Hello", "Hello, wor", "Hello, world"), False),
        # a delta generator cannot flag its last chunk: every chunk is sent
        # at once and one closing event (same content, last=True) ends it
        (lambda: _deltas("He", "llo", ", wor", "ld"), True),
    ],
    ids=["last-text-tuples", "deltas"],
)
def test_speak_stream(agent, chunks, heard, make, closing):
    post = []
    agent.register_hook("post_speak", "post", lambda self: post.append(1))
    msg = agent.speak(make())

    texts = ["He", "Hello", "Hello, wor", "Hello, world"] + (["Hello, world"] if closing else [])
    lasts = [False] * (len(texts) - 1) + [True]
    assert [m.content for m, _, _ in chunks] == texts
    assert all(stream for _, stream, _ in chunks)
    assert [last for _, _, last in chunks] == lasts
    assert {m.id for m, _, _ in chunks} == {msg.id}
    assert msg.content == "Hello, world"
    assert msg.name == "bot"
    assert post == [1]

    assert [e.msg.content for e in heard] == texts
    assert [e.seq for e in heard] == list(range(len(texts)))
    assert [e.last for e in heard] == lasts
    assert {e.msg.id for e in heard} == {msg.id}


def test_tuple_stream_stops_at_last(agent, chunks):
    def gen():
        yield False, "a"
        yield True, "ab"
        raise AssertionError("read past the last chunk")

    assert agent.speak(gen()).content == "ab"
    assert [last for _, _, last in chunks] == [False, True]


def test_stream_through_reply_keeps_id(agent, chunks):
    msg = agent(_deltas("x", "y"))
    assert msg.content == "xy"
    assert chunks[-1][0].id == msg.id


def test_generator_error_propagates(agent, chunks, heard):
    post = []
    agent.register_hook("post_speak", "post", lambda self: post.append(1))

    def broken():
        yield "one "
        yield "two "
        raise RuntimeError("model died")

    with pytest.raises(RuntimeError, match="model died"):
        agent.speak(broken())

    assert post == [1]
    # every chunk yielded before the error reached the hooks, none flagged last
    assert [m.content for m, _, _ in chunks] == ["one ", "one two "]
    assert not any(last for _, _, last in chunks)
    # listeners get those chunks, then one error event at the next position
    assert [e.msg.content for e in heard] == ["one ", "one two ", "one two "]
    assert [e.seq for e in heard] == [0, 1, 2]
    assert [e.error for e in heard[:-1]] == [None, None]
    assert isinstance(heard[-1].error, RuntimeError)
    assert not heard[-1].last
    assert len({e.msg.id for e in heard}) == 1


def test_generator_error_before_first_chunk(agent, chunks, heard):
    def broken():
        raise ValueError("no tokens")
        yield  # pylint: disable=unreachable

    with pytest.raises(ValueError):
        agent.speak(broken())
    assert chunks == []
    assert len(heard) == 1 and isinstance(heard[0].error, ValueError)


def test_generator_is_closed_on_error_in_hook(agent, heard):
    closed = []

    def gen():
        try:
            yield "a"
            yield "b"
            yield "c"
        finally:
            closed.append(True)

    def bad_hook(self, msg, stream, last):
        raise KeyError("hook failed")

    agent.register_hook("pre_speak", "bad", bad_hook)
    with pytest.raises(KeyError):
        agent.speak(gen())
    assert closed == [True]
    assert heard and isinstance(heard[-1].error, KeyError)


def test_pre_speak_modification_reaches_listeners_not_return_value(agent, heard):
    def shout(self, msg, stream, last):
        return Msg(msg.name, msg.content.upper(), msg.role, id=msg.id)

    agent.register_hook("pre_speak", "shout", shout)
    msg = agent.speak("quiet")
    assert msg.content == "quiet"
    assert [e.msg.content for e in heard] == ["QUIET"]

    heard.clear()
    streamed = agent.speak(_deltas("ab", "c"))
    assert streamed.content == "abc"
    assert [e.msg.content for e in heard] == ["AB", "ABC", "ABC"]  # + the closing event


def test_pre_speak_mutation_without_return_is_invisible(agent, heard):
    def mutate(self, msg, stream, last):
        msg.content = "changed"  # a copy: returning None passes the original on

    agent.register_hook("pre_speak", "mutate", mutate)
    msg = agent.speak("original")
    assert msg.content == "original"
    assert heard[0].msg.content == "original"


def test_empty_generator(agent, chunks, heard):
    post = []
    agent.register_hook("post_speak", "post", lambda self: post.append(1))
    msg = agent.speak(_deltas())
    assert msg.content == ""
    assert [(m.content, s, l) for m, s, l in chunks] == [("", True, True)]
    assert chunks[0][0].id == msg.id
    assert len(heard) == 1 and heard[0].last
    assert post == [1]


def test_unclaimed_events_go_to_console_printer(agent, monkeypatch):
    printed = []
    monkeypatch.setattr(runtime.default(), "_printer", printed.append)
    agent.speak("to the console")
    assert [e.msg.content for e in printed] == ["to the console"]

    printed.clear()
    with speech.bind_sinks(lambda event: True):  # claims it
        agent.speak("claimed")
    assert printed == []

    with speech.bind_sinks(lambda event: False):  # listens but does not claim
        agent.speak("shared")
    assert [e.msg.content for e in printed] == ["shared"]


def test_speak_rejects_unspeakable(agent):
    with pytest.raises(TypeError):
        agent.speak(42)
