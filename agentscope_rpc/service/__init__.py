"""AgentScope 0.1.6's tool names: `ServiceToolkit`, `ServiceResponse`, `ServiceExecStatus`.

    from agentscope_rpc.service import ServiceToolkit, ServiceResponse, ServiceExecStatus

    def bing_search(query: str, api_key: str) -> ServiceResponse: ...
    toolkit = ServiceToolkit()
    toolkit.add(bing_search, api_key="...")    # preset: hidden from the model
    agent = ReActAgent("assistant", "my-model", service_toolkit=toolkit)

`ServiceToolkit` is an `agentscope_rpc.tools.Toolkit`; a tool that returns a
`ServiceResponse` with status `ERROR` is reported to the model as a failed
call.  AgentScope's bundled services (web search, code execution, files)
are not shipped; write the function, or wrap the one you need.
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any, Callable, Optional

from ..tools.protocol import instructions
from ..tools.toolkit import Toolkit


class ServiceExecStatus(IntEnum):
    """Whether a service call worked."""

    SUCCESS = 1
    ERROR = -1


class ServiceResponse(dict):
    """A service's result: `status` (`ServiceExecStatus`) and `content` (the result, or the error)."""

    def __init__(self, status: ServiceExecStatus, content: Any) -> None:
        super().__init__(status=status, content=content)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value


class ServiceToolkit(Toolkit):
    """AgentScope 0.1.6's toolkit: `add(func, func_description=None, **preset_kwargs)`."""

    def add(  # type: ignore[override]  # 0.1.6's keyword names
        self,
        service_func: Callable[..., Any],
        func_description: Optional[str] = None,
        include_long_description: bool = True,
        include_var_positional: bool = False,
        include_var_keyword: bool = False,
        overwrite_if_exists: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Register `service_func`; `kwargs` are preset arguments the model never sees."""
        del include_long_description, include_var_positional, include_var_keyword
        name = getattr(service_func, "__name__", None)
        if name in self.tools and not overwrite_if_exists and self.tools[name].func is not service_func:
            raise ValueError(f"a service function {name!r} is already in the toolkit")
        return super().add(service_func, description=func_description, **kwargs)

    @property
    def json_schemas(self) -> dict:
        """The tools' schemas by name (0.1.6's shape)."""
        return {name: entry.schema for name, entry in self.tools.items()}

    @property
    def tools_instruction(self) -> str:
        """The system-prompt text that describes the tools and how to call them ("" without tools)."""
        return instructions(self.schemas()) if self.tools else ""


__all__ = ["ServiceToolkit", "ServiceResponse", "ServiceExecStatus"]
