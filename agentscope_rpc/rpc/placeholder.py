"""`AsyncResult`: the placeholder a remote call returns at once.

Reading any public attribute (`.content`, `.name`, ...) waits for the value;
`result(timeout=...)` waits explicitly; `await placeholder` works in async
code.  Passed to another remote agent while unresolved, a placeholder travels
as a `ResultRef` and the receiving server fetches the value directly from the
producing server.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Callable, Optional

from .. import exception as exc
from . import _loop
from .codec import ResultRef, note_ref, set_ref_decoder


class AsyncResult:
    """A value that a remote call will produce."""

    __slots__ = ("_future", "_ref", "_fetch", "_task", "__weakref__")

    def __init__(
        self,
        ref: Optional[ResultRef] = None,
        fetch: Optional[Callable[["AsyncResult"], None]] = None,
    ) -> None:
        self._future: concurrent.futures.Future = concurrent.futures.Future()
        self._ref = ref
        self._fetch = fetch  # starts fetching the value when first needed
        self._task: Optional[concurrent.futures.Future] = None  # the call behind it

    # -- producer side -------------------------------------------------------
    def _set_result(self, value: Any) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def _set_exception(self, error: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(error)

    def _start_fetch(self) -> None:
        fetch, self._fetch = self._fetch, None
        if fetch is not None and not self._future.done():
            fetch(self)

    # -- consumer side -------------------------------------------------------
    @property
    def ref(self) -> Optional[ResultRef]:
        return self._ref

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: Optional[float] = None) -> Any:
        """The value; raises the remote error, or StreamTimeoutError after `timeout`."""
        if not self._future.done():
            self._start_fetch()
            if _loop.in_loop_thread():
                raise RuntimeError(
                    "placeholder read on the event loop; use `await placeholder`",
                )
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise exc.StreamTimeoutError(
                f"result of task {self.task_id} not ready after {timeout}s",
            ) from None

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        self._start_fetch()
        return self._future.exception(timeout)

    def cancel(self) -> bool:
        """Cancel the remote call behind this placeholder (if still running)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
        if not self._future.done():
            self._set_exception(exc.StreamCancelledError(f"task {self.task_id} cancelled"))
            return True
        return False

    def add_done_callback(self, func: Callable[["AsyncResult"], Any]) -> None:
        self._future.add_done_callback(lambda _f: func(self))

    def __await__(self):
        self._start_fetch()
        return asyncio.wrap_future(self._future).__await__()

    @property
    def task_id(self) -> str:
        return self._ref.task_id if self._ref else ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result(), name)

    def __getitem__(self, key: Any) -> Any:
        return self.result()[key]

    def __repr__(self) -> str:
        if self._future.done() and self._future.exception() is None:
            return f"AsyncResult({self._future.result()!r})"
        state = "failed" if self._future.done() else "pending"
        return f"AsyncResult({state}, task={self.task_id})"

    # -- travelling ------------------------------------------------------------
    def __agentscope_ref__(self) -> Any:
        """What the codec sends: the value once known, else the reference."""
        if self._future.done() and self._future.exception() is None:
            return self._future.result()
        if self._ref is None:
            return self.result()
        return self._ref

    def __reduce__(self):
        if self._future.done() and self._future.exception() is None:
            return (_resolved, (self._future.result(),))
        if self._ref is None:
            return (_resolved, (self.result(),))
        return (from_ref, (self._ref,))


def _resolved(value: Any) -> AsyncResult:
    placeholder = AsyncResult()
    placeholder._set_result(value)
    return placeholder


def from_ref(ref: ResultRef) -> AsyncResult:
    """A placeholder that fetches its value from the producing server."""
    from .client import fetch_into  # client imports this module

    placeholder = AsyncResult(ref, fetch=fetch_into)
    note_ref(placeholder)
    return placeholder


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


set_ref_decoder(from_ref)
