"""Pipelines: control flow over operators (AgentScope v0 names and semantics).

Each pipeline exists in a functional form (`sequentialpipeline(operators, x)`,
also spelled `sequential_pipeline` as in AgentScope 0.1.x) and a class form
(`SequentialPipeline(operators)(x)`).  Condition signatures, as in v0:

* `ifelsepipeline`:   `condition_func(x) -> bool`
* `switchpipeline`:   `condition_func(x) -> case key`
* `forlooppipeline`:  `break_func(x) -> bool`, checked after each iteration
* `whilelooppipeline`: `condition_func(i, x) -> bool`, checked before
  iteration `i` (0-based)
"""
from ._class import (
    ForLoopPipeline,
    IfElsePipeline,
    PipelineBase,
    SequentialPipeline,
    SwitchPipeline,
    WhileLoopPipeline,
)
from ._functional import (
    forloop_pipeline,
    forlooppipeline,
    ifelse_pipeline,
    ifelsepipeline,
    placeholder,
    sequential_pipeline,
    sequentialpipeline,
    switch_pipeline,
    switchpipeline,
    whileloop_pipeline,
    whilelooppipeline,
)

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
    "sequential_pipeline",
    "ifelse_pipeline",
    "switch_pipeline",
    "forloop_pipeline",
    "whileloop_pipeline",
    "placeholder",
]
