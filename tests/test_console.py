"""ConsolePrinter: whole, non-interleaved lines from concurrent streams."""
import io
import threading

import pytest

from agentscope_rpc import runtime, speech
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.message import Msg
from agentscope_rpc.speech import SpeakEvent


def _stream(name, *texts, msg_id=None):
    """Speak events of one streamed message, content accumulated."""
    msg_id = msg_id or f"id-{name}"
    return [
        SpeakEvent(Msg(name, text, id=msg_id), True, i == len(texts) - 1, i)
        for i, text in enumerate(texts)
    ]


@pytest.fixture
def out():
    return io.StringIO()


@pytest.fixture
def printer(out):
    return ConsolePrinter(out, colour=False)


def test_single_whole_message(printer, out):
    printer(SpeakEvent(Msg("alice", "hello"), False, True))
    assert out.getvalue() == "alice: hello\n"


def test_stream_prints_growth_on_one_line(printer, out):
    for event in _stream("alice", "He", "Hello", "Hello!"):
        printer(event)
    assert out.getvalue() == "alice: Hello!\n"


def test_interleaved_streams_print_whole_lines(printer, out):
    a = _stream("alice", "I ", "I think", "I think so.")
    b = _stream("bob", "No", "No way", "No way!")
    for event_a, event_b in zip(a, b):
        printer(event_a)
        printer(event_b)
    assert out.getvalue() == "alice: I think so.\nbob: No way!\n"


def test_held_stream_continues_live_after_the_open_line_ends(printer, out):
    a = _stream("alice", "a1", "a1a2", "a1a2a3")
    b = _stream("bob", "b1", "b1b2", "b1b2b3")
    printer(a[0])
    printer(b[0])  # held
    printer(a[1])
    printer(a[2])  # alice's line ends; bob's held snapshot opens his line
    assert out.getvalue() == "alice: a1a2a3\nbob: b1"
    printer(b[1])
    printer(b[2])
    assert out.getvalue() == "alice: a1a2a3\nbob: b1b2b3\n"


def test_whole_message_waits_for_open_line(printer, out):
    a = _stream("alice", "x", "xy")
    printer(a[0])
    printer(SpeakEvent(Msg("host", "attention"), False, True))
    printer(a[1])
    assert out.getvalue() == "alice: xy\nhost: attention\n"


def test_error_ends_the_line(printer, out):
    a = _stream("alice", "half", "half a sen")
    printer(a[0])
    printer(
        SpeakEvent(
            Msg("alice", "half a sen", id="id-alice"),
            True,
            False,
            1,
            error=RuntimeError("boom"),
        ),
    )
    printer(SpeakEvent(Msg("bob", "next"), False, True))
    assert out.getvalue() == "alice: half a sen  [error: RuntimeError]\nbob: next\n"


def test_rewritten_text_restarts_line(printer, out):
    printer(SpeakEvent(Msg("a", "abc", id="m"), True, False, 0))
    printer(SpeakEvent(Msg("a", "XYZ", id="m"), True, True, 1))
    assert out.getvalue() == "a: abc\na: XYZ\n"


def test_dict_content_printed_as_json(printer, out):
    printer(SpeakEvent(Msg("a", {"vote": "bob"}), False, True))
    assert out.getvalue() == 'a: {"vote": "bob"}\n'


def test_colour_prefix(out):
    printer = ConsolePrinter(out, colour=True)
    printer(SpeakEvent(Msg("a", "x"), False, True))
    printer(SpeakEvent(Msg("b", "y"), False, True))
    printer(SpeakEvent(Msg("a", "z"), False, True))
    lines = out.getvalue().splitlines()
    assert all("\033[" in line for line in lines)
    assert lines[0].split("a")[0] == lines[2].split("a")[0]  # same colour per agent
    assert lines[0].split("a")[0] != lines[1].split("b")[0]


def test_two_agents_speaking_from_threads(monkeypatch, out):
    printer = ConsolePrinter(out, colour=False)
    monkeypatch.setattr(runtime.default(), "_printer", printer)

    class Talker(AgentBase):
        def reply(self, x=None):
            return self.speak(f"{self.name}-{i} " for i in range(50))

    agents = [Talker("alice"), Talker("bob")]
    start = threading.Barrier(2)

    def run(agent):
        start.wait()
        agent()

    threads = [threading.Thread(target=run, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    lines = out.getvalue().splitlines()
    assert sorted(lines) == sorted(
        f"{name}: " + "".join(f"{name}-{i} " for i in range(50)) for name in ("alice", "bob")
    )
