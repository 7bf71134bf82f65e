"""`AgentBase`: reply / speak / observe with hooks, memory and `to_dist`.

No metaclass.  `__init_subclass__` wraps the `reply` and `observe` that a
subclass defines, so hooks fire once per outermost call even when a
subclass chains `super().reply()`; it also wraps `__init__` to record the
constructor arguments (used to rebuild the agent on a server) and to accept
the `to_dist=` keyword.  The agent core never imports the transport: the
`rpc` layer is imported lazily, only when an agent is distributed.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Optional, Union

from .. import runtime, speech
from ..distributable import Distributable, InitSettings
from ..memory import TemporaryMemory
from ..message import Msg, new_id
from ._wrapping import hooked, speak_hooks
from .hooks import (
    HOOK_TYPES,
    HookOwner,
    HookRegistry,
    has_hooks,
    notify_reply_listeners,
    run_post_observe,
    run_post_reply,
    run_post_speak,
    run_pre_observe,
    run_pre_reply,
    run_pre_speak,
)


class AgentBase(Distributable, HookOwner):
    """Base class of every agent; subclasses implement `reply(x=None) -> Msg`.

    `AgentBase(name, sys_prompt=None, model_config_name=None, use_memory=True,
    to_dist=False, agent_id=None)`:

    * `name`: who speaks (the `name` of the messages it says).
    * `sys_prompt`: kept as `self.sys_prompt` for `reply` to use.
    * `model_config_name`: a config given to `agentscope_rpc.init` (or a
      built-in one); the model is loaded at once into `self.model`, so an
      unknown name raises `ModelConfigError` here.  None: no model.
    * `use_memory`: give the agent a `TemporaryMemory` (`self.memory`); False
      leaves it None.
    * `to_dist`: build the agent on an agent server instead and return its
      proxy (`RemoteAgent`): True starts a child server for it; a dict
      (`{"host": h, "port": p, "token": t, ...}`, the options of `to_dist()`)
      or `DistConf` names a running one; a fleet (`agentscope_rpc.deploy`)
      places it.  The constructor then runs only on the server.
    * `agent_id`: keep this id instead of a fresh one.

    Subclasses may take any other arguments; they are recorded so that the
    agent can be rebuilt on a server.
    """

    _class_hooks = HookRegistry(class_level=True)
    _hook_mro = None  # proxies set it to the remote class's MRO; agents use their own

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._class_hooks = HookRegistry(class_level=True)
        for kind in ("reply", "observe"):
            if kind in cls.__dict__:
                setattr(cls, kind, hooked(kind, cls.__dict__[kind]))

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
            self.__dict__["_init_settings"] = InitSettings(
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
        self._agent_id = agent_id or self.generate_agent_id()
        self.model = None
        if model_config_name is not None:
            from ..models import load_model_by_config_name

            self.model = load_model_by_config_name(model_config_name)

    # -- identity ------------------------------------------------------------
    @classmethod
    def generate_agent_id(cls) -> str:
        """A fresh agent id (AgentScope 0.1.6's classmethod)."""
        return f"{cls.__name__}_{new_id()}"

    @property
    def agent_id(self) -> str:
        """The agent's id (unique; kept when the agent moves to a server)."""
        return self._agent_id

    @agent_id.setter
    def agent_id(self, value: str) -> None:
        self._agent_id = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, agent_id={self.agent_id!r})"

    # -- the three core functions -----------------------------------------
    def reply(self, x: Union[Msg, list, None] = None) -> Msg:
        """Answer `x` (a Msg, a list of them, or None); subclasses implement it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement reply(self, x=None) -> Msg",
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Msg:
        """`agent(x)`: run `reply` with its hooks."""
        return self.reply(*args, **kwargs)

    def observe(self, x: Union[Msg, Iterable[Msg], None]) -> None:
        """Record messages from the environment or other agents in memory."""
        if self.memory is not None:
            self.memory.add(x)

    def speak(self, content: Any, stream: Optional[bool] = None, *, msg_id: Optional[str] = None) -> Msg:
        """Say something: a str, a Msg, or a generator of chunks.

        A generator may yield `(last, text_so_far)` tuples (AgentScope v0) or
        plain string deltas.  Every chunk goes through the pre_speak hooks as
        the accumulated message (same id, `stream=True`, `last=True` exactly
        once at the end) and on to the listeners; post_speak runs once, also
        when the generator raises.  Returns the spoken message.  `msg_id`
        gives a streamed message its id (default: a fresh one), for agents
        that tell viewers about the message while it is being spoken.
        """
        del stream  # decided by the type of `content`
        try:
            if isinstance(content, Msg):
                return self._speak_whole(content)
            if isinstance(content, (str, dict, list)) or content is None:
                return self._speak_whole(Msg(self.name, content, role="assistant"))
            if inspect.isgenerator(content) or hasattr(content, "__next__") or hasattr(content, "__iter__"):
                return self._speak_stream(iter(content), msg_id)
            raise TypeError(f"cannot speak a {type(content).__name__}")
        finally:
            if has_hooks(self, "post_speak"):
                speak_hooks(self, run_post_speak)

    # -- hook plumbing -------------------------------------------------------
    def _call_with_hooks(self, kind: str, func: Callable, args: tuple, kwargs: dict) -> Any:
        if kind == "reply":
            args, kwargs = run_pre_reply(self, args, kwargs)
            return self._replied(args, kwargs, func(self, *args, **kwargs))
        x, args, kwargs = _pre_observed(self, args, kwargs)
        result = func(self, *args, **kwargs)
        run_post_observe(self, x)
        return result

    async def _call_with_hooks_async(self, kind: str, func: Callable, args: tuple, kwargs: dict) -> Any:
        if kind == "reply":
            args, kwargs = run_pre_reply(self, args, kwargs)
            return self._replied(args, kwargs, await func(self, *args, **kwargs))
        x, args, kwargs = _pre_observed(self, args, kwargs)
        result = await func(self, *args, **kwargs)
        run_post_observe(self, x)
        return result

    def _replied(self, args: tuple, kwargs: dict, result: Any) -> Any:
        result = run_post_reply(self, args, kwargs, result)
        notify_reply_listeners(self, result)
        return result

    def _emit(self, event: speech.SpeakEvent) -> None:
        """pre_speak hooks (if any see the chunk), then the sinks, else the console."""
        if has_hooks(self, "pre_speak"):
            msg = event.msg
            shown = speak_hooks(self, run_pre_speak, msg, event.stream, event.last, default=msg)
            event = event.with_msg(shown)
        if not speech.publish(event):
            runtime.current().show(event)

    def _speak_whole(self, msg: Msg) -> Msg:
        text = msg.content if isinstance(msg.content, str) else None
        self._emit(speech.SpeakEvent(msg, False, True, 0, self.agent_id, delta=text))
        return msg

    def _speak_stream(self, chunks: Any, msg_id: Optional[str] = None) -> Msg:
        """Emit every chunk as soon as it is produced (no look-ahead).

        `(last, text_so_far)` tuples carry their own `last`; a generator of
        deltas, which cannot say which chunk is its last, ends with one
        closing event (`last=True`, same content).  Each event carries its
        delta; the accumulated message is joined only if someone reads it.
        """
        msg_id = msg_id or new_id()
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
        """Register a hook for every agent of this class and its subclasses.

        Same signatures as `register_hook`; class hooks run after the
        object's own, the most derived class's first.
        """
        cls.__dict__["_class_hooks"].register(hook_type, name, func)

    @classmethod
    def remove_class_hook(cls, hook_type: str, name: str) -> bool:
        """Remove this class's hook `name`; False if there was none."""
        return cls.__dict__["_class_hooks"].remove(hook_type, name)

    @classmethod
    def clear_class_hooks(cls, hook_type: Optional[str] = None) -> None:
        """Remove this class's hooks of `hook_type` (all types when None)."""
        cls.__dict__["_class_hooks"].clear(hook_type)

    @classmethod
    def clear_all_class_hooks(cls) -> None:
        """Remove every hook registered on this class (not its subclasses')."""
        cls.__dict__["_class_hooks"].clear()


