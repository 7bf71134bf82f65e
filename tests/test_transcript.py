"""Transcripts: an app stream recorded as JSON lines, read back, replayed to the terminal."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.live_events import ChunkEvent, EventEncoder, MessageEvent, PutEvent
from agentscope_rpc.message import Msg
from agentscope_rpc.streaming import pipeline, put_into_stream
from agentscope_rpc.transcript import TranscriptError, read_transcript, record, replay_to_terminal


class Talker(AgentBase):
    """Speaks its words one delta at a time."""

    def reply(self, x=None):
        return self.speak(w for w in ("Hello ", "there, ", "audience."))


@pipeline(chunks=True)
def show(fail: bool = False):
    put_into_stream({"type": "phase", "title": "Act 1"})
    Talker("Ann")()
    AgentBase("Narrator").speak(Msg("Narrator", "The end.", role="system"))
    if fail:
        raise ValueError("the stage collapsed")


def live_text(items: list) -> str:
    out = io.StringIO()
    printer = ConsolePrinter(out, colour=False)
    encoder = EventEncoder()
    for item in items:
        for event in encoder.encode(item):
            printer.show_event(event)
    return out.getvalue()


def test_a_recorded_stream_reads_back_and_replays_as_it_was_shown(tmp_path):
    path = tmp_path / "show.jsonl"
    items = list(record(show(), path))  # the app's items pass through unchanged
    events = [event for _, event in read_transcript(path)]
    kinds = [event.type for event in events]
    assert kinds[0] == "put" and kinds[-1] == "end" and events[-1].status == "completed"
    chunks = [e for e in events if isinstance(e, ChunkEvent)]
    assert "".join(c.delta for c in chunks) == "Hello there, audience." and chunks[-1].last
    assert [e.msg["content"] for e in events if isinstance(e, MessageEvent)] == ["Hello there, audience.", "The end."]
    times = [t for t, _ in read_transcript(path)]
    assert times == sorted(times)
    out = io.StringIO()
    assert replay_to_terminal(path, ConsolePrinter(out, colour=False)) == len(events)
    assert out.getvalue() == live_text(items) == "\n== Act 1 ==\nAnn: Hello there, audience.\nNarrator: The end.\n"


def test_an_app_error_is_recorded_then_raised(tmp_path):
    path = tmp_path / "broken.jsonl"
    with pytest.raises(ValueError, match="collapsed"):
        for _ in record(show(fail=True), path):
            pass
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[-2]["event"] == "error" and lines[-2]["data"]["message"] == "the stage collapsed"
    assert lines[-1] == {"t": lines[-1]["t"], "event": "end", "data": {"status": "error"}}


def test_put_data_is_stored_as_json_never_as_a_repr(tmp_path):
    path = tmp_path / "data.jsonl"

    @pipeline
    def app():
        put_into_stream({"roles": {"Ann": "seer"}, "survivors": ("Ann",), "note": "two\nlines"})

    list(record(app(), path))
    first = next(read_transcript(path))[1]
    assert isinstance(first, PutEvent)
    assert first.data == {"roles": {"Ann": "seer"}, "survivors": ["Ann"], "note": "two\nlines"}
    assert len(path.read_text().splitlines()) == 2  # a newline in the data does not break the line format


def test_a_broken_line_is_a_clear_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"t": 0, "event": "put", "data": 1}) + "\n{oops\n")
    got = []
    with pytest.raises(TranscriptError, match=r"bad.jsonl:2"):
        for _, event in read_transcript(path):
            got.append(event)
    assert got == [PutEvent(1)]  # what came before is kept
    with pytest.raises(TranscriptError, match="cannot read transcript"):
        list(read_transcript(tmp_path / "missing.jsonl"))


def test_the_replay_command(tmp_path):
    path = tmp_path / "show.jsonl"
    list(record(show(), path))
    done = subprocess.run([sys.executable, "-m", "agentscope_rpc.transcript", str(path), "--color", "never"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "Ann: Hello there, audience." in done.stdout
    done = subprocess.run([sys.executable, "-m", "agentscope_rpc.transcript", str(tmp_path / "nope.jsonl")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot read transcript" in done.stderr
