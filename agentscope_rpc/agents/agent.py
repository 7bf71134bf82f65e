"""`AgentBase`: reply / speak / observe with hooks, memory and `to_dist`.

No metaclass.  `__init_subclass__` wraps the `reply` and `observe` that a
subclass defines, so hooks fire once per outermost call even when a
subclass chains `super().reply()`; it also wraps `__init__` to record the
constructor arguments (used to rebuild the agent on a server) and to accept
the `to_dist=` keyword.  The agent core never imports the transport: the
`rpc` layer is imported lazily, only when an agent is distributed.
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import uuid
from typing import Any, Callable, Iterable, Optional, Union

from .. import runtime, speech
from ..message import Msg
from ._hooks import (
    HookOwner,
    HookRegistry,
    hooks_for,
    notify_reply_listeners,
    run_notify_hooks,
    run_post_reply_hooks,
    run_pre_hooks,
)
from .memory import TemporaryMemory

# (id(agent), "reply"|"observe") pairs whose hooks already run in this context
_ACTIVE: contextvars.ContextVar[frozenset] = contextvars.ContextVar(
    "agentscope_rpc_active_hooks",
    default=frozenset(),
)


class _Hooked:
    """A reply/observe implementation with hooks around its outermost call.

    A descriptor (not a closure) so that agent classes pickle by value.
    """

    __agentscope_hooked__ = True

    def __init__(self, kind: str, func: Callable) -> None:
        self.kind = kind
        self.func = func
        self.__wrapped__ = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__qualname__ = getattr(func, "__qualname__", func.__name__)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        if inspect.iscoroutinefunction(self.func):
            return functools.partial(self.call_async, obj)
        return functools.partial(self.call, obj)

    def _enter(self, obj: Any) -> Optional[contextvars.Token]:
        key = (id(obj), self.kind)
        active = _ACTIVE.get()
        if key in active:  # a super() chain or a hook calling its target
            return None
        return _ACTIVE.set(active | {key})

    def call(self, obj: "AgentBase", *args: Any, **kwargs: Any) -> Any:
        token = self._enter(obj)
        if token is None:
            return self.func(obj, *args, **kwargs)
        try:
            return obj._call_with_hooks(self.kind, self.func, args, kwargs)
        finally:
            _ACTIVE.reset(token)

    async def call_async(self, obj: "AgentBase", *args: Any, **kwargs: Any) -> Any:
        token = self._enter(obj)
        if token is None:
            return await self.func(obj, *args, **kwargs)
        try:
            return await obj._call_with_hooks_async(self.kind, self.func, args, kwargs)
        finally:
            _ACTIVE.reset(token)

    __call__ = call  # AgentBase.observe(agent, x) still works

    def __reduce__(self):
        return (_Hooked, (self.kind, self.func))


def _hooked(kind: str, func: Callable) -> Callable:
    """Wrap a reply/observe implementation so hooks run around the outermost call."""
    if getattr(func, "__agentscope_hooked__", False):
        return func
    return _Hooked(kind, func)  # type: ignore[return-value]


def _speak_hooks(obj: "AgentBase", runner: Callable, *args: Any, default: Any = None) -> Any:
    """Run speak hooks, except for a `speak` that a speak hook itself made."""
    key = (id(obj), "speak")
    active = _ACTIVE.get()
    if key in active:
        return default
    token = _ACTIVE.set(active | {key})
    try:
        return runner(obj, *args)
    finally:
        _ACTIVE.reset(token)


def _recording_init(init: Callable) -> Callable:
    @functools.wraps(init)
    def wrapper(self: "AgentBase", *args: Any, **kwargs: Any) -> None:
        kwargs.pop("to_dist", None)
        if "_init_settings" not in self.__dict__:
            self.__dict__["_init_settings"] = (args, dict(kwargs))
        init(self, *args, **kwargs)

    wrapper.__agentscope_hooked__ = True  # type: ignore[attr-defined]
    return wrapper


class AgentBase(HookOwner):
    """Base class of every agent; subclasses implement `reply(x=None) -> Msg`."""

    _class_hooks = HookRegistry()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._class_hooks = HookRegistry()
        for kind in ("reply", "observe"):
            if kind in cls.__dict__:
                setattr(cls, kind, _hooked(kind, cls.__dict__[kind]))
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__agentscope_hooked__", False):
            cls.__init__ = _recording_init(init)  # type: ignore[misc]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        dist = kwargs.get("to_dist")
        if dist:
            from ..rpc.to_dist import create_remote_agent  # lazy: transport layer

            kwargs = {k: v for k, v in kwargs.items() if k != "to_dist"}
            return create_remote_agent(cls, args, kwargs, dist)
        return super().__new__(cls)

    def __init__(
        self,
        name: str,
        sys_prompt: Optional[str] = None,
        model_config_name: Optional[str] = None,
        use_memory: bool = True,
        to_dist: Any = False,
        agent_id: Optional[str] = None,
    ) -> None:
        del to_dist  # handled by __new__
        if "_init_settings" not in self.__dict__:
            self.__dict__["_init_settings"] = (
                (name,),
                {
                    "sys_prompt": sys_prompt,
                    "model_config_name": model_config_name,
                    "use_memory": use_memory,
                },
            )
        self.name = name
        self.sys_prompt = sys_prompt
        self.model_config_name = model_config_name
        self.memory: Optional[TemporaryMemory] = TemporaryMemory() if use_memory else None
        self._object_hooks = HookRegistry()
        self._agent_id = agent_id or f"{type(self).__name__}_{uuid.uuid4().hex}"
        self.model = None
        if model_config_name is not None:
            from ..models import load_model_by_config_name

            self.model = load_model_by_config_name(model_config_name)

    # -- identity ------------------------------------------------------------
    @property
    def agent_id(self) -> str:
        return self._agent_id

    @agent_id.setter
    def agent_id(self, value: str) -> None:
        self._agent_id = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, agent_id={self.agent_id!r})"

    # -- the three core functions -----------------------------------------
    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        raise NotImplementedError(
            f"{type(self).__name__} must implement reply(self, x=None) -> Msg",
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Msg:
        return self.reply(*args, **kwargs)

    def observe(self, x: Union[Msg, Iterable[Msg], None]) -> None:
        """Record messages from the environment or other agents in memory."""
        if self.memory is not None:
            self.memory.add(x)

    def speak(self, content: Any, stream: Optional[bool] = None) -> Msg:
        """Say something: a str, a Msg, or a generator of chunks.

        A generator may yield `(last, text_so_far)` tuples (AgentScope v0) or
        plain string deltas.  Every chunk goes through the pre_speak hooks as
        the accumulated message (same id, `stream=True`, `last=True` exactly
        once at the end) and on to the listeners; post_speak runs once, also
        when the generator raises.  Returns the spoken message.
        """
        del stream  # decided by the type of `content`
        try:
            if isinstance(content, Msg):
                return self._speak_whole(content)
            if isinstance(content, (str, dict, list)) or content is None:
                return self._speak_whole(Msg(self.name, content, role="assistant"))
            if inspect.isgenerator(content) or hasattr(content, "__next__") or hasattr(content, "__iter__"):
                return self._speak_stream(iter(content))
            raise TypeError(f"cannot speak a {type(content).__name__}")
        finally:
            _speak_hooks(self, run_notify_hooks, "post_speak")

    # -- hook plumbing -------------------------------------------------------
    def _pre_hooked_args(self, kind: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        x = args[0] if args else kwargs.get("x")
        new_x = run_pre_hooks(self, f"pre_{kind}", x)
        if new_x is x:
            return args, kwargs
        if args:
            return (new_x,) + tuple(args[1:]), kwargs
        if "x" in kwargs:
            return args, dict(kwargs, x=new_x)
        return (new_x,), kwargs

    def _post_hooked(self, kind: str, result: Any) -> Any:
        if kind == "reply":
            result = run_post_reply_hooks(self, result)
            notify_reply_listeners(self, result)
            return result
        run_notify_hooks(self, "post_observe")
        return result

    def _call_with_hooks(self, kind: str, func: Callable, args: tuple, kwargs: dict) -> Any:
        args, kwargs = self._pre_hooked_args(kind, args, kwargs)
        return self._post_hooked(kind, func(self, *args, **kwargs))

    async def _call_with_hooks_async(self, kind: str, func: Callable, args: tuple, kwargs: dict) -> Any:
        args, kwargs = self._pre_hooked_args(kind, args, kwargs)
        return self._post_hooked(kind, await func(self, *args, **kwargs))

    def _emit(self, event: speech.SpeakEvent) -> None:
        """pre_speak hooks (if any see the chunk), then the sinks, else the console."""
        if hooks_for(self, "pre_speak"):
            msg = event.msg
            shown = _speak_hooks(self, run_pre_hooks, "pre_speak", msg, event.stream, event.last, default=msg)
            event = event.with_msg(shown)
        if not speech.publish(event):
            runtime.current().show(event)

    def _speak_whole(self, msg: Msg) -> Msg:
        text = msg.content if isinstance(msg.content, str) else None
        self._emit(speech.SpeakEvent(msg, False, True, 0, self.agent_id, delta=text))
        return msg

    def _speak_stream(self, chunks: Any) -> Msg:
        """Emit every chunk as soon as it is produced (no look-ahead).

        `(last, text_so_far)` tuples carry their own `last`; a generator of
        deltas, which cannot say which chunk is its last, ends with one
        closing event (`last=True`, same content).  Each event carries its
        delta; the accumulated message is joined only if someone reads it.
        """
        msg_id = uuid.uuid4().hex
        text = speech.TextBuffer()
        seq = 0
        ended = False
        try:
            for item in chunks:
                if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], bool):
                    is_last, new_text = item
                    delta = text.set("" if new_text is None else str(new_text))
                else:
                    is_last = False
                    delta = text.add("" if item is None else str(item))
                ended = is_last
                self._emit(self._chunk(msg_id, text, True, is_last, seq, delta))
                seq += 1
                if is_last:
                    break
            if not ended:
                ended = True
                self._emit(self._chunk(msg_id, text, True, True, seq, ""))
            return Msg(self.name, text.value(), "assistant", id=msg_id)
        except BaseException as exc:
            if not ended:
                event = self._chunk(msg_id, text, True, False, seq, "")
                event.error = exc
                try:
                    if not speech.publish(event):
                        runtime.current().show(event)
                except Exception:  # pylint: disable=broad-except
                    pass  # a listener that is gone must not mask the original error
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _chunk(self, msg_id: str, text: speech.TextBuffer, stream: bool, last: bool, seq: int,
               delta: Optional[str]) -> speech.SpeakEvent:
        snapshot = text.snapshot()
        name = self.name
        return speech.SpeakEvent(
            None, stream, last, seq, self.agent_id, delta=delta,
            build=lambda: Msg(name, snapshot(), "assistant", id=msg_id),
            head=(msg_id, name, "assistant", None),
        )

    # -- hook registration (class level; this class and its subclasses) ---
    @classmethod
    def register_class_hook(cls, hook_type: str, name: str, func: Callable) -> None:
        cls.__dict__["_class_hooks"].register(hook_type, name, func)

    @classmethod
    def remove_class_hook(cls, hook_type: str, name: str) -> bool:
        return cls.__dict__["_class_hooks"].remove(hook_type, name)

    @classmethod
    def clear_class_hooks(cls, hook_type: Optional[str] = None) -> None:
        cls.__dict__["_class_hooks"].clear(hook_type)

    @classmethod
    def clear_all_class_hooks(cls) -> None:
        cls.__dict__["_class_hooks"].clear()

    # -- distribution --------------------------------------------------------
    def to_dist(self, host: str = "localhost", port: Optional[int] = None, **options: Any) -> Any:
        """Move this agent into an agent server; returns the proxy to use.

        Without `port` a fresh child server process is started for it.
        """
        from ..rpc.to_dist import distribute_existing  # lazy: transport layer

        return distribute_existing(self, host=host, port=port, **options)


def _add_named_registrars() -> None:
    """AgentScope v0 names: register_pre_reply_hook(name, func) and friends."""
    from ._hooks import HOOK_TYPES

    for hook_type in HOOK_TYPES:
        def make(ht: str):
            def register(self: AgentBase, name: str, func: Callable) -> None:
                self.register_hook(ht, name, func)

            def remove(self: AgentBase, name: str) -> bool:
                return self.remove_hook(ht, name)

            return register, remove

        register, remove = make(hook_type)
        setattr(AgentBase, f"register_{hook_type}_hook", register)
        setattr(AgentBase, f"remove_{hook_type}_hook", remove)


_add_named_registrars()
AgentBase.observe = _hooked("observe", AgentBase.__dict__["observe"])  # type: ignore[method-assign]
