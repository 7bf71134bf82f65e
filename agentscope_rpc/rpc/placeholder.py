"""`AsyncResult`: the placeholder a remote call returns at once.

A pure future: it knows nothing of the transport.  Whoever makes one gives
it what it needs — the `ResultRef` naming the result, a `fetch` function
that starts fetching the value from its producer when first needed (for
placeholders decoded from a reference), a `handle` whose `cancel()` abandons
the call behind it, and an `on_loop()` test so that blocking on the event
loop is refused instead of deadlocking.

Reading any public attribute (`.content`, `.name`, ...) waits for the value;
`result(timeout=...)` waits explicitly; `await placeholder` works in async
code.  Handed on while unresolved, it travels as its `ResultRef` (see
`codec`) and is marked *exported*, so its producer keeps the result for the
consumers; once resolved it travels, and pickles, as its value.
"""
from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any, Callable, Optional

from ..exception import StreamCancelledError, StreamTimeoutError
from .codec import ResultRef

_PENDING, _OK, _FAILED = 0, 1, 2
_LOCK = threading.Lock()  # state changes are a few instructions: one lock for all placeholders


class AsyncResult:
    """A value that a remote call will produce."""

    __slots__ = ("_state", "_value", "_waiters", "_callbacks", "_ref", "_fetch", "_handle", "_on_loop",
                 "exported", "__weakref__")

    def __init__(
        self,
        ref: Optional[ResultRef] = None,
        fetch: Optional[Callable[["AsyncResult"], None]] = None,
        handle: Any = None,
        on_loop: Optional[Callable[[], bool]] = None,
    ) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._waiters: Optional[list] = None
        self._callbacks: Optional[list] = None
        self._ref = ref
        self._fetch = fetch  # starts fetching the value when first needed
        self._handle = handle  # the call behind it: cancel() / done()
        self._on_loop = on_loop
        self.exported = False  # a reference to it was handed on (its producer keeps the result)

    # -- producer side -------------------------------------------------------------------
    def _settle(self, state: int, value: Any) -> bool:
        with _LOCK:
            if self._state != _PENDING:
                return False
            self._state, self._value = state, value
            waiters, self._waiters = self._waiters, None
            callbacks, self._callbacks = self._callbacks, None
        for waiter in waiters or ():
            waiter.release()
        for func in callbacks or ():
            try:
                func(self)
            except Exception:  # pylint: disable=broad-except
                pass  # a callback's failure is its own business
        return True

    def _set_result(self, value: Any) -> bool:
        """Fulfil; True if this settled it (False: it was already done)."""
        return self._settle(_OK, value)

    def _set_exception(self, error: BaseException) -> bool:
        return self._settle(_FAILED, error)

    def _set_handle(self, handle: Any) -> None:
        self._handle = handle

    def _start_fetch(self) -> None:
        fetch, self._fetch = self._fetch, None
        if fetch is not None and self._state == _PENDING:
            fetch(self)

    def _export(self) -> tuple[bool, Any]:
        """For the codec: (True, value) once resolved, else mark exported and (False, ref)."""
        with _LOCK:
            if self._state == _OK:
                return True, self._value
            if self._ref is None:
                pass  # a local placeholder: wait for it below
            else:
                self.exported = True
                return False, self._ref.exported()
        return True, self.result()

    # -- consumer side -------------------------------------------------------------------
    @property
    def ref(self) -> Optional[ResultRef]:
        """Where the result lives (producer, task id); None for a placeholder made locally."""
        return self._ref

    @property
    def task_id(self) -> str:
        """The id of the call behind it ("" for a local placeholder)."""
        return self._ref.task_id if self._ref else ""

    def done(self) -> bool:
        """True once it holds the value or the error (never waits)."""
        return self._state != _PENDING

    def _wait(self, timeout: Optional[float]) -> bool:
        if self._state != _PENDING:
            return True
        self._start_fetch()
        if self._on_loop is not None and self._on_loop():
            raise RuntimeError("placeholder read on the event loop; use `await placeholder`")
        waiter = threading.Lock()
        waiter.acquire()
        with _LOCK:
            if self._state != _PENDING:
                return True
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
        if waiter.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
            return True
        with _LOCK:
            if self._waiters and waiter in self._waiters:
                self._waiters.remove(waiter)
        return self._state != _PENDING

    def result(self, timeout: Optional[float] = None) -> Any:
        """The value; raises the remote error, or StreamTimeoutError after `timeout` seconds."""
        if not self._wait(timeout):
            raise StreamTimeoutError(f"result of task {self.task_id} not ready after {timeout}s")
        if self._state == _FAILED:
            raise self._value
        return self._value

    def update_value(self) -> Any:
        """AgentScope v0: wait for the value and return it."""
        return self.result()

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """The error the call ended with, or None (waits like `result`)."""
        if not self._wait(timeout):
            raise StreamTimeoutError(f"result of task {self.task_id} not ready after {timeout}s")
        return self._value if self._state == _FAILED else None

    def cancel(self) -> bool:
        """Cancel the remote call behind this placeholder (if still running)."""
        handle = self._handle
        if handle is not None and self._state == _PENDING:
            handle.cancel()
        return self._set_exception(StreamCancelledError(f"task {self.task_id} cancelled"))

    def add_done_callback(self, func: Callable[["AsyncResult"], Any]) -> None:
        """Call `func(self)` once done (at once if it already is), in the thread that settles it."""
        with _LOCK:
            if self._state == _PENDING:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(func)
                return
        func(self)

    def __await__(self):
        self._start_fetch()
        if self._state == _PENDING:
            loop = asyncio.get_running_loop()
            future = loop.create_future()

            def done(placeholder: "AsyncResult") -> None:
                loop.call_soon_threadsafe(_copy_to, placeholder, future)

            self.add_done_callback(done)
            yield from future.__await__()
        return self.result(0)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result(), name)

    def __getitem__(self, key: Any) -> Any:
        return self.result()[key]

    def __repr__(self) -> str:
        if self._state == _OK:
            return f"AsyncResult({self._value!r})"
        state = "failed" if self._state == _FAILED else "pending"
        return f"AsyncResult({state}, task={self.task_id})"

    # -- travelling ------------------------------------------------------------------------
    def __agentscope_ref__(self) -> Any:
        """What the codec sends: the value once known, else the reference (marking it exported)."""
        resolved, value = self._export()
        return value

    def __reduce__(self):
        resolved, value = self._export()
        if resolved:
            return (_identity, (value,))  # a resolved placeholder pickles as its value
        return (_rebuild, (value,))


def _copy_to(placeholder: AsyncResult, future: "asyncio.Future") -> None:
    if not future.done():
        future.set_result(None)


def _identity(value: Any) -> Any:
    return value


def _rebuild(ref: ResultRef) -> AsyncResult:
    """Unpickling an unresolved placeholder: one that fetches from the producer, in the current runtime.

    Looked up by name rather than imported: the runtime builds placeholders,
    so this module must not depend on it.
    """
    return importlib.import_module("agentscope_rpc.runtime").current().placeholder_from_ref(ref)


def resolve_placeholders(value: Any) -> Any:
    """Replace placeholders in lists / dicts / tuples by their (ready) values."""
    if isinstance(value, AsyncResult):
        return value.result()
    if isinstance(value, list):
        return [resolve_placeholders(v) for v in value]
    if isinstance(value, tuple):
        return tuple(resolve_placeholders(v) for v in value)
    if isinstance(value, dict):
        return {k: resolve_placeholders(v) for k, v in value.items()}
    return value
