"""ConsolePrinter: whole, non-interleaved, wrapped lines; colours; console.print; logging."""
import io
import logging
import re
import threading

import pytest

from agentscope_rpc import console, runtime
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.console import COLOURS, ConsoleLogHandler, ConsolePrinter, route_logging
from agentscope_rpc.live_events import ChunkEvent, EndEvent, MessageEvent, PutEvent
from agentscope_rpc.message import Msg
from agentscope_rpc.speech import SpeakEvent

ANSI = re.compile(r"\033\[[0-9;]*m")


def _stream(name, *texts, msg_id=None):
    """Speak events of one streamed message, content accumulated."""
    msg_id = msg_id or f"id-{name}"
    return [
        SpeakEvent(Msg(name, text, id=msg_id), True, i == len(texts) - 1, i)
        for i, text in enumerate(texts)
    ]


def _deltas(name, *pieces, msg_id=None):
    """Speak events carrying deltas (as the runtime sends them)."""
    msg_id = msg_id or f"id-{name}"
    events, text = [], ""
    for i, piece in enumerate(pieces):
        text += piece
        events.append(SpeakEvent(Msg(name, text, id=msg_id), True, i == len(pieces) - 1, i, delta=piece))
    return events


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
    assert out.getvalue() == "alice: a1a2a3\nbob: "  # his word may continue: held back
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
    printer(_stream("alice", "half", "half a sen")[0])
    printer(SpeakEvent(Msg("alice", "half a sen", id="id-alice"), True, False, 1, error=RuntimeError("boom")))
    printer(SpeakEvent(Msg("bob", "next"), False, True))
    assert out.getvalue() == "alice: half a sen  [error: RuntimeError]\nbob: next\n"


def test_rewritten_text_restarts_line(printer, out):
    printer(SpeakEvent(Msg("a", "abc", id="m"), True, False, 0))
    printer(SpeakEvent(Msg("a", "XYZ", id="m"), True, True, 1))
    assert out.getvalue() == "a: abc\na: XYZ\n"


def test_dict_content_printed_as_json(printer, out):
    printer(SpeakEvent(Msg("a", {"vote": "bob"}), False, True))
    assert out.getvalue() == 'a: {"vote": "bob"}\n'


def test_twelve_speakers_get_twelve_colours(out):
    printer = ConsolePrinter(out, color="always", styles={"Moderator": "bold"})
    names = ["Moderator"] + [f"p{i}" for i in range(12)]
    for name in names + ["p0"]:
        printer(SpeakEvent(Msg(name, "x"), False, True))
    prefixes = [line.split("p")[0] if not line.startswith("\033[1m") else "bold" for line in out.getvalue().splitlines()]
    assert len(set(prefixes[1:13])) == 12  # p0..p11 all different
    assert prefixes[13] == prefixes[1]  # the same speaker keeps its colour
    assert out.getvalue().startswith("\033[1mModerator")  # a style of its own, not from the palette
    assert len(COLOURS) == 12 and len(set(COLOURS)) == 12


@pytest.mark.parametrize("color, tty, env, expected", [
    ("always", False, {}, True), ("never", True, {}, False), ("auto", False, {}, False),
    ("auto", True, {}, True), ("auto", True, {"NO_COLOR": "1"}, False), ("auto", False, {"FORCE_COLOR": "1"}, True),
])
def test_color_option(monkeypatch, color, tty, env, expected):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    stream = io.StringIO()
    stream.isatty = lambda: tty
    printer = ConsolePrinter(stream, color=color)
    printer(SpeakEvent(Msg("a", "x"), False, True))
    assert ("\033[" in stream.getvalue()) == expected


def test_bad_color_value_is_a_clear_error():
    with pytest.raises(ValueError, match="auto, always or never"):
        ConsolePrinter(io.StringIO(), color="sometimes")


def test_streamed_lines_wrap_between_words_never_inside_one(out):
    printer = ConsolePrinter(out, colour=False, width=24)
    text = "the quick brown fox jumps over the lazy dog and keeps on running far away"
    pieces = re.findall(r"\S{1,3}|\s+", text)  # words split across deltas, as tokens are
    for event in _deltas("Alice", *pieces):
        printer(event)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 24 for line in lines), lines
    assert " ".join(line.strip() for line in lines) == "Alice: " + text
    assert all(line.startswith("       ") for line in lines[1:])  # hanging indent under the text
    words = set(text.split())
    assert all(w in words for line in lines[1:] for w in line.split())  # no word was cut


def test_heading_is_a_blank_line_and_a_title_after_the_open_line(printer, out):
    a = _stream("alice", "a", "ab")
    printer(a[0])
    printer.heading("Night 1")  # waits: alice is still speaking
    printer(a[1])
    assert out.getvalue() == "alice: ab\n\n== Night 1 ==\n"


def test_console_print_lands_on_its_own_line_and_the_stream_resumes(out):
    printer = ConsolePrinter(out, colour=False)
    a = _deltas("Ann", "I ", "am ", "here.")
    printer(a[0])
    console.print("[hook Ann] saw a chunk", file=out)
    printer(a[1])
    printer(a[2])
    assert out.getvalue() == "Ann: I\n[hook Ann] saw a chunk\nAnn: am here.\n"


def test_log_records_through_the_console_handler_land_on_their_own_line(out):
    printer = ConsolePrinter(out, colour=False)
    logger = logging.getLogger("test_console.handler")
    handler = ConsoleLogHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        a = _deltas("Bob", "one ", "two")
        printer(a[0])
        logger.warning("careful")
        printer(a[1])
    finally:
        logger.removeHandler(handler)
    assert out.getvalue() == "Bob: one\nWARNING careful\nBob: two\n"


def test_route_logging_moves_terminal_handlers_onto_the_console():
    logger = logging.getLogger("test_console.route")
    plain = logging.StreamHandler()  # stderr
    plain.setLevel(logging.INFO)
    logger.addHandler(plain)
    try:
        route_logging(logger)
        route_logging(logger)  # twice: no change
        routed = [h for h in logger.handlers if isinstance(h, ConsoleLogHandler)]
        assert len(routed) == 1 and plain not in logger.handlers and routed[0].level == logging.INFO
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)


def test_live_events_show_like_speech(printer, out):
    printer.show_event(PutEvent({"type": "phase", "title": "Day 1"}))
    printer.show_event(ChunkEvent("m1", "Eve", "assistant", 0, False, delta="I sus"))
    printer.show_event(PutEvent({"type": "phase", "title": "Night 2"}))  # waits for Eve's line
    printer.show_event(ChunkEvent("m1", "Eve", "assistant", 1, False, delta="pect Bob."))
    printer.show_event(ChunkEvent("m1", "Eve", "assistant", 2, True, delta=""))
    printer.show_event(MessageEvent({"id": "m1", "name": "Eve", "content": "I suspect Bob."}))  # shown already
    printer.show_event(MessageEvent({"id": "m2", "name": "Bob", "content": "I want Eve tonight.",
                                     "metadata": {"narration": {"channel": "werewolves"}}}))
    printer.show_event(EndEvent("completed"))
    assert out.getvalue() == ("\n== Day 1 ==\nEve: I suspect Bob.\n\n== Night 2 ==\n"
                              "Bob: (werewolves only) I want Eve tonight.\n")


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
        f"{name}: " + " ".join(f"{name}-{i}" for i in range(50)) for name in ("alice", "bob")
    )
