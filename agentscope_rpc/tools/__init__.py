"""Tools for function-calling agents: schemas from signatures, a toolkit that runs calls, the text protocol.

    from agentscope_rpc.tools import tool, Toolkit

`tool` marks a function, `Toolkit` holds tools and runs the model's calls
(in parallel, with timeouts, errors reported as results), `function_schema`
builds a tool's JSON schema from its signature and Google-style docstring,
`protocol` is the tagged-JSON tool-call format for models without native
tool calls, and `events` the tool events viewers see.  Used by
`agentscope_rpc.agents.FunctionCallAgent`.
"""
from .events import ToolCallEvent, ToolResultEvent, describe_call
from .schema import function_schema, parse_docstring
from .toolkit import (
    DEFAULT_TOOL_TIMEOUT,
    Tool,
    ToolCall,
    Toolkit,
    ToolResult,
    check_arguments,
    tool,
)

__all__ = [
    "tool",
    "Tool",
    "Toolkit",
    "ToolCall",
    "ToolResult",
    "ToolCallEvent",
    "ToolResultEvent",
    "function_schema",
    "parse_docstring",
    "check_arguments",
    "describe_call",
    "DEFAULT_TOOL_TIMEOUT",
]
