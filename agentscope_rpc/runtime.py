"""`Runtime`: what one process — or one in-process agent server — owns.

    Runtime
    ├── printer          the console printer speech falls back to (None: silent)
    ├── loop()           the one event-loop thread every gRPC coroutine runs on
    ├── dispatch(key,…)  ordered delivery of relayed events to hooks and sinks
    ├── service(key,…)   per-runtime singletons built on demand (RPC clients)
    ├── proxies          agent id -> the live proxies whose hooks see its speech
    ├── runtime stream   where put_into_stream goes outside an app
    ├── children         child-mode agent servers, stopped at exit
    └── fetch_identity   the TLS identity presented when fetching placeholders

At interpreter exit the default runtime lets outstanding calls finish (for
at most `EXIT_GRACE_S`, saying what it waits for), names in a warning any
it abandons, then stops its child servers.  After Ctrl-C it stops at once.

User code stays synchronous; `run_sync` / `submit` are the one bridge into
the loop.  `current()` is the runtime of the calling context: an agent
server binds its own while it serves, so agents it hosts never touch the
orchestrator's printer, loop or clients; everywhere else it is `default()`.
Nothing here imports the transport: the RPC layer builds its clients through
`service()` and finds the runtime it was handed.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Awaitable, Callable, Hashable, Iterator, Optional

from ._forks import ChildServers  # standard library only: init() must not load gRPC
from .dispatch import Dispatcher

# At interpreter exit, calls still outstanding get this long to finish before
# child servers stop (AGENTSCOPE_RPC_EXIT_GRACE overrides; Ctrl-C skips it).
EXIT_GRACE_S = float(os.environ.get("AGENTSCOPE_RPC_EXIT_GRACE", "60"))
_DEFAULT_PRINTER: Any = object()
log = logging.getLogger(__name__)


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
        self._dispatcher: Optional[Dispatcher] = None
        self.proxies: dict[str, "weakref.WeakSet"] = {}
        self.fetch_identity: tuple[str, str] = ("", "")
        self.runtime_streams: deque = deque()  # see streaming.get_runtime_stream
        self.children = ChildServers(_start_child)  # child-mode agent servers and the fork server they come from
        self.closed = False
        self.interrupted = False  # see interrupt()

    def __repr__(self) -> str:
        return f"Runtime({self.name!r})"

    # -- printer -------------------------------------------------------------------
    @property
    def printer(self) -> Optional[Callable[[Any], None]]:
        """The console printer speech falls back to (a `console.ConsolePrinter` unless set), or None."""
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
        """True when called on this runtime's event loop (where nothing may block)."""
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
        """Run `func(*args)` off the loop after earlier jobs of `key` (see `dispatch.Dispatcher`)."""
        dispatcher = self._dispatcher
        if dispatcher is None:
            dispatcher = self._dispatcher = Dispatcher(f"agentscope-rpc-dispatch-{self.name}")
        return dispatcher.dispatch(key, func, *args)

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
        """Every object built by `service()` so far."""
        with self._lock:
            return list(self._services.values())

    def drop_service(self, key: Hashable, value: Any) -> None:
        """Forget the object stored under `key`, if it is still `value`."""
        with self._lock:
            if self._services.get(key) is value:
                del self._services[key]

    # -- connections and placeholders (built by the RPC layer, imported only when used) --
    def connection(self, endpoint: Any) -> Any:
        """This runtime's connection to the agent server at `endpoint` (an `rpc.codec.Endpoint`)."""
        from .rpc.connection import connection_for

        return connection_for(self, endpoint)

    def placeholder_from_ref(self, ref: Any) -> Any:
        """A placeholder that fetches the result a decoded `ResultRef` names, when first needed."""
        from .rpc.connection import ref_placeholder

        return ref_placeholder(self, ref)

    def connections(self) -> list:
        """This runtime's connections to agent servers."""
        return [s for s in self.services() if type(s).__name__ == "Connection"]

    # -- proxies ---------------------------------------------------------------------
    def register_proxy(self, agent_id: str, proxy: Any) -> None:
        """`proxy` stands for `agent_id` here: its hooks see that agent's speech."""
        with self._lock:
            live = self.proxies.get(agent_id)
            if live is None:
                live = self.proxies[agent_id] = weakref.WeakSet()
            live.add(proxy)

    def proxies_for(self, agent_id: str) -> list:
        """The live proxies standing for `agent_id` in this runtime."""
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
        """The runtime stream `put_into_stream` writes to outside an app (a new one after stop_stream)."""
        from .app_stream import AppStream

        with self._lock:
            streams = self._open_streams()
            if not streams or streams[-1].status is not None:
                streams.append(AppStream())
            return streams[-1]

    def runtime_stream_reader(self) -> Any:
        """The runtime stream `get_runtime_stream` reads (the oldest that is open or still holds items)."""
        from .app_stream import AppStream

        with self._lock:
            streams = self._open_streams()
            if not streams:
                streams.append(AppStream())
            return streams[0]

    def interrupt(self) -> None:
        """The program caught a Ctrl-C and is ending: at exit, stop at once instead of draining calls.

        (A KeyboardInterrupt that ends the program is noticed without this;
        `server.cli.run_command` calls it for the CLIs and examples.)
        """
        self.interrupted = True

    def drain(self, grace: float) -> list:
        """Wait up to `grace` seconds for outstanding calls; returns the ones still outstanding."""
        pending = [(conn, p) for conn in self.connections() for p in conn.outstanding()]
        if not pending:
            return []
        log.warning("agentscope-rpc: waiting up to %.0fs for %d outstanding call(s) to finish before exit",
                    grace, len(pending))
        deadline = time.monotonic() + grace
        left = []
        for conn, request in pending:
            placeholder = getattr(getattr(request, "events", None), "placeholder", None) or \
                getattr(request, "placeholder", None) or getattr(request, "ready", None)
            try:
                placeholder.exception(max(0.0, deadline - time.monotonic()))
            except Exception:  # pylint: disable=broad-except
                left.append((conn, request))
        return left

    def _at_exit(self) -> None:
        # Ctrl-C: the KeyboardInterrupt ended the program, or the program caught it and said so
        interrupted = self.interrupted or getattr(sys, "last_type", None) is KeyboardInterrupt
        try:
            if not interrupted and self._loop is not None:
                abandoned = self.drain(EXIT_GRACE_S)
                if abandoned:
                    names = ", ".join(f"{r.describe()} on {c.endpoint.address}" for c, r in abandoned)
                    log.warning("agentscope-rpc: exiting with %d call(s) unfinished: %s", len(abandoned), names)
        except KeyboardInterrupt:  # Ctrl-C while waiting: stop waiting
            interrupted = True
        finally:
            self.children.stop(0.2 if interrupted else 2.0)  # after Ctrl-C, no waiting on running calls

    # -- end ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the loop thread this runtime started and its dispatcher."""
        self.closed = True
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.close()
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
                atexit.register(_default._at_exit)  # pylint: disable=protected-access
            runtime = _default
    return runtime


def current() -> Runtime:
    """The runtime of the calling context (see module docstring)."""
    return _current.get() or default()


def enter(runtime: Runtime) -> contextvars.Token:
    """Make `runtime` current until `leave(token)` (what `bound` does, for hot paths)."""
    return _current.set(runtime)


def leave(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def bound(runtime: Runtime) -> Iterator[Runtime]:
    """Make `runtime` current for the code run inside the block."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)


__all__ = ["Runtime", "default", "current", "bound"]


def _start_child(forks: Any, **settings: Any) -> Any:
    from .server.child import spawn_child_server  # the transport, loaded on first use

    return spawn_child_server(forks, **settings)
