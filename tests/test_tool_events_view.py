"""Tool events as viewers show them: the terminal, transcripts, and the live page in a real browser.

A function-calling agent speaks one message per reply around its tool calls:
text chunks, `tool_call`, `tool_result`, more chunks of the same message id.
The terminal prints each tool event as one line inside the open message (the
text goes on after the speaker's name); the page puts a tool chip inside the
message's card, between two text segments.
"""
from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.live_events import (ChunkEvent, EventEncoder, MessageEvent, ToolCallEvent, ToolResultEvent,
                                        from_data)
from agentscope_rpc.message import Msg
from agentscope_rpc.streaming import SpeakChunk
from agentscope_rpc.tools import events as tool_events
from agentscope_rpc.transcript import read_transcript, record, replay_to_terminal

ANSI = re.compile(r"\033\[[0-9;]*m")
WEATHER = json.dumps({"temp_c": 21, "sky": "sunny", "wind_kmh": 12})
CALL_LINE = "  ⚙ Assistant calls get_current_weather(city='Tokyo')…"
RESULT_LINE = "  ⚙ get_current_weather → " + WEATHER


def call(msg_id="m1", call_id="call_1", city="Tokyo"):
    return ToolCallEvent({"agent": "Assistant", "call_id": call_id, "tool": "get_current_weather",
                          "arguments": {"city": city}, "msg_id": msg_id, "round": 0})


def result(msg_id="m1", call_id="call_1", ok=True):
    data = {"agent": "Assistant", "call_id": call_id, "tool": "get_current_weather", "ok": ok,
            "content": WEATHER if ok else "Error: the weather service is down", "duration_s": 0.01,
            "msg_id": msg_id, "round": 0}
    if not ok:
        data["error"] = "ConnectionError: the weather service is down"
    return ToolResultEvent(data)


def chunks(msg_id, name, pieces, start=0, last=True):
    """Chunk events carrying deltas, numbered from `start`; the final one `last`."""
    return [ChunkEvent(msg_id, name, "assistant", start + i, last and i == len(pieces) - 1, delta=piece)
            for i, piece in enumerate(pieces)]


def message(msg_id, name, text):
    return MessageEvent({"id": msg_id, "name": name, "role": "assistant", "content": text, "metadata": {}})


def weather_reply(ok=True):
    """Text, the tool call and its result, more text of the same message, then the message."""
    closing = [" It is", " sunny."] if ok else [" I could", " not", " find", " out."]
    text = "Let me check." + "".join(closing)
    return (chunks("m1", "Assistant", ["Let", " me", " check."], last=False) + [call(), result(ok=ok)]
            + chunks("m1", "Assistant", closing, start=3) + [message("m1", "Assistant", text)])


def shown(events, colour=False) -> str:
    out = io.StringIO()
    printer = ConsolePrinter(out, colour=colour)
    for event in events:
        printer.show_event(event)
    return out.getvalue()


# -- the terminal ---------------------------------------------------------------------------------

def test_the_tool_lines_appear_inside_the_open_message_which_goes_on_after_the_name():
    lines = shown(weather_reply()).splitlines()
    assert lines == ["Assistant: Let me check.", CALL_LINE, RESULT_LINE, "Assistant: It is sunny."]
    assert not any("{" in line or "<tool_call>" in line for line in lines if line.startswith("Assistant:"))


def test_the_tool_line_is_printed_at_once_not_when_the_message_ends():
    out = io.StringIO()
    printer = ConsolePrinter(out, colour=False)
    for event in chunks("m1", "Assistant", ["Let", " me", " check."], last=False) + [call()]:
        printer.show_event(event)
    assert out.getvalue() == "Assistant: Let me check.\n" + CALL_LINE + "\n"  # the held word was flushed first


def test_a_tool_call_before_any_text_and_a_long_result_on_one_line():
    long = json.dumps({"forecast": [{"day": d, "sky": "sunny\nand warm"} for d in range(20)]})
    events = [call(), ToolResultEvent(dict(result().data, content=long))]
    events += chunks("m1", "Assistant", ["Sunny", " all", " week."]) + [message("m1", "Assistant", "Sunny all week.")]
    lines = shown(events).splitlines()
    assert lines[0] == CALL_LINE and lines[2] == "Assistant: Sunny all week." and len(lines) == 3
    assert lines[1].startswith("  ⚙ get_current_weather → {\"forecast\"") and lines[1].endswith("…")
    assert len(lines[1]) < 140


def test_a_failed_tool_says_why():
    lines = shown(weather_reply(ok=False)).splitlines()
    assert lines == ["Assistant: Let me check.", CALL_LINE,
                     "  ⚙ get_current_weather failed: ConnectionError: the weather service is down",
                     "Assistant: I could not find out."]