def _pre_observed(agent: AgentBase, args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
    """pre_observe hooks on observe's `x`: (new x, args, kwargs) to call observe with."""
    x = args[0] if args else kwargs.get("x")
    new_x = run_pre_observe(agent, x)
    if new_x is x:
        return x, args, kwargs
    if args:
        return new_x, (new_x,) + tuple(args[1:]), kwargs
    return new_x, args, dict(kwargs, x=new_x)


def _add_named_registrars() -> None:
    """AgentScope v0 names: register_pre_reply_hook(name, func) and friends."""
    for hook_type in HOOK_TYPES:
        def make(ht: str):
            def register(self: AgentBase, name: str, func: Callable) -> None:
                self.register_hook(ht, name, func)

            def remove(self: AgentBase, name: str) -> bool:
                return self.remove_hook(ht, name)

            register.__doc__ = f"Register this agent's {ht} hook `name` (same as register_hook)."
            remove.__doc__ = f"Remove this agent's {ht} hook `name`; False if there was none."

            return register, remove

        register, remove = make(hook_type)
        setattr(AgentBase, f"register_{hook_type}_hook", register)
        setattr(AgentBase, f"remove_{hook_type}_hook", remove)


_add_named_registrars()
AgentBase.observe = hooked("observe", AgentBase.__dict__["observe"])  # type: ignore[method-assign]
