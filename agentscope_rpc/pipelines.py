"""Pipelines: control flow over operators (AgentScope v0 names and semantics).

An *operator* is anything callable with one argument `x` -- an agent, a
pipeline, a plain function -- or a list/tuple of operators, which runs them
one after another.  Each pipeline exists in a functional form
(`sequentialpipeline(operators, x)`) and a class form
(`SequentialPipeline(operators)(x)`).

Pipelines know nothing about transport: a distributed agent's proxy is just a
callable returning a placeholder, and pipelines pass whatever an operator
returns on to the next operator untouched.  Only the user's condition
functions look at the values (and a placeholder resolves when they do).

Condition signatures, as in AgentScope v0:

* `ifelsepipeline`:   `condition_func(x) -> bool`
* `switchpipeline`:   `condition_func(x) -> case key`
* `forlooppipeline`:  `break_func(x) -> bool`, checked after each iteration
* `whilelooppipeline`: `condition_func(i, x) -> bool`, checked before
  iteration `i` (0-based)
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

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


# -- functional forms ---------------------------------------------------------
def sequentialpipeline(operators: Sequence[Operators], x: Any = None) -> Any:
    """Feed `x` through `operators` in order; return the last output."""
    if len(operators) == 0:
        raise ValueError("sequentialpipeline needs at least one operator")
    for operator in operators:
        x = _run(operator, x)
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


# -- class forms ----------------------------------------------------------------
class PipelineBase:
    """A reusable pipeline: an operator built from other operators."""

    participants: list

    def __init__(self) -> None:
        self.participants = []

    def __call__(self, x: Any = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")


class SequentialPipeline(PipelineBase):
    """`SequentialPipeline([a, b, c])(x)` is `c(b(a(x)))`."""

    def __init__(self, operators: Sequence[Operators]) -> None:
        super().__init__()
        if len(operators) == 0:
            raise ValueError("SequentialPipeline needs at least one operator")
        self.operators = list(operators)
        self.participants = list(operators)

    def __call__(self, x: Any = None) -> Any:
        return sequentialpipeline(self.operators, x)


class IfElsePipeline(PipelineBase):
    """Branch on `condition_func(x)`."""

    def __init__(
        self,
        condition_func: Callable[[Any], bool],
        if_body_operators: Operators,
        else_body_operators: Operators = placeholder,
    ) -> None:
        super().__init__()
        self.condition_func = condition_func
        self.if_body_operators = if_body_operators
        self.else_body_operators = else_body_operators
        self.participants = [if_body_operators, else_body_operators]

    def __call__(self, x: Any = None) -> Any:
        return ifelsepipeline(
            self.condition_func,
            self.if_body_operators,
            self.else_body_operators,
            x,
        )


class SwitchPipeline(PipelineBase):
    """Pick a case by `condition_func(x)`; unknown cases run the default."""

    def __init__(
        self,
        condition_func: Callable[[Any], Any],
        case_operators: Mapping[Any, Operators],
        default_operators: Operators = placeholder,
    ) -> None:
        super().__init__()
        self.condition_func = condition_func
        self.case_operators = case_operators
        self.default_operators = default_operators
        self.participants = list(case_operators.values()) + [default_operators]

    def __call__(self, x: Any = None) -> Any:
        return switchpipeline(
            self.condition_func,
            self.case_operators,
            self.default_operators,
            x,
        )


class ForLoopPipeline(PipelineBase):
    """Loop up to `max_loop` times, breaking once `break_func(x)` holds."""

    def __init__(
        self,
        loop_body_operators: Operators,
        max_loop: int,
        break_func: Optional[Callable[[Any], bool]] = None,
    ) -> None:
        super().__init__()
        self.loop_body_operators = loop_body_operators
        self.max_loop = max_loop
        self.break_func = break_func
        self.participants = [loop_body_operators]

    def __call__(self, x: Any = None) -> Any:
        return forlooppipeline(
            self.loop_body_operators,
            self.max_loop,
            self.break_func,
            x,
        )


class WhileLoopPipeline(PipelineBase):
    """Loop while `condition_func(i, x)` holds."""

    def __init__(
        self,
        loop_body_operators: Operators,
        condition_func: Callable[[int, Any], bool] = _never,
    ) -> None:
        super().__init__()
        self.loop_body_operators = loop_body_operators
        self.condition_func = condition_func
        self.participants = [loop_body_operators]

    def __call__(self, x: Any = None) -> Any:
        return whilelooppipeline(self.loop_body_operators, self.condition_func, x)


__all__ = [
    "PipelineBase",
    "SequentialPipeline",
    "IfElsePipeline",
    "SwitchPipeline",
    "ForLoopPipeline",
    "WhileLoopPipeline",
    "sequentialpipeline",
    "ifelsepipeline",
    "switchpipeline",
    "forlooppipeline",
    "whilelooppipeline",
    "placeholder",
]