def test_a_tool_event_of_another_message_waits_for_the_open_line():
    out = io.StringIO()
    printer = ConsolePrinter(out, colour=False)
    for event in chunks("b1", "Bob", ["I", " am"], last=False) + [call(), result()]:
        printer.show_event(event)
    assert CALL_LINE not in out.getvalue()  # Bob's line is open
    for event in chunks("b1", "Bob", [" done."], start=2) + chunks("m1", "Assistant", ["It", " is", " sunny."]):
        printer.show_event(event)
    assert out.getvalue().splitlines() == ["Bob: I am done.", CALL_LINE, RESULT_LINE, "Assistant: It is sunny."]


def test_a_held_message_keeps_its_text_and_tool_lines_in_order():
    events = chunks("b1", "Bob", ["Hmm"], last=False) + weather_reply()[:-1]  # all while Bob speaks
    out = io.StringIO()
    printer = ConsolePrinter(out, colour=False)
    for event in events:
        printer.show_event(event)
    assert out.getvalue() == "Bob: "
    printer.show_event(ChunkEvent("b1", "Bob", "assistant", 1, True, delta=" ok."))
    assert out.getvalue().splitlines() == ["Bob: Hmm ok.", "Assistant: Let me check.", CALL_LINE, RESULT_LINE,
                                           "Assistant: It is sunny."]


def test_tool_lines_are_dim_only_in_colour():
    text = shown(weather_reply(), colour=True)
    assert "\033[2m" + CALL_LINE + "\033[0m" in text
    assert ANSI.sub("", text).splitlines()[1:3] == [CALL_LINE, RESULT_LINE]
    assert "\033[" not in shown(weather_reply())


def test_runtime_speech_and_tool_events_share_the_printer():
    """The agent's unclaimed speech goes to `printer(event)`, its tool events to `show_event`."""
    from agentscope_rpc.speech import SpeakEvent

    out = io.StringIO()
    printer = ConsolePrinter(out, colour=False)
    text = ""
    for i, piece in enumerate(["Let", " me", " check."]):
        text += piece
        printer(SpeakEvent(Msg("Assistant", text, id="m1"), True, False, i, delta=piece))
    printer.show_event(call())
    printer.show_event(result())
    for i, piece in enumerate([" It is", " sunny."], 3):
        text += piece
        printer(SpeakEvent(Msg("Assistant", text, id="m1"), True, i == 4, i, delta=piece))
    assert out.getvalue().splitlines() == ["Assistant: Let me check.", CALL_LINE, RESULT_LINE,
                                           "Assistant: It is sunny."]


# -- transcripts ----------------------------------------------------------------------------------

def stream_items(ok=True):
    """The app-stream items of one weather reply (tool events as the agent emits them)."""
    said, items = "", []
    for piece in ["Let", " me", " check."]:
        said += piece
        items.append(SpeakChunk(Msg("Assistant", said, role="assistant", id="m1"), False))
    items.append(tool_events.ToolCallEvent("Assistant", "call_1", "get_current_weather", {"city": "Tokyo"}, "m1"))
    items.append(tool_events.ToolResultEvent(
        "Assistant", "call_1", "get_current_weather", WEATHER if ok else "Error: down", ok,
        None if ok else "ConnectionError: the weather service is down", 0.01, "m1"))
    for i, piece in enumerate([" It is", " sunny."]):
        said += piece
        items.append(SpeakChunk(Msg("Assistant", said, role="assistant", id="m1"), i == 1))
    return items


def test_a_transcript_keeps_tool_events_and_replays_them(tmp_path):
    path = tmp_path / "weather.jsonl"
    items = stream_items()
    assert list(record(iter(items), path)) == items
    events = [event for _, event in read_transcript(path)]
    assert [e.type for e in events] == ["chunk"] * 3 + ["tool_call", "tool_result"] + ["chunk"] * 2 + \
        ["message", "end"]
    tool_call, tool_result = events[3], events[4]
    assert isinstance(tool_call, ToolCallEvent) and tool_call.data == {
        "agent": "Assistant", "call_id": "call_1", "tool": "get_current_weather", "arguments": {"city": "Tokyo"},
        "msg_id": "m1", "round": 0}
    assert isinstance(tool_result, ToolResultEvent) and tool_result.data["content"] == WEATHER
    for event in events:  # each round-trips through its JSON payload
        assert from_data(event.type, json.loads(json.dumps(event.to_data()))) == event
    out = io.StringIO()
    assert replay_to_terminal(path, ConsolePrinter(out, colour=False)) == len(events)
    assert out.getvalue().splitlines() == ["Assistant: Let me check.", CALL_LINE, RESULT_LINE,
                                           "Assistant: It is sunny."]
    live = io.StringIO()
    printer, encoder = ConsolePrinter(live, colour=False), EventEncoder()
    for item in items:
        for event in encoder.encode(item):
            printer.show_event(event)
    assert live.getvalue() == out.getvalue()  # the replay shows what the live run showed


def test_a_malformed_tool_event_is_rejected():
    with pytest.raises(ValueError, match="tool"):
        from_data("tool_call", {"call_id": "x"})


