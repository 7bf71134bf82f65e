"""The sync bridge of the default runtime (see `agentscope_rpc.runtime`)."""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Awaitable, Optional

from .. import runtime


def get_loop() -> asyncio.AbstractEventLoop:
    return runtime.default().loop()


def set_loop(loop: asyncio.AbstractEventLoop) -> None:
    runtime.default().use_loop(loop)


def in_loop_thread() -> bool:
    return runtime.default().in_loop_thread()


def submit(coro: Awaitable[Any]) -> concurrent.futures.Future:
    return runtime.default().submit(coro)


def run_sync(coro: Awaitable[Any], timeout: Optional[float] = None) -> Any:
    return runtime.default().run_sync(coro, timeout)
