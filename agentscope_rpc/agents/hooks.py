"""Interim: the hook runner API the RPC layer calls (replaced by the agent core's own module)."""
from __future__ import annotations

from typing import Any

from ._hooks import (  # noqa: F401
    HOOK_TYPES,
    HookOwner,
    HookRegistry,
    hooks_for,
    notify_reply_listeners,
    run_notify_hooks,
    run_pre_hooks,
)


def run_pre_reply(obj: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    if not hooks_for(obj, "pre_reply"):
        return args, kwargs
    if args:
        return (run_pre_hooks(obj, "pre_reply", args[0]),) + tuple(args[1:]), kwargs
    if "x" in kwargs:
        return args, dict(kwargs, x=run_pre_hooks(obj, "pre_reply", kwargs["x"]))
    return args, kwargs


def run_post_reply(obj: Any, args: tuple, kwargs: dict, output: Any) -> Any:
    return run_pre_hooks(obj, "post_reply", output)


def run_pre_observe(obj: Any, x: Any) -> Any:
    return run_pre_hooks(obj, "pre_observe", x)


def run_post_observe(obj: Any, x: Any = None) -> None:
    run_notify_hooks(obj, "post_observe")


def run_pre_speak(obj: Any, msg: Any, stream: bool, last: bool) -> Any:
    return run_pre_hooks(obj, "pre_speak", msg, stream, last)


def run_post_speak(obj: Any) -> None:
    run_notify_hooks(obj, "post_speak")