# -- the live page in a real browser ---------------------------------------------------------------

CARD_STATE = """() => {
  const cards = [...document.querySelectorAll('.card')];
  return cards.map(c => ({
    id: c.dataset.id, name: c.dataset.name, open: c.classList.contains('open'),
    parts: [...c.querySelector('.text').children].map(n => n.classList.contains('tool-call')
      ? {chip: n.className, tool: n.dataset.tool, call: n.dataset.callId, text: n.textContent, title: n.title}
      : {seg: n.textContent}),
  }));
}"""


def page_transcript(tmp_path):
    """Two replies: one whose tool answers, one whose tool fails, and a message with no tools."""
    ok = stream_items()
    failed = [item._replace(msg=Msg("Assistant", item.msg.content.replace("sunny", "unknown"), role="assistant",
                                    id="m2"))
              if isinstance(item, SpeakChunk) else item for item in stream_items(ok=False)]
    for item in failed:
        if not isinstance(item, SpeakChunk):
            item.msg_id, item.call_id = "m2", "call_2"
    plain = [Msg("Narrator", "That is all.", role="system")]
    path = tmp_path / "page.jsonl"
    list(record(iter(ok + failed + plain), path))
    return path


@pytest.fixture(scope="module")
def browser():
    """Chromium, imported here so that the terminal tests need no browser."""
    pytest.importorskip("starlette")
    page_helpers = pytest.importorskip("_page")
    with page_helpers.chromium() as launched:
        yield launched


@pytest.fixture
def page_of(browser):
    """`page_of(transcript)`: the live page replaying it at once, once its stream has ended."""
    from _page import served

    from agentscope_rpc.sse import create_app

    with contextlib.ExitStack() as stack:
        def open_page(path, query="?speed=0"):
            url = stack.enter_context(served(create_app(replay=str(path))))
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            stack.callback(page.close)
            page.goto(url + "/" + query)
            page.wait_for_selector("body[data-ended]", timeout=60_000)
            return page

        yield open_page


def test_the_page_shows_tool_chips_inside_the_message(page_of, tmp_path):
    page = page_of(page_transcript(tmp_path))
    cards = page.evaluate(CARD_STATE)
    assert [c["id"] for c in cards[:2]] == ["m1", "m2"] and len(cards) == 3  # one card per message
    first, second, plain = cards
    assert first["name"] == "Assistant" and not first["open"]
    assert [("chip" if "chip" in p else "seg") for p in first["parts"]] == ["seg", "chip", "seg"]
    before, chip, after = first["parts"]
    assert before["seg"] == "Let me check." and after["seg"] == "It is sunny."
    assert chip["tool"] == "get_current_weather" and chip["call"] == "call_1"
    assert "tool-ok" in chip["chip"].split() and "tool-pending" not in chip["chip"].split()
    assert 'get_current_weather(city: "Tokyo")' in chip["text"] and "→" in chip["text"] and "21" in chip["text"]
    assert chip["title"] == WEATHER  # the full result
    for card in cards:
        for part in card["parts"]:
            if "seg" in part:
                assert "<tool_call>" not in part["seg"] and '{"city"' not in part["seg"]
                assert "temp_c" not in part["seg"]
    chip2 = second["parts"][1]
    assert "tool-failed" in chip2["chip"].split() and chip2["call"] == "call_2"
    assert "failed: ConnectionError" in chip2["text"]
    assert second["parts"][2]["seg"] == "It is unknown."
    assert plain["parts"] == [{"seg": "That is all."}]  # no tools: one plain segment, as before
    assert page.locator(".card[data-id=m1] .tool-call.tool-ok[data-tool=get_current_weather]").count() == 1


def test_a_chip_is_pending_until_its_result_and_a_call_may_open_the_card(page_of, tmp_path):
    path = tmp_path / "pending.jsonl"
    events = [call(msg_id="m9"), *chunks("m9", "Assistant", ["Checking", " now"], last=False)]
    path.write_text("".join(json.dumps({"t": 0.0, "event": e.type, "data": e.to_data()}) + "\n" for e in events)
                    + json.dumps({"t": 0.0, "event": "end", "data": {"status": "completed"}}) + "\n")
    page = page_of(path)
    (card,) = page.evaluate(CARD_STATE)
    assert card["id"] == "m9" and card["name"] == "Assistant"
    assert [("chip" if "chip" in p else "seg") for p in card["parts"]] == ["seg", "chip", "seg"]
    assert card["parts"][0] == {"seg": ""} and card["parts"][2] == {"seg": "Checking now"}
    chip = card["parts"][1]
    assert "tool-pending" in chip["chip"].split() and "tool-ok" not in chip["chip"].split()
    assert chip["text"].startswith('⚙ calling get_current_weather(city: "Tokyo") …')
    assert page.locator(".card[data-id=m9] .tool-call[data-call-id=call_1]").count() == 1
