"""The one sync bridge: a single event-loop thread per process.

User code stays synchronous; every gRPC coroutine runs on this loop.  An
agent server installs its own serving loop with `set_loop`, so agents that
call other remote agents share it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Awaitable, Optional

_lock = threading.Lock()
_loop: Optional[asyncio.AbstractEventLoop] = None
_thread: Optional[threading.Thread] = None


def _run_forever(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def get_loop() -> asyncio.AbstractEventLoop:
    """The process's gRPC loop, started on first use (daemon thread)."""
    global _loop, _thread  # pylint: disable=global-statement
    loop = _loop
    if loop is not None and not loop.is_closed():
        return loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            _thread = threading.Thread(
                target=_run_forever,
                args=(loop, ready),
                name="agentscope-rpc-loop",
                daemon=True,
            )
            _thread.start()
            ready.wait()
            _loop = loop
        return _loop


def set_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Use an already running loop (an agent server's) as the bridge loop."""
    global _loop  # pylint: disable=global-statement
    with _lock:
        _loop = loop


def in_loop_thread() -> bool:
    loop = _loop
    if loop is None:
        return False
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def submit(coro: Awaitable[Any]) -> concurrent.futures.Future:
    """Schedule `coro` on the loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, get_loop())  # type: ignore[arg-type]


def run_sync(coro: Awaitable[Any], timeout: Optional[float] = None) -> Any:
    """Run `coro` on the loop and wait for it from a plain thread."""
    if in_loop_thread():
        close = getattr(coro, "close", None)
        if close:
            close()
        raise RuntimeError(
            "blocking call made on the agentscope-rpc event loop; "
            "use `await` from async code instead",
        )
    future = submit(coro)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise
