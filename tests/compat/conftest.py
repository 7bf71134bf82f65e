"""Fixtures of the AgentScope 0.1.6 compatibility tests."""
from __future__ import annotations

import logging
from typing import Iterator

import pytest

from agentscope_rpc import runtime
from agentscope_rpc.logging import RecordingPrinter
from agentscope_rpc.models import set_invocation_dir


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`init()` configures process-wide logging and run files: undo that after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    printer = runtime.default().printer
    if isinstance(printer, RecordingPrinter):
        printer.recorder.close()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    set_invocation_dir(None)
