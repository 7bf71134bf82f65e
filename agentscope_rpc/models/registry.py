"""The process-wide registry of model configs and model types.

    read_model_configs([...] | {...} | "configs.json")
    model = load_model_by_config_name("my-gpt")

A config is a dict with `config_name` (how agents refer to it) and
`model_type` (which wrapper class runs it); the other keys go to that class.
Reading a config whose name is already known with a different body raises
`ModelConfigError` (unless `clear_existing=True`); an identical body is
ignored.  Built-in defaults (the embedded SmolLM2, `DEFAULT_MODEL_CONFIG`)
are always resolvable and may be overridden by a user config of that name.
`get_model_configs()` lists the user configs, e.g. to ship them to servers.
"""
from __future__ import annotations

import copy
import json
import os
import threading
from typing import Any, Union

from ..exception import ModelConfigError
from .model import ModelWrapperBase

DEFAULT_MODEL_CONFIG_NAME = "smollm2"
DEFAULT_MODEL_CONFIG: dict = {
    "config_name": DEFAULT_MODEL_CONFIG_NAME,
    "model_type": "llama_cpp",
    "stream": True,
    "n_ctx": 2048,
    "generate_args": {"temperature": 0.7, "max_tokens": 256},
}

_lock = threading.Lock()
_configs: dict[str, dict] = {}
_builtin_configs: dict[str, dict] = {DEFAULT_MODEL_CONFIG_NAME: DEFAULT_MODEL_CONFIG}
_model_types: dict[str, type] = {}
_version = [0, None]  # [changes so far, (version, JSON of the user configs) cached for shipping]


def register_model_type(cls: type) -> type:
    """Make a `ModelWrapperBase` subclass usable as `model_type=cls.model_type`."""
    if not (isinstance(cls, type) and issubclass(cls, ModelWrapperBase)) or not cls.model_type:
        raise TypeError(f"{cls!r} is not a ModelWrapperBase subclass with a model_type")
    _model_types[cls.model_type] = cls
    return cls


def _load_source(configs: Union[str, os.PathLike, list, dict]) -> list:
    if isinstance(configs, (str, os.PathLike)):
        try:
            with open(configs, encoding="utf-8") as fh:
                configs = json.load(fh)
        except OSError as exc:
            raise ModelConfigError(f"cannot read model configs from {str(configs)!r}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ModelConfigError(f"model config file {str(configs)!r} is not valid JSON: {exc}") from exc
    if isinstance(configs, dict):
        return [configs]
    if isinstance(configs, (list, tuple)):
        return list(configs)
    raise ModelConfigError(
        f"model configs must be a list of dicts, a dict or a JSON file path, not {type(configs).__name__}",
    )


def _validate(config: Any) -> dict:
    if not isinstance(config, dict):
        raise ModelConfigError(f"a model config must be a dict, not {type(config).__name__}: {config!r:.200}")
    name, model_type = config.get("config_name"), config.get("model_type")
    if not isinstance(name, str) or not name:
        raise ModelConfigError(f"model config without a 'config_name': {config!r:.200}")
    if not isinstance(model_type, str) or not model_type:
        raise ModelConfigError(f"model config {name!r} has no 'model_type'")
    if model_type not in _model_types:
        raise ModelConfigError(
            f"model config {name!r} has unknown model_type {model_type!r}; "
            f"known types: {sorted(_model_types)}",
        )
    return copy.deepcopy(config)


def read_model_configs(
    configs: Union[str, os.PathLike, list, dict],
    clear_existing: bool = False,
    override: bool = False,
) -> None:
    """Register configs from a list of dicts, one dict, or a JSON file path.

    All configs are checked before any is registered, so a bad entry leaves
    the registry unchanged.  A name registered with a different body is an
    error unless `override` (an agent server takes the configs each creating
    client ships; agents load their model when built, so later overrides do
    not change agents that exist).
    """
    incoming = [_validate(c) for c in _load_source(configs)]
    with _lock:
        known = {} if clear_existing else dict(_configs)
        for config in incoming:
            name = config["config_name"]
            if name in known and known[name] != config and not override:
                raise ModelConfigError(
                    f"model config {name!r} is already registered with a different body; "
                    "use clear_existing=True or another config_name",
                )
            known[name] = config
        _configs.clear()
        _configs.update(known)
        _version[0] += 1


def clear_model_configs() -> None:
    """Forget every user config (built-in defaults stay available)."""
    with _lock:
        _configs.clear()
        _version[0] += 1


def model_configs_json() -> str:
    """The user configs as one JSON text, computed once per change (what creations ship)."""
    with _lock:
        cached = _version[1]
        if cached is None or cached[0] != _version[0]:
            cached = _version[1] = (_version[0], json.dumps(list(_configs.values()), sort_keys=True))
        return cached[1]


def get_model_configs() -> list[dict]:
    """Copies of the user configs, in registration order."""
    with _lock:
        return copy.deepcopy(list(_configs.values()))


def get_model_config(config_name: str) -> dict:
    """A copy of one config (user configs first, then built-in defaults)."""
    with _lock:
        config = _configs.get(config_name) or _builtin_configs.get(config_name)
        known = sorted(set(_configs) | set(_builtin_configs))
    if config is None:
        raise ModelConfigError(
            f"no model config named {config_name!r}; known config names: {known}. "
            "Register configs with agentscope_rpc.init(model_configs=...) or read_model_configs().",
        )
    return copy.deepcopy(config)


def load_model_by_config_name(config_name: str) -> ModelWrapperBase:
    """Build a fresh wrapper for a config; heavy model state is shared."""
    config = get_model_config(config_name)
    model_type = config.pop("model_type")
    config.pop("config_name")
    cls = _model_types.get(model_type)
    if cls is None:
        raise ModelConfigError(
            f"model config {config_name!r} has unknown model_type {model_type!r}; "
            f"known types: {sorted(_model_types)}",
        )
    try:
        return cls(config_name=config_name, **config)
    except TypeError as exc:
        raise ModelConfigError(f"model config {config_name!r} is malformed: {exc}") from exc


__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_MODEL_CONFIG_NAME",
    "register_model_type",
    "read_model_configs",
    "clear_model_configs",
    "get_model_configs",
    "model_configs_json",
    "get_model_config",
    "load_model_by_config_name",
]
