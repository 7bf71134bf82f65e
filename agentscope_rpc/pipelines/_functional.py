"""Pipelines, functional forms: `sequentialpipeline(operators, x)` and friends.

An *operator* is anything callable with one argument `x` -- an agent, a
pipeline, a plain function -- or a list/tuple of operators, which runs them
one after another.  Each function has the seed's name (`ifelsepipeline`)
and AgentScope 0.1.x's (`ifelse_pipeline`).

Pipelines know nothing about transport: a distributed agent's proxy is just a
callable returning a placeholder, and pipelines pass whatever an operator
returns on to the next operator untouched.  Only the user's condition
functions look at the values (and a placeholder resolves when they do).  One
check: an agent whose reply is not a message (a dict, a number) cannot hand
it to the next agent -- that raises a TypeError naming both.

Condition signatures, as in AgentScope v0:

* `ifelsepipeline`:   `condition_func(x) -> bool`
* `switchpipeline`:   `condition_func(x) -> case key`
* `forlooppipeline`:  `break_func(x) -> bool`, checked after each iteration
* `whilelooppipeline`: `condition_func(i, x) -> bool`, checked before
  iteration `i` (0-based)
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

from ..message import check_msg

Operator = Callable[[Any], Any]
Operators = Union[Operator, Sequence[Operator]]


def placeholder(x: Any = None) -> Any:
    """The do-nothing operator: returns its input."""
    return x


def _never(*_: Any) -> bool:
    return False


def _run(operators: Operators, x: Any) -> Any:
    """Run one operator, or a list/tuple of them in sequence."""
    if isinstance(operators, (list, tuple)):
        return sequentialpipeline(operators, x)
    return operators(x)


def _is_agent(operator: Any) -> bool:
    kind = type(operator)
    return callable(getattr(kind, "reply", None)) and callable(getattr(kind, "observe", None))


def _name(agent: Any) -> str:
    return repr(agent.__dict__.get("name", type(agent).__name__))


# -- functional forms ---------------------------------------------------------
def sequentialpipeline(operators: Sequence[Operators], x: Any = None) -> Any:
    """Feed `x` through `operators` in order; return the last output."""
    if len(operators) == 0:
        raise ValueError("sequentialpipeline needs at least one operator")
    previous = None
    for operator in operators:
        if previous is not None and x is not None and _is_agent(operator):
            check_msg(x, f"{_name(previous)}'s reply", f"so it cannot be passed on to {_name(operator)}")
        x = _run(operator, x)
        previous = operator if _is_agent(operator) else None
    return x


def ifelsepipeline(
    condition_func: Callable[[Any], bool],
    if_body_operators: Operators,
    else_body_operators: Operators = placeholder,
    x: Any = None,
) -> Any:
    """Run `if_body_operators` when `condition_func(x)` holds, else the other."""
    if condition_func(x):
        return _run(if_body_operators, x)
    return _run(else_body_operators, x)


def switchpipeline(
    condition_func: Callable[[Any], Any],
    case_operators: Mapping[Any, Operators],
    default_operators: Operators = placeholder,
    x: Any = None,
) -> Any:
    """Run the operators of the case `condition_func(x)` names, else the default."""
    case = condition_func(x)
    if case in case_operators:
        return _run(case_operators[case], x)
    return _run(default_operators, x)


def forlooppipeline(
    loop_body_operators: Operators,
    max_loop: int,
    break_func: Optional[Callable[[Any], bool]] = None,
    x: Any = None,
) -> Any:
    """Run the body up to `max_loop` times; stop early once `break_func(x)`."""
    stop = break_func or _never
    for _ in range(max_loop):
        x = _run(loop_body_operators, x)
        if stop(x):
            break
    return x


def whilelooppipeline(
    loop_body_operators: Operators,
    condition_func: Callable[[int, Any], bool] = _never,
    x: Any = None,
) -> Any:
    """Run the body while `condition_func(i, x)` holds (`i` counts iterations)."""
    i = 0
    while condition_func(i, x):
        x = _run(loop_body_operators, x)
        i += 1
    return x


# AgentScope 0.1.x's names
sequential_pipeline = sequentialpipeline
ifelse_pipeline = ifelsepipeline
switch_pipeline = switchpipeline
forloop_pipeline = forlooppipeline
whileloop_pipeline = whilelooppipeline

__all__ = [
    "placeholder",
    "sequentialpipeline",
    "ifelsepipeline",
    "switchpipeline",
    "forlooppipeline",
    "whilelooppipeline",
    "sequential_pipeline",
    "ifelse_pipeline",
    "switch_pipeline",
    "forloop_pipeline",
    "whileloop_pipeline",
]
