"""`UserAgent`: a human at the terminal takes part in the conversation."""
from __future__ import annotations

import threading
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Any, Callable, Optional, Union

from ..message import Msg
from .agent import AgentBase

EXIT_WORDS = frozenset({"exit"})
EXIT = "exit"


class UserExit(SystemExit):
    """The user closed the input (EOF): no further reply can come."""


class UserAgent(AgentBase):
    """A human at the terminal: reads the reply from `input_func` (default: `input`).

    `UserAgent(name="User", input_hint="User Input: ", require_url=False)` as in
    AgentScope 0.1.6.  Typing `exit` (any case) replies with a message whose
    content is exactly "exit", so the usual loop ends after it:

        while True:
            x = user(x)
            if x.content == "exit":
                break

    Closing the input (EOF) raises `UserExit`, a `SystemExit` subclass, since no
    further line can come.  With `require_url=True` a second prompt asks for a
    URL (or a path), stored in the reply's `url`.  With `timeout`, a reply that
    gets no line in time returns an empty message with
    `metadata={"timed_out": True}`; the pending read is kept and its line
    becomes the next reply.  `input_func` replaces `input` (tests, other UIs).
    """

    def __init__(
        self,
        name: str = "User",
        input_hint: str = "User Input: ",
        require_url: bool = False,
        input_func: Callable[[str], str] = input,
        timeout: Optional[float] = None,
        use_memory: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, use_memory=use_memory, **kwargs)
        self.input_hint = input_hint
        self.require_url = require_url
        self.input_func = input_func
        self.timeout = timeout
        self._pending: Optional[Future] = None

    def _read_in_background(self, prompt: str) -> Future:
        future: Future = Future()

        def read() -> None:
            try:
                future.set_result(self.input_func(prompt))
            except BaseException as exc:  # EOFError, KeyboardInterrupt, ...
                future.set_exception(exc)

        threading.Thread(target=read, name=f"{self.name}-input", daemon=True).start()
        return future

    def _read_line(self, prompt: str) -> Optional[str]:
        try:
            if self.timeout is None:
                return self.input_func(prompt)
            if self._pending is None:
                self._pending = self._read_in_background(prompt)
            try:
                line = self._pending.result(timeout=self.timeout)
            except FutureTimeout:
                return None
            self._pending = None
            return line
        except EOFError as exc:
            self._pending = None
            raise UserExit(f"{self.name}: input closed") from exc

    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        """Read a line from the user and reply with it (`exit`, EOF, `timeout`: see the class docstring)."""
        if self.memory is not None:
            self.memory.add(x)
        line = self._read_line(self.input_hint)
        if line is None:
            return Msg(self.name, "", role="user", metadata={"timed_out": True})
        text = line.strip()
        url = None
        if text.lower() in EXIT_WORDS:
            text = EXIT
        elif self.require_url:
            answer = self._read_line("URL (or Enter to skip): ")
            url = (answer or "").strip() or None
        msg = self.speak(Msg(self.name, text, role="user", url=url))
        if self.memory is not None:
            self.memory.add(msg)
        return msg

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pending"] = None  # a terminal read does not travel
        return state


__all__ = ["UserAgent", "UserExit", "EXIT"]
