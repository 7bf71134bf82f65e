"""`Runtime`: what one process — or one in-process agent server — owns.

    Runtime
    ├── printer          the console printer speech falls back to (None: silent)
    ├── loop()           the one event-loop thread every gRPC coroutine runs on
    ├── dispatch(key,…)  ordered delivery of relayed events to hooks and sinks
    ├── service(key,…)   per-runtime singletons built on demand (RPC clients)
    ├── proxies          agent id -> the live proxies whose hooks see its speech
    ├── runtime stream   where put_into_stream goes outside an app
    └── fetch_identity   the TLS identity presented when fetching placeholders

User code stays synchronous; `run_sync` / `submit` are the one bridge into
the loop.  `current()` is the runtime of the calling context: an agent
server binds its own while it serves, so agents it hosts never touch the
orchestrator's printer, loop or clients; everywhere else it is `default()`.
Nothing here imports the transport: the RPC layer builds its clients through
`service()` and finds the runtime it was handed.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
import weakref
from collections import deque
from typing import Any, Awaitable, Callable, Hashable, Iterator, Optional

DISPATCH_THREADS = 8  # hooks of different agents may run at once, each agent's in order
_DEFAULT_PRINTER: Any = object()


class Runtime:
    """See the module docstring."""

    def __init__(self, name: str = "orchestrator", printer: Any = _DEFAULT_PRINTER) -> None:
        self.name = name
        self._printer = printer
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[threading.Thread] = None
        self._own_loop = False
        self._services: dict = {}
        self._dispatch_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._lanes: dict = {}  # dispatch key -> deque of pending jobs (one lane runs at a time)
        self.proxies: dict[str, "weakref.WeakSet"] = {}
        self.fetch_identity: tuple[str, str] = ("", "")
        self.runtime_streams: deque = deque()  # see streaming.get_runtime_stream
        self.closed = False

    def __repr__(self) -> str:
        return f"Runtime({self.name!r})"

    # -- printer -------------------------------------------------------------------
    @property
    def printer(self) -> Optional[Callable[[Any], None]]:
        printer = self._printer
        if printer is _DEFAULT_PRINTER:
            from .console import ConsolePrinter

            with self._lock:
                if self._printer is _DEFAULT_PRINTER:
                    self._printer = ConsolePrinter()
                printer = self._printer
        return printer

    def set_printer(self, printer: Optional[Callable[[Any], None]]) -> Optional[Callable[[Any], None]]:
        """Install the console printer (None: print nothing); returns the previous one."""
        with self._lock:
            previous, self._printer = self._printer, printer
        return None if previous is _DEFAULT_PRINTER else previous

    def show(self, event: Any) -> None:
        """Print a speak event that no bound sink claimed."""
        printer = self.printer
        if printer is not None:
            printer(event)

    # -- the loop bridge -----------------------------------------------------------
    def loop(self) -> asyncio.AbstractEventLoop:
        """The runtime's event loop, started on first use (a daemon thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            return loop
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run_loop,
                    args=(loop, ready),
                    name=f"agentscope-rpc-loop-{self.name}",
                    daemon=True,
                )
                thread.start()
                ready.wait()
                self._loop, self._loop_thread, self._own_loop = loop, thread, True
            return self._loop

    def _run_loop(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        _current.set(self)  # tasks made on this loop inherit this runtime
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Adopt a loop that is already running (an agent server's own)."""
        with self._lock:
            self._loop, self._own_loop = loop, False

    def in_loop_thread(self) -> bool:
        loop = self._loop
        if loop is None:
            return False
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run `func(*args)` on the loop, from any thread."""
        if self.in_loop_thread():
            self._loop.call_soon(func, *args)  # type: ignore[union-attr]
        else:
            self.loop().call_soon_threadsafe(func, *args)

    def submit(self, coro: Awaitable[Any]) -> concurrent.futures.Future:
        """Schedule `coro` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop())  # type: ignore[arg-type]

    def run_sync(self, coro: Awaitable[Any], timeout: Optional[float] = None) -> Any:
        """Run `coro` on the loop and wait for it from a plain thread."""
        if self.in_loop_thread():
            close = getattr(coro, "close", None)
            if close:
                close()
            raise RuntimeError(
                "blocking call made on the agentscope-rpc event loop; use `await` from async code instead",
            )
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # -- ordered delivery ----------------------------------------------------------
    def dispatch(self, key: Hashable, func: Callable[..., Any], *args: Any) -> "asyncio.Future":
        """Run `func(*args)` off the loop, after earlier jobs of the same `key`.

        Called on the loop; returns an asyncio future of the result.  Jobs of
        one key (one remote agent) run one at a time in submission order, so
        its speech reaches hooks in the order spoken; different keys run on
        different threads, so a stuck hook holds up only its own agent.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
            lane.append((func, args, future))
            self._run_lane(key, lane)
        else:
            lane.append((func, args, future))
        return future

    def _run_lane(self, key: Hashable, lane: deque) -> None:
        pool = self._dispatch_pool
        if pool is None:
            pool = self._dispatch_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=DISPATCH_THREADS,
                thread_name_prefix=f"agentscope-rpc-dispatch-{self.name}",
            )
        func, args, future = lane[0]
        loop = future.get_loop()
        ctx = contextvars.copy_context()

        def job() -> None:
            try:
                value, error = ctx.run(func, *args), None
            except BaseException as err:  # pylint: disable=broad-except
                value, error = None, err
            loop.call_soon_threadsafe(self._lane_done, key, lane, value, error)

        try:
            pool.submit(job)
        except RuntimeError as err:  # interpreter shutdown
            self._lane_done(key, lane, None, err)

    def _lane_done(self, key: Hashable, lane: deque, value: Any, error: Optional[BaseException]) -> None:
        _, _, future = lane.popleft()
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        if lane:
            self._run_lane(key, lane)
        else:
            del self._lanes[key]

    # -- per-runtime singletons (RPC clients) ----------------------------------------
    def service(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        """The object stored under `key`, built by `factory()` the first time."""
        value = self._services.get(key)
        if value is None:
            with self._lock:
                value = self._services.get(key)
                if value is None:
                    value = self._services[key] = factory()
        return value

    def services(self) -> list:
        with self._lock:
            return list(self._services.values())

    def drop_service(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if self._services.get(key) is value:
                del self._services[key]

    # -- proxies ---------------------------------------------------------------------
    def register_proxy(self, agent_id: str, proxy: Any) -> None:
        """`proxy` stands for `agent_id` here: its hooks see that agent's speech."""
        with self._lock:
            live = self.proxies.get(agent_id)
            if live is None:
                live = self.proxies[agent_id] = weakref.WeakSet()
            live.add(proxy)

    def proxies_for(self, agent_id: str) -> list:
        live = self.proxies.get(agent_id)
        return list(live) if live else []

    # -- the runtime stream (put_into_stream outside apps) ---------------------------
    # Oldest first.  Writers use the newest open stream (a new one after
    # stop_stream); readers take the oldest that is open or still holds
    # items, so what was put before a stop_stream() is read before it ends.
    def _open_streams(self) -> deque:
        streams = self.runtime_streams
        while streams and streams[0].status is not None and not streams[0].pending():
            streams.popleft()
        return streams

    def runtime_stream_writer(self) -> Any:
        from .app_stream import AppStream

        with self._lock:
            streams = self._open_streams()
            if not streams or streams[-1].status is not None:
                streams.append(AppStream())
            return streams[-1]

    def runtime_stream_reader(self) -> Any:
        from .app_stream import AppStream

        with self._lock:
            streams = self._open_streams()
            if not streams:
                streams.append(AppStream())
            return streams[0]

    # -- end ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the loop thread this runtime started and its dispatcher."""
        self.closed = True
        pool, self._dispatch_pool = self._dispatch_pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        loop, thread = self._loop, self._loop_thread
        if loop is not None and self._own_loop and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
        self._loop = None


_default: Optional[Runtime] = None
_default_lock = threading.Lock()
_current: contextvars.ContextVar[Optional[Runtime]] = contextvars.ContextVar("agentscope_rpc_runtime", default=None)


def default() -> Runtime:
    """The process's runtime (the orchestrator's, or a server process's own)."""
    global _default  # pylint: disable=global-statement
    runtime = _default
    if runtime is None:
        with _default_lock:
            if _default is None:
                _default = Runtime()
            runtime = _default
    return runtime


def current() -> Runtime:
    """The runtime of the calling context (see module docstring)."""
    return _current.get() or default()


@contextlib.contextmanager
def bound(runtime: Runtime) -> Iterator[Runtime]:
    """Make `runtime` current for the code run inside the block."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)


__all__ = ["Runtime", "default", "current", "bound"]
