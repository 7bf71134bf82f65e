"""agentscope-rpc: multi-agent apps whose agents run as actors in gRPC servers.

The top level has AgentScope 0.1.6's names (`init`, `msghub`, `state_dict`,
`print_llm_usage`, `register_model_wrapper_class`) and, as there, the
submodules are reachable as attributes (`agentscope_rpc.agents.DialogAgent`
after `import agentscope_rpc`); they are imported on first use.
"""
import importlib
from typing import Any

from . import logging  # installs the handler of Msg(..., echo=True)  # noqa: F401
from ._init import init, print_llm_usage, register_model_wrapper_class, state_dict
from .message import Msg
from .msghub import msghub

from ._version import __version__

_SUBMODULES = frozenset({
    "agents", "environment", "exception", "manager", "memory", "message", "models", "parsers",
    "pipelines", "rpc", "serialize", "server", "streaming", "utils",
})


def __getattr__(name: str) -> Any:
    """`agentscope_rpc.<submodule>` imports the submodule on first use (as 0.1.6 has them all)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "init",
    "msghub",
    "state_dict",
    "print_llm_usage",
    "register_model_wrapper_class",
    "Msg",
    "__version__",
]
