"""Pipelines, class forms: `SequentialPipeline(operators)(x)` and friends."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

from ._functional import (
    Operators,
    _never,
    forlooppipeline,
    ifelsepipeline,
    placeholder,
    sequentialpipeline,
    switchpipeline,
    whilelooppipeline,
)


class PipelineBase:
    """A reusable pipeline: an operator built from other operators."""

    participants: list

    def __init__(self) -> None:
        self.participants = []

    def __call__(self, x: Any = None) -> Any:
        """Run the pipeline on `x` and return its output; subclasses implement it."""
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
        """Feed `x` through the operators in order; return the last output."""
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
        """Run the if-body when `condition_func(x)` holds, else the else-body."""
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
        """Run the case `condition_func(x)` names (or the default)."""
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
        """Run the body up to `max_loop` times, stopping once `break_func(x)`."""
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
        """Run the body while `condition_func(i, x)` holds."""
        return whilelooppipeline(self.loop_body_operators, self.condition_func, x)


__all__ = [
    "PipelineBase",
    "SequentialPipeline",
    "IfElsePipeline",
    "SwitchPipeline",
    "ForLoopPipeline",
    "WhileLoopPipeline",
]
