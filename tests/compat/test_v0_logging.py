"""`agentscope_rpc.logging` and loguru's `logger.chat` (issue 9, item 13)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import pytest

import agentscope_rpc
from agentscope_rpc import runtime
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.console import ConsolePrinter
from agentscope_rpc.logging import log_msg, log_stream_msg, setup_logger
from agentscope_rpc.message import Msg


class Speaker(AgentBase):
    """Streams a fixed sentence, word by word."""

    def reply(self, x=None):
        return self.speak(w for w in ["The ", "wolf ", "is ", "Bob."])


@pytest.fixture
def terminal():
    """The runtime's printer writes to a StringIO for the test."""
    out = io.StringIO()
    previous = runtime.default().set_printer(ConsolePrinter(out=out, colour=False))
    yield out
    runtime.default().set_printer(previous)


def test_log_msg_prints_a_whole_message(terminal):
    log_msg(Msg("Moderator", "Night falls.", "assistant"))
    assert "Moderator: Night falls." in terminal.getvalue()
    with pytest.raises(TypeError, match="takes a Msg"):
        log_msg({"name": "x", "content": "y"})


def test_log_stream_msg_prints_chunks_of_one_message(terminal):
    msg = Msg("Ann", "", "assistant")
    for text, last in (("Hel", False), ("Hello", False), ("Hello there", True)):
        msg.content = text
        log_stream_msg(msg, last=last)
    assert terminal.getvalue().count("Ann:") == 1 and "Hello there" in terminal.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_setup_logger_records_messages_in_the_run_dir(tmp_path, terminal):
    recorder = setup_logger(str(tmp_path), "INFO")
    try:
        Speaker("Seer")()
        log_msg(Msg("Moderator", "Day breaks.", "assistant"))
    finally:
        recorder.close()
    chat = [json.loads(line) for line in (tmp_path / "logging.chat").read_text(encoding="utf-8").splitlines()]
    assert [(m["name"], m["content"]) for m in chat] == [("Seer", "The wolf is Bob."), ("Moderator", "Day breaks.")]
    assert "Seer: The wolf is Bob." in terminal.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_loguru_logger_gets_chat(tmp_path):
    loguru = pytest.importorskip("loguru")
    agentscope_rpc.init(save_log=True, save_dir=str(tmp_path), runtime_id="r", console=False)
    loguru.logger.chat(Msg("Moderator", "The game begins.", "assistant"))  # 0.1.6's werewolf utils do this
    loguru.logger.info("a loguru line")
    loguru.logger.complete()
    chat = (tmp_path / "r" / "logging.chat").read_text(encoding="utf-8")
    assert "The game begins." in chat
    assert "a loguru line" in (tmp_path / "r" / "logging.log").read_text(encoding="utf-8")


def test_loguru_stays_optional(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "loguru" or name.startswith("loguru."):
                    raise ImportError("loguru blocked")
        sys.meta_path.insert(0, Block())
        import agentscope_rpc
        from agentscope_rpc.logging import log_msg
        from agentscope_rpc.message import Msg
        agentscope_rpc.init(save_log=True, save_dir={str(tmp_path)!r}, runtime_id="r")
        log_msg(Msg("Host", "no loguru here", "assistant"))
        assert "loguru" not in sys.modules
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Host: no loguru here" in result.stdout
    assert "no loguru here" in (tmp_path / "r" / "logging.chat").read_text(encoding="utf-8")


@pytest.mark.usefixtures("restore_logging")
def test_remote_speech_is_recorded_where_it_is_relayed(tmp_path, module_server):
    agentscope_rpc.init(save_log=True, save_dir=str(tmp_path), runtime_id="r", console=False)
    agent = Speaker("Remote", to_dist=module_server.options)
    assert agent().result(timeout=30).content == "The wolf is Bob."
    chat = [json.loads(line) for line in (tmp_path / "r" / "logging.chat").read_text(encoding="utf-8").splitlines()]
    assert [(m["name"], m["content"]) for m in chat] == [("Remote", "The wolf is Bob.")]
