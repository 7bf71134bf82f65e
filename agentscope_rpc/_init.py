"""`agentscope_rpc.init()`: process-wide settings for an app."""
from __future__ import annotations

import logging
from typing import Any, Optional, Union

_state: dict[str, Any] = {"project": None, "name": None}


def init(
    model_configs: Union[str, list, dict, None] = None,
    project: Optional[str] = None,
    name: Optional[str] = None,
    logger_level: Union[str, int] = "INFO",
    console: bool = True,
    **_ignored: Any,
) -> None:
    """Load model configs and set up logging and the terminal printer.

    `model_configs` is a list of config dicts, one dict, or a path to a JSON
    file holding either.  Agents created on agent servers see these configs
    too (they travel with the creation request).
    """
    from . import runtime
    from .console import ConsolePrinter
    from .models import read_model_configs

    logging.basicConfig(
        level=logger_level if isinstance(logger_level, int) else logger_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _state["project"] = project
    _state["name"] = name
    if model_configs is not None:
        read_model_configs(model_configs)
    runtime.default().set_printer(ConsolePrinter() if console else None)
