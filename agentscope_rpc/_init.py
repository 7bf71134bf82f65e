"""`agentscope_rpc.init()`: process-wide settings for an app (AgentScope 0.1.6's keywords)."""
from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence, Union

from . import runtime

log = logging.getLogger(__name__)
_SETTINGS_KEY = "init.settings"


@dataclass
class RunSettings:
    """What `init()` was told, as `state_dict()` reports it."""

    project: str = ""
    name: str = ""
    run_id: str = ""
    pid: int = 0
    timestamp: str = ""
    disable_saving: bool = True
    run_dir: Optional[str] = None
    logger_level: str = "INFO"
    saved: dict = field(default_factory=dict)  # save_log / save_code / save_api_invoke


def _settings() -> RunSettings:
    return runtime.default().service(_SETTINGS_KEY, RunSettings)


def init(
    model_configs: Union[str, list, dict, None] = None,
    project: Optional[str] = None,
    name: Optional[str] = None,
    disable_saving: bool = False,
    save_dir: str = "./runs",
    save_log: bool = False,
    save_code: bool = False,
    save_api_invoke: bool = False,
    cache_dir: Optional[str] = None,
    use_monitor: bool = True,
    logger_level: Union[str, int] = "INFO",
    runtime_id: Optional[str] = None,
    agent_configs: Union[str, list, dict, None] = None,
    studio_url: Optional[str] = None,
    console: bool = True,
) -> list:
    """Set up an app: model configs, logging, the terminal, run files; build agents.

    Takes every keyword of AgentScope 0.1.6's `init` (an unknown one is a
    TypeError):

    * `model_configs`: a list of config dicts, one dict, or a JSON file path.
      They reach agents created on any agent server.  A config whose
      `model_type` is unknown is kept with a warning and fails only when an
      agent uses it.
    * `agent_configs`: a list of `{"class": "DialogAgent", "args": {...}}`
      dicts (or one, or a JSON file path): the agents are built, from
      `agentscope_rpc.agents`, and returned in order.  Without it, `[]`.
    * `project`, `name`, `runtime_id`: name the run (`state_dict()`); the
      run directory is `save_dir/runtime_id` (default `run_<time>_<name>`).
    * `save_log=True`: the run directory gets `logging.log` (log records and
      every message) and `logging.chat` (one JSON message per line) — 0.1.6
      writes them by default, here only when asked.  `save_code=True`:
      the `.py` files of the current directory are copied to `code/`.
      `save_api_invoke=True`: each model call is written to `invoke/` as
      JSON.  `disable_saving=True` turns all three off.  A `.config` file
      records the run settings whenever something is saved.
    * `logger_level`: "TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING",
      "ERROR", "CRITICAL" (or a stdlib level).  Log lines go through the
      console so they never land inside a streamed line.
    * `console`: print spoken messages on the terminal (False: silent).
    * Accepted and ignored: `cache_dir` (nothing is downloaded or cached),
      `use_monitor` (model usage is always counted, see `print_llm_usage`),
      `studio_url` (AgentScope Studio is not supported; a warning says so).
    """
    from . import logging as as_logging
    from .console import ConsolePrinter
    from .models import read_model_configs, set_invocation_dir

    del cache_dir, use_monitor  # accepted for 0.1.6 programs; nothing to do here
    settings = _settings()
    now = datetime.datetime.now()
    settings.project = project or settings.project or uuid.uuid4().hex[:8]
    settings.name = name or settings.name or uuid.uuid4().hex[:8]
    settings.run_id = runtime_id or now.strftime("run_%Y%m%d-%H%M%S_") + settings.name
    settings.pid = os.getpid()
    settings.timestamp = now.strftime("%Y-%m-%d %H:%M:%S")
    settings.logger_level = str(logger_level)
    saving = {"save_log": save_log, "save_code": save_code, "save_api_invoke": save_api_invoke}
    if disable_saving:
        saving = {key: False for key in saving}
    settings.saved = saving
    settings.disable_saving = not any(saving.values())
    settings.run_dir = None if settings.disable_saving else os.path.abspath(os.path.join(save_dir, settings.run_id))

    runtime.default().set_printer(ConsolePrinter() if console else None)
    runtime.default().children.warm_up()  # child-mode servers then start in milliseconds (server.fork_server)
    as_logging.setup_logger(settings.run_dir if save_log and not disable_saving else None, logger_level)
    if studio_url is not None:
        log.warning("init(studio_url=%r): AgentScope Studio is not supported; ignored", studio_url)
    if settings.run_dir is not None:
        _write_run_files(settings)
    set_invocation_dir(os.path.join(settings.run_dir, "invoke") if saving["save_api_invoke"] else None)
    if model_configs is not None:
        read_model_configs(model_configs)
    return build_agents(agent_configs) if agent_configs is not None else []


def _write_run_files(settings: RunSettings) -> None:
    run_dir = settings.run_dir
    assert run_dir is not None
    os.makedirs(run_dir, exist_ok=True)
    if settings.saved.get("save_code"):
        code_dir = os.path.join(run_dir, "code")
        os.makedirs(code_dir, exist_ok=True)
        for filename in sorted(os.listdir(os.curdir)):
            if filename.endswith(".py") and os.path.isfile(filename):
                shutil.copy(filename, code_dir)
    with open(os.path.join(run_dir, ".config"), "w", encoding="utf-8") as fh:
        json.dump(state_dict(), fh, indent=2, ensure_ascii=False)


def build_agents(agent_configs: Union[str, list, dict]) -> list:
    """Build agents from `{"class": name, "args": {...}}` configs (0.1.6's `agent_configs`)."""
    from . import agents

    configs: Any = agent_configs
    if isinstance(configs, (str, os.PathLike)):
        with open(configs, encoding="utf-8") as fh:
            configs = json.load(fh)
    if isinstance(configs, dict):
        configs = [configs]
    if not isinstance(configs, (list, tuple)):
        raise TypeError(f"agent_configs must be a list of dicts, a dict or a JSON file path, not {type(configs).__name__}")
    built = []
    for config in configs:
        if not isinstance(config, dict) or "class" not in config:
            raise ValueError(f"an agent config needs a 'class' (and 'args'): {config!r:.200}")
        klass = getattr(agents, config["class"], None)
        if not isinstance(klass, type):
            raise ValueError(
                f"agent config class {config['class']!r} is not an agent of agentscope_rpc.agents; "
                f"known: {sorted(agents.__all__)}",
            )
        built.append(klass(**dict(config.get("args") or {})))
    return built


def state_dict() -> dict:
    """The run's settings, as AgentScope 0.1.6's `agentscope.state_dict()` reports them."""
    from ._version import __version__
    from .models import get_model_configs

    settings = _settings()
    data = asdict(settings)
    data["agentscope_rpc_version"] = __version__
    data["file"] = {"run_dir": settings.run_dir, **settings.saved}
    data["model"] = {"model_configs": {c["config_name"]: c for c in get_model_configs()}}
    data["logger"] = {"level": settings.logger_level}
    return data


def print_llm_usage() -> dict:
    """Log and return the model usage counted in this process (0.1.6's `print_llm_usage`)."""
    from .models import model_usage

    usage = model_usage()
    for row in usage["text_and_embedding"]:
        log.info(
            "model %s (%s): %d calls, %d prompt + %d completion tokens",
            row["config_name"], row["model_type"], row["calls"], row["prompt_tokens"], row["completion_tokens"],
        )
    return usage


def register_model_wrapper_class(model_wrapper_class: type, exist_ok: bool = False) -> None:
    """Make a `ModelWrapperBase` subclass usable as `model_type` (0.1.6's function).

    Configs with `"model_type": model_wrapper_class.model_type` then build this
    class.  A model_type already taken by another class raises `ValueError`
    unless `exist_ok=True`, which replaces it.
    """
    from .manager import ModelManager

    ModelManager.get_instance().register_model_wrapper_class(model_wrapper_class, exist_ok)


__all__: Sequence[str] = ["init", "state_dict", "print_llm_usage", "register_model_wrapper_class", "build_agents"]
